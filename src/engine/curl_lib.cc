// dlopen of libcurl for the Consul output; see curl_lib.h.
#include "engine/curl_lib.h"

#include <dlfcn.h>

namespace rh {

namespace {

// The run-time name of the library the headers describe (libcurl's ABI 4).
constexpr const char* kCurlSoname = "libcurl.so.4";

template <typename Fn> bool bind(void* handle, const char* name, Fn* out, std::string* err) {
    void* sym = dlsym(handle, name);
    if (!sym) {
        *err = std::string(kCurlSoname) + ": no symbol " + name;
        return false;
    }
    *out = reinterpret_cast<Fn>(sym);
    return true;
}

} // namespace

std::unique_ptr<CurlLibrary> CurlLibrary::load(std::string* err) {
    void* h = dlopen(kCurlSoname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char* why = dlerror();
        *err = why ? why : "dlopen failed";
        return nullptr;
    }
    std::unique_ptr<CurlLibrary> lib(new CurlLibrary);
    lib->handle_ = h;
    CurlApi& a = lib->api_;
    bool ok = bind(h, "curl_global_init", &a.global_init, err) &&
              bind(h, "curl_global_cleanup", &a.global_cleanup, err) &&
              bind(h, "curl_easy_init", &a.easy_init, err) &&
              bind(h, "curl_easy_cleanup", &a.easy_cleanup, err) &&
              bind(h, "curl_easy_reset", &a.easy_reset, err) &&
              bind(h, "curl_easy_setopt", &a.easy_setopt, err) &&
              bind(h, "curl_easy_getinfo", &a.easy_getinfo, err) &&
              bind(h, "curl_easy_strerror", &a.easy_strerror, err) &&
              bind(h, "curl_slist_append", &a.slist_append, err) &&
              bind(h, "curl_slist_free_all", &a.slist_free_all, err) &&
              bind(h, "curl_multi_init", &a.multi_init, err) &&
              bind(h, "curl_multi_cleanup", &a.multi_cleanup, err) &&
              bind(h, "curl_multi_setopt", &a.multi_setopt, err) &&
              bind(h, "curl_multi_add_handle", &a.multi_add_handle, err) &&
              bind(h, "curl_multi_remove_handle", &a.multi_remove_handle, err) &&
              bind(h, "curl_multi_socket_action", &a.multi_socket_action, err) &&
              bind(h, "curl_multi_info_read", &a.multi_info_read, err) &&
              bind(h, "curl_multi_strerror", &a.multi_strerror, err);
    if (!ok) {
        a.global_cleanup = nullptr; // not initialised: nothing to clean up
        return nullptr;
    }
    if (a.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        *err = "curl_global_init failed";
        a.global_cleanup = nullptr;
        return nullptr;
    }
    return lib;
}

CurlLibrary::~CurlLibrary() {
    if (api_.global_cleanup)
        api_.global_cleanup();
    if (handle_)
        dlclose(handle_);
}

} // namespace rh
