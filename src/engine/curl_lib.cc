// dlopen of libcurl for the Consul output; see curl_lib.h.
#include "engine/curl_lib.h"

#include "engine/dynlib.h"

namespace rh {

namespace {

// The run-time name of the library the headers describe (libcurl's ABI 4).
constexpr const char* kCurlSoname = "libcurl.so.4";

} // namespace

std::unique_ptr<CurlLibrary> CurlLibrary::load(std::string* err) {
    void* h = dl_open(kCurlSoname, err);
    if (!h)
        return nullptr;
    std::unique_ptr<CurlLibrary> lib(new CurlLibrary);
    lib->handle_ = h;
    CurlApi& a = lib->api_;
    auto bind = [&](const char* name, auto* out) {
        return dl_bind(h, kCurlSoname, name, out, err);
    };
    bool ok =
        bind("curl_global_init", &a.global_init) &&
        bind("curl_global_cleanup", &a.global_cleanup) && bind("curl_easy_init", &a.easy_init) &&
        bind("curl_easy_cleanup", &a.easy_cleanup) && bind("curl_easy_reset", &a.easy_reset) &&
        bind("curl_easy_setopt", &a.easy_setopt) && bind("curl_easy_getinfo", &a.easy_getinfo) &&
        bind("curl_easy_strerror", &a.easy_strerror) &&
        bind("curl_slist_append", &a.slist_append) &&
        bind("curl_slist_free_all", &a.slist_free_all) && bind("curl_multi_init", &a.multi_init) &&
        bind("curl_multi_cleanup", &a.multi_cleanup) &&
        bind("curl_multi_setopt", &a.multi_setopt) &&
        bind("curl_multi_add_handle", &a.multi_add_handle) &&
        bind("curl_multi_remove_handle", &a.multi_remove_handle) &&
        bind("curl_multi_socket_action", &a.multi_socket_action) &&
        bind("curl_multi_info_read", &a.multi_info_read) &&
        bind("curl_multi_strerror", &a.multi_strerror);
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
