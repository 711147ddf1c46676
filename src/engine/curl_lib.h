// libcurl, loaded at run time, and only by the engine when [consul] is set.
//
// libcurl drags in about thirty libraries (OpenSSL, GnuTLS through librtmp,
// Kerberos, LDAP, libssh2, ...): linked into redishappyd they were mapped and
// relocated in the parent, which never talks to the network, and in an
// engine without Consul, about 5.5 MB resident in each process. So the
// daemon is not linked with libcurl; the engine dlopen()s it before the
// privilege drop (the chroot has no libraries) and Consul calls it through
// this table.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>

namespace rh {

struct CurlApi {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)();
    CURL* (*easy_init)();
    void (*easy_cleanup)(CURL*);
    void (*easy_reset)(CURL*);
    CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
    const char* (*easy_strerror)(CURLcode);
    curl_slist* (*slist_append)(curl_slist*, const char*);
    void (*slist_free_all)(curl_slist*);
    CURLM* (*multi_init)();
    CURLMcode (*multi_cleanup)(CURLM*);
    CURLMcode (*multi_setopt)(CURLM*, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM*, CURL*);
    CURLMcode (*multi_remove_handle)(CURLM*, CURL*);
    CURLMcode (*multi_socket_action)(CURLM*, curl_socket_t, int, int*);
    CURLMsg* (*multi_info_read)(CURLM*, int*);
    const char* (*multi_strerror)(CURLMcode);
};

// The loaded library, initialised with curl_global_init. The destructor
// calls curl_global_cleanup; the code stays mapped (RTLD_NODELETE), since
// unloading OpenSSL inside a running process is not safe.
class CurlLibrary {
  public:
    // nullptr with *err set when the library or a symbol is missing or
    // curl_global_init fails. Call once, before any thread is started.
    static std::unique_ptr<CurlLibrary> load(std::string* err);
    ~CurlLibrary();
    CurlLibrary(const CurlLibrary&) = delete;
    CurlLibrary& operator=(const CurlLibrary&) = delete;

    const CurlApi& api() const { return api_; }

  private:
    CurlLibrary() = default;
    void* handle_ = nullptr;
    CurlApi api_{};
};

} // namespace rh
