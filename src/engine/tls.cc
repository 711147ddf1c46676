// TLS client contexts for Sentinel links and ROLE checks.
#include "engine/tls.h"

namespace rh {

namespace {

// OpenSSL's reason for the last failure, and an empty error queue after.
std::string openssl_reason(const TlsApi& tls) {
    unsigned long e = tls.ERR_peek_last_error();
    const char* r = e ? tls.ERR_reason_error_string(e) : nullptr;
    tls.ERR_clear_error();
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

std::unique_ptr<TlsContext> make_tls_context(const TlsApi& tls, const TlsFiles& f, bool with_cert,
                                             std::string* err) {
    SSL_CTX* c = tls.SSL_CTX_new(tls.TLS_client_method());
    if (!c) {
        *err = "SSL_CTX_new: " + openssl_reason(tls);
        return nullptr;
    }
    auto owned = std::make_unique<TlsContext>(tls, c);
    SSL_CTX* ctx = owned->get();
    // SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), the macro spelled out.
    tls.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr);
    if (!f.ca_file.empty() &&
        tls.SSL_CTX_load_verify_locations(ctx, f.ca_file.c_str(), nullptr) != 1) {
        *err = "ca_file " + f.ca_file + ": " + openssl_reason(tls);
        return nullptr;
    }
    tls.SSL_CTX_set_verify(ctx, f.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    bool asked = false;
    tls.SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    tls.SSL_CTX_set_default_passwd_cb_userdata(ctx, &asked);
    if (with_cert && !f.cert_file.empty()) {
        if (tls.SSL_CTX_use_certificate_chain_file(ctx, f.cert_file.c_str()) != 1) {
            *err = "cert_file " + f.cert_file + ": " + openssl_reason(tls);
            return nullptr;
        }
        bool loaded =
            tls.SSL_CTX_use_PrivateKey_file(ctx, f.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
        if (!loaded) {
            std::string why = openssl_reason(tls);
            *err =
                "key_file " + f.key_file + ": " +
                (asked ? "encrypted; a passphrase cannot be given (use an unencrypted key)" : why);
            return nullptr;
        }
        if (tls.SSL_CTX_check_private_key(ctx) != 1) {
            *err = "key_file " + f.key_file + ": does not match cert_file " + f.cert_file;
            tls.ERR_clear_error();
            return nullptr;
        }
    }
    // The callback's data lives on this stack: nothing may ask after it.
    tls.SSL_CTX_set_default_passwd_cb(ctx, nullptr);
    tls.SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
    return owned;
}

} // namespace rh
