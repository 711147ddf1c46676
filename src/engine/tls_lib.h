// OpenSSL and libevent's bufferevent_openssl, loaded at run time, and only
// by an engine whose configuration asks for TLS.
//
// Linked into redishappyd, libssl and libcrypto were mapped and relocated in
// both processes (the engine is re-executed from the same binary): about
// 750 kB PSS each, in a parent that never uses them and in every engine
// without TLS. So the daemon is not linked with them; the engine dlopen()s
// them before the privilege drop (the chroot has no libraries) when some
// link is TLS, and calls them through this table. The types come from the
// headers, so a signature cannot drift from the library's.
#pragma once

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace rh {

// One member per function the engine calls, named as in OpenSSL and
// libevent. The macros the engine uses expand to the *_ctrl functions:
// SSL_CTX_set_min_proto_version(c, v) is SSL_CTX_ctrl(c,
// SSL_CTRL_SET_MIN_PROTO_VERSION, v, nullptr), SSL_set_tlsext_host_name(s,
// n) is SSL_ctrl(s, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, n).
struct TlsApi {
    // libssl
    decltype(&::TLS_client_method) TLS_client_method;
    decltype(&::SSL_CTX_new) SSL_CTX_new;
    decltype(&::SSL_CTX_free) SSL_CTX_free;
    decltype(&::SSL_CTX_ctrl) SSL_CTX_ctrl;
    decltype(&::SSL_CTX_load_verify_locations) SSL_CTX_load_verify_locations;
    decltype(&::SSL_CTX_set_verify) SSL_CTX_set_verify;
    decltype(&::SSL_CTX_set_default_passwd_cb) SSL_CTX_set_default_passwd_cb;
    decltype(&::SSL_CTX_set_default_passwd_cb_userdata) SSL_CTX_set_default_passwd_cb_userdata;
    decltype(&::SSL_CTX_use_certificate_chain_file) SSL_CTX_use_certificate_chain_file;
    decltype(&::SSL_CTX_use_PrivateKey_file) SSL_CTX_use_PrivateKey_file;
    decltype(&::SSL_CTX_check_private_key) SSL_CTX_check_private_key;
    decltype(&::SSL_new) SSL_new;
    decltype(&::SSL_free) SSL_free;
    decltype(&::SSL_ctrl) SSL_ctrl;
    decltype(&::SSL_set1_host) SSL_set1_host;
    decltype(&::SSL_get0_param) SSL_get0_param;
    decltype(&::SSL_get_verify_result) SSL_get_verify_result;
    decltype(&::SSL_get_verify_mode) SSL_get_verify_mode;
    // libcrypto (reached through libssl, which depends on it)
    decltype(&::X509_VERIFY_PARAM_set1_ip_asc) X509_VERIFY_PARAM_set1_ip_asc;
    decltype(&::X509_verify_cert_error_string) X509_verify_cert_error_string;
    decltype(&::ERR_peek_last_error) ERR_peek_last_error;
    decltype(&::ERR_reason_error_string) ERR_reason_error_string;
    decltype(&::ERR_clear_error) ERR_clear_error;
    // libevent_openssl
    decltype(&::bufferevent_openssl_socket_new) bufferevent_openssl_socket_new;
    decltype(&::bufferevent_openssl_set_allow_dirty_shutdown)
        bufferevent_openssl_set_allow_dirty_shutdown;
    decltype(&::bufferevent_get_openssl_error) bufferevent_get_openssl_error;
};

// The loaded libraries. They stay mapped after the destructor
// (RTLD_NODELETE): unloading OpenSSL inside a running process is not safe.
class TlsLibrary {
  public:
    // nullptr with *err naming the library or symbol that is missing. Call
    // before any thread is started.
    static std::unique_ptr<TlsLibrary> load(std::string* err);
    ~TlsLibrary();
    TlsLibrary(const TlsLibrary&) = delete;
    TlsLibrary& operator=(const TlsLibrary&) = delete;

    const TlsApi& api() const { return api_; }

  private:
    TlsLibrary() = default;
    void* ssl_ = nullptr;   // libssl (and libcrypto, its dependency)
    void* event_ = nullptr; // libevent_openssl
    TlsApi api_{};
};

} // namespace rh
