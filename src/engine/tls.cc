// TLS client contexts for Sentinel links and ROLE checks.
#include "engine/tls.h"

#include <openssl/err.h>

namespace rh {

namespace {

// OpenSSL's reason for the last failure, and an empty error queue after.
std::string openssl_reason() {
    unsigned long e = ERR_peek_last_error();
    const char* r = e ? ERR_reason_error_string(e) : nullptr;
    ERR_clear_error();
    return r ? r : "unknown OpenSSL error";
}

// OpenSSL's default asks for a key's passphrase on the terminal, which
// would hold the engine (before its drop) at a prompt: no passphrase is
// given, and the key is refused with its own reason.
int no_passphrase(char*, int, int, void* asked) {
    *static_cast<bool*>(asked) = true;
    return 0;
}

} // namespace

SslCtxPtr make_tls_context(const TlsFiles& f, bool with_cert, std::string* err) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        *err = "SSL_CTX_new: " + openssl_reason();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    if (!f.ca_file.empty() &&
        SSL_CTX_load_verify_locations(ctx.get(), f.ca_file.c_str(), nullptr) != 1) {
        *err = "ca_file " + f.ca_file + ": " + openssl_reason();
        return nullptr;
    }
    SSL_CTX_set_verify(ctx.get(), f.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    bool asked = false;
    SSL_CTX_set_default_passwd_cb(ctx.get(), no_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), &asked);
    if (with_cert && !f.cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), f.cert_file.c_str()) != 1) {
            *err = "cert_file " + f.cert_file + ": " + openssl_reason();
            return nullptr;
        }
        bool loaded =
            SSL_CTX_use_PrivateKey_file(ctx.get(), f.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
        if (!loaded) {
            std::string why = openssl_reason();
            *err =
                "key_file " + f.key_file + ": " +
                (asked ? "encrypted; a passphrase cannot be given (use an unencrypted key)" : why);
            return nullptr;
        }
        if (SSL_CTX_check_private_key(ctx.get()) != 1) {
            *err = "key_file " + f.key_file + ": does not match cert_file " + f.cert_file;
            ERR_clear_error();
            return nullptr;
        }
    }
    // The callback's data lives on this stack: nothing may ask after it.
    SSL_CTX_set_default_passwd_cb(ctx.get(), nullptr);
    SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), nullptr);
    return ctx;
}

} // namespace rh
