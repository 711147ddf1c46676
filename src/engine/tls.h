// The engine's TLS client contexts, built from [tls] before the privilege
// drop: the chroot hides the files (and the system's trust store) after it.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace rh {

struct SslCtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

struct TlsFiles {
    std::string ca_file;   // trust anchors; empty: none (only with verify off)
    std::string cert_file; // client certificate (chain); empty: none
    std::string key_file;  // its private key
    bool verify = true;    // peer chain and name (each link sets the name)
};

// A client context: TLS 1.2 or later, peer verification when asked, the
// client certificate when with_cert and one is configured. Null with *err
// naming the file and OpenSSL's reason; key material never appears in it.
SslCtxPtr make_tls_context(const TlsFiles& files, bool with_cert, std::string* err);

} // namespace rh
