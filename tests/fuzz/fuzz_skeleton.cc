// fuzz-sources: src/parent/haproxy.cc src/common/address.cc
// libFuzzer target: the check-skipping rule of the Applier. From arbitrary
// bytes it builds a template and two topologies; whenever their skeletons
// are equal, the two rendered files must differ only where a master's
// values stand: each file must equal the skeleton with its own values put
// back in place of the placeholders. That is what makes skipping
// haproxy -c safe for the second file once the first passed it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "parent/haproxy.h"

using namespace rh;

namespace {

struct Bytes {
    const uint8_t* p;
    size_t n;
    uint8_t next() {
        if (n == 0)
            return 0;
        n--;
        return *p++;
    }
};

const char* const kHosts[] = {"10.0.0.1",    "10.0.0.2", "192.168.1.1",
                              "2001:db8::1", "::1",      "redis-0.example"};
const char* const kNames[] = {"a", "b", "c"};
const char* const kTags[] = {"{{name}}",           "{{master_host}}",   "{{master_port}}",
                             "{{epoch}}",          "{{external_port}}", "{{haproxy_backend}}",
                             "{{#has_master}}",    "{{/has_master}}",   "{{^has_master}}",
                             "{{haproxy_server}}", "{{{master_host}}}", ":"};

std::vector<HaproxyCluster> topology(Bytes& b) {
    std::vector<HaproxyCluster> t;
    size_t count = b.next() % 4;
    for (size_t i = 0; i < count; i++) {
        HaproxyCluster c;
        c.name = kNames[b.next() % 3];
        c.external_port = static_cast<uint16_t>(7000 + b.next() % 3);
        uint8_t m = b.next();
        if (m % 7)
            c.master = HostPort{kHosts[m % 6], static_cast<uint16_t>(1 + b.next())};
        c.epoch = b.next();
        c.backend = b.next() % 2 ? "b1" : "b2";
        c.server = "s";
        bool dup = false;
        for (auto& o : t)
            dup = dup || o.name == c.name;
        if (!dup)
            t.push_back(c);
    }
    return t;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
}

// The skeleton with t's values put back: what render() must produce.
std::string fill(std::string skeleton, std::vector<HaproxyCluster> t) {
    std::sort(t.begin(), t.end(), [](auto& a, auto& b) { return a.name < b.name; });
    for (size_t i = 0; i < t.size(); i++) {
        std::string n = std::to_string(i);
        const auto& c = t[i];
        if (c.master) {
            const char* fam = is_ipv4_literal(c.master->host) ? "v4" : "v6";
            replace_all(skeleton, "\x01host" + n + fam + "\x02", c.master->host);
            replace_all(skeleton, "\x01port" + n + "\x02", std::to_string(c.master->port));
        }
        replace_all(skeleton,
                    "\x01"
                    "epoch" +
                        n + "\x02",
                    std::to_string(c.epoch));
    }
    return skeleton;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Bytes b{data, size};
    // Template pieces: a tag when the high bit is set, else a plain byte.
    size_t tlen = b.next() % 32;
    std::string text;
    for (size_t i = 0; i < tlen && b.n; i++) {
        uint8_t x = b.next();
        if (x & 0x80)
            text += kTags[x % (sizeof kTags / sizeof *kTags)];
        else if (x != 0x01 && x != 0x02) // a placeholder's delimiters
            text += static_cast<char>(x);
    }
    text = "{{#clusters}}" + text + "{{/clusters}}";
    auto a = topology(b), c = topology(b);
    auto ka = render_skeleton(text, a), kc = render_skeleton(text, c);
    // The Applier renders a skeleton once per shape: equal shapes must give
    // equal skeletons, and a skeleton filled in must be the rendering.
    if (ka && kc && same_shape(a, c) && *ka != *kc)
        __builtin_trap();
    if (ka) {
        auto ra = render(text, a, nullptr);
        auto fa = fill_skeleton(*ka, a);
        if (!ra || !fa || *fa != *ra)
            __builtin_trap();
    }
    if (!ka || !kc || *ka != *kc)
        return 0;
    auto ra = render(text, a, nullptr), rc = render(text, c, nullptr);
    if (!ra || !rc || *ra != fill(*ka, a) || *rc != fill(*kc, c))
        __builtin_trap();
    return 0;
}
