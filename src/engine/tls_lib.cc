// dlopen of OpenSSL and bufferevent_openssl for TLS links; see tls_lib.h.
#include "engine/tls_lib.h"

#include "engine/dynlib.h"

namespace rh {

namespace {

// The run-time names of the libraries the headers describe. Another ABI
// must fail the build, not the dlopen on a production host.
static_assert(OPENSSL_VERSION_MAJOR == 3, "the soname below is OpenSSL 3's");
constexpr const char* kSslSoname = "libssl.so.3";
static_assert(EVENT__NUMERIC_VERSION >> 16 == 0x0201, "the soname below is libevent 2.1's");
constexpr const char* kEventSoname = "libevent_openssl-2.1.so.7";

} // namespace

std::unique_ptr<TlsLibrary> TlsLibrary::load(std::string* err) {
    std::unique_ptr<TlsLibrary> lib(new TlsLibrary);
    lib->ssl_ = dl_open(kSslSoname, err);
    if (!lib->ssl_)
        return nullptr;
    lib->event_ = dl_open(kEventSoname, err);
    if (!lib->event_)
        return nullptr;
    TlsApi& a = lib->api_;
    void* s = lib->ssl_;
    void* e = lib->event_;
    auto ssl = [&](const char* name, auto* out) { return dl_bind(s, kSslSoname, name, out, err); };
    auto ev = [&](const char* name, auto* out) { return dl_bind(e, kEventSoname, name, out, err); };
    bool ok =
        ssl("TLS_client_method", &a.TLS_client_method) && ssl("SSL_CTX_new", &a.SSL_CTX_new) &&
        ssl("SSL_CTX_free", &a.SSL_CTX_free) && ssl("SSL_CTX_ctrl", &a.SSL_CTX_ctrl) &&
        ssl("SSL_CTX_load_verify_locations", &a.SSL_CTX_load_verify_locations) &&
        ssl("SSL_CTX_set_verify", &a.SSL_CTX_set_verify) &&
        ssl("SSL_CTX_set_default_passwd_cb", &a.SSL_CTX_set_default_passwd_cb) &&
        ssl("SSL_CTX_set_default_passwd_cb_userdata", &a.SSL_CTX_set_default_passwd_cb_userdata) &&
        ssl("SSL_CTX_use_certificate_chain_file", &a.SSL_CTX_use_certificate_chain_file) &&
        ssl("SSL_CTX_use_PrivateKey_file", &a.SSL_CTX_use_PrivateKey_file) &&
        ssl("SSL_CTX_check_private_key", &a.SSL_CTX_check_private_key) &&
        ssl("SSL_new", &a.SSL_new) && ssl("SSL_free", &a.SSL_free) &&
        ssl("SSL_ctrl", &a.SSL_ctrl) && ssl("SSL_set1_host", &a.SSL_set1_host) &&
        ssl("SSL_get0_param", &a.SSL_get0_param) &&
        ssl("SSL_get_verify_result", &a.SSL_get_verify_result) &&
        ssl("SSL_get_verify_mode", &a.SSL_get_verify_mode) &&
        ssl("X509_VERIFY_PARAM_set1_ip_asc", &a.X509_VERIFY_PARAM_set1_ip_asc) &&
        ssl("X509_verify_cert_error_string", &a.X509_verify_cert_error_string) &&
        ssl("ERR_peek_last_error", &a.ERR_peek_last_error) &&
        ssl("ERR_reason_error_string", &a.ERR_reason_error_string) &&
        ssl("ERR_clear_error", &a.ERR_clear_error) &&
        ev("bufferevent_openssl_socket_new", &a.bufferevent_openssl_socket_new) &&
        ev("bufferevent_openssl_set_allow_dirty_shutdown",
           &a.bufferevent_openssl_set_allow_dirty_shutdown) &&
        ev("bufferevent_get_openssl_error", &a.bufferevent_get_openssl_error);
    if (!ok)
        return nullptr;
    return lib;
}

TlsLibrary::~TlsLibrary() {
    if (event_)
        dlclose(event_);
    if (ssl_)
        dlclose(ssl_);
}

} // namespace rh
