// The engine's TLS client contexts, built from [tls] before the privilege
// drop: the chroot hides the files (and the system's trust store) after it.
// OpenSSL is called through the table of the loaded library (tls_lib.h).
#pragma once

#include <memory>
#include <string>

#include "engine/tls_lib.h"

namespace rh {

// A client context and the loaded library that made it and frees it (the
// library outlives it). Links take a pointer to it: the context to open a
// session with and the functions to drive it.
class TlsContext {
  public:
    TlsContext(const TlsApi& api, SSL_CTX* ctx) : api_(api), ctx_(ctx) {}
    ~TlsContext() { api_.SSL_CTX_free(ctx_); }
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    const TlsApi& api() const { return api_; }
    SSL_CTX* get() const { return ctx_; }

  private:
    const TlsApi& api_;
    SSL_CTX* ctx_;
};

struct TlsFiles {
    std::string ca_file;   // trust anchors; empty: none (only with verify off)
    std::string cert_file; // client certificate (chain); empty: none
    std::string key_file;  // its private key
    bool verify = true;    // peer chain and name (each link sets the name)
};

// A client context: TLS 1.2 or later, peer verification when asked, the
// client certificate when with_cert and one is configured. Null with *err
// naming the file and OpenSSL's reason; key material never appears in it.
std::unique_ptr<TlsContext> make_tls_context(const TlsApi& api, const TlsFiles& files,
                                             bool with_cert, std::string* err);

} // namespace rh
