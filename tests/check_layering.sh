#!/bin/sh
# The privilege boundary is the shape of src/ (src/README): this checks what
# the compiler and linker cannot see on their own.
#   - engine code includes nothing from src/parent/, parent code nothing from
#     src/engine/; src/common/ only itself; src/config/ only common/ and itself;
#   - the topology rules and the protocol codec include only the standard
#     library and src/common/;
#   - the parent's library references no hiredis, evhttp, libcurl, libseccomp
#     or OpenSSL (TLS is the engine's) symbol.
# Run by "make check" (RH_SRCDIR, RH_BUILDDIR); prints each violation.
set -u
src=${RH_SRCDIR:-.}/src
build=${RH_BUILDDIR:-.}
bad=0

# forbid FOLDER PATTERN WHY: no file in src/FOLDER includes a matching header.
forbid() {
    hits=$(grep -nE "^#include \"($2)" "$src/$1"/*.cc "$src/$1"/*.h 2>/dev/null)
    if [ -n "$hits" ]; then
        echo "FAIL: $3:"
        echo "$hits"
        bad=1
    fi
}
forbid engine 'parent/' 'the engine includes parent code'
forbid parent 'engine/' 'the parent includes engine code'
forbid common 'parent/|engine/|config/|ctl/' 'src/common includes a side'
forbid config 'parent/|engine/|ctl/' 'src/config includes a process'
forbid ctl 'parent/|engine/' 'redishappyctl includes daemon code'

# Pure modules: only <...> system headers of the standard library and common/.
for f in "$src/engine/topology.h" "$src/engine/topology.cc" "$src/common/proto.h" \
    "$src/common/proto.cc"; do
    hits=$(grep -nE '^#include' "$f" | grep -vE '#include <[a-z_]+>|#include "common/|#include "engine/topology.h"')
    if [ -n "$hits" ]; then
        echo "FAIL: $f includes more than the standard library and src/common:"
        echo "$hits"
        bad=1
    fi
done

lib=$build/src/parent/libparent.a
if [ -f "$lib" ]; then
    hits=$(nm -u -C "$lib" | grep -E ' (redis|evhttp_|curl_|seccomp_|SSL_|bufferevent_openssl)' | sort -u)
    if [ -n "$hits" ]; then
        echo "FAIL: $lib needs hiredis, evhttp, libcurl, libseccomp or OpenSSL symbols:"
        echo "$hits"
        bad=1
    fi
    echo "checked $(nm -u "$lib" | grep -c ' U ') undefined symbols of libparent.a"
else
    echo "FAIL: $lib not built"
    bad=1
fi
[ "$bad" -eq 0 ] && echo "layering: 1 passed, 0 failed" || echo "layering: 0 passed, 1 failed"
exit "$bad"
