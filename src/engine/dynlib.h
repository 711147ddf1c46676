// Libraries the engine loads at run time (libcurl for Consul, OpenSSL for
// TLS), only when the configuration needs them: opening one and binding
// its functions, with errors that name the library and the symbol.
#pragma once

#include <dlfcn.h>

#include <string>

namespace rh {

// dlopen(soname) for good: RTLD_NODELETE keeps the code mapped after
// dlclose, since unloading such a library in a running process is not safe.
// nullptr with *err set when it cannot be loaded.
inline void* dl_open(const char* soname, std::string* err) {
    void* h = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char* why = dlerror();
        *err = why ? why : std::string(soname) + ": dlopen failed";
    }
    return h;
}

// *out = the function `name` of the library opened as `soname` (or of one it
// depends on: a handle's lookups include its dependencies).
template <typename Fn>
bool dl_bind(void* handle, const char* soname, const char* name, Fn* out, std::string* err) {
    void* sym = dlsym(handle, name);
    if (!sym) {
        *err = std::string(soname) + ": no symbol " + name;
        return false;
    }
    *out = reinterpret_cast<Fn>(sym);
    return true;
}

} // namespace rh
