// State file in JSON via jansson.
#include "parent/statefile.h"

#include <jansson.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "common/file.h"
#include "common/log.h"
#include "parent/outfile.h"

namespace rh {

namespace {

// One line per cluster: even 100,000 clusters stay far below this.
constexpr size_t kMaxStateFile = 16u << 20;

struct JsonDecref {
    void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

bool fail(std::string* err, std::string msg) {
    if (err)
        *err = std::move(msg);
    return false;
}

// A JSON number that is a whole number from 0. A real is accepted only when
// the file had to be read with JSON_DECODE_INT_AS_REAL (some number did not
// fit jansson's integer) and then only where a double is exact (<= 2^53).
bool whole_number(json_t* v, uint64_t* out) {
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return false;
        *out = static_cast<uint64_t>(json_integer_value(v));
        return true;
    }
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    if (!(d >= 0 && d <= 9007199254740992.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
        return false;
    *out = static_cast<uint64_t>(d);
    return true;
}

// An epoch: a whole number, or a string of decimal digits that fits 64 bits.
bool epoch_value(json_t* v, uint64_t* out) {
    if (!json_is_string(v))
        return whole_number(v, out);
    std::string_view s = json_string_value(v);
    if (s.empty() || s.size() > 20)
        return false;
    uint64_t n = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        auto d = static_cast<uint64_t>(c - '0');
        if (n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

bool parse_cluster(const char* name, json_t* v, MasterAt* out, std::string* err) {
    std::string where = std::string("cluster ") + name + ": ";
    if (!json_is_object(v))
        return fail(err, where + "not an object");
    json_t* host = json_object_get(v, "host");
    uint64_t port = 0, epoch = 0;
    if (!json_is_string(host) || !valid_host(json_string_value(host)))
        return fail(err, where + "missing or invalid host");
    if (!whole_number(json_object_get(v, "port"), &port) || port < 1 || port > 65535)
        return fail(err, where + "missing or invalid port");
    if (!epoch_value(json_object_get(v, "epoch"), &epoch))
        return fail(err, where + "missing or invalid epoch (not a number from 0 to 2^64-1)");
    // "addr" (the IP literal the host led to) is absent from files written
    // before names were resolved; then the host is its own address.
    json_t* addr = json_object_get(v, "addr");
    size_t keys = 3;
    if (addr) {
        if (!json_is_string(addr) || !is_ip_literal(json_string_value(addr)))
            return fail(err, where + "invalid addr (not an IP literal)");
        out->addr = json_string_value(addr);
        keys++;
    }
    if (json_object_size(v) != keys)
        return fail(err, where + "unexpected keys");
    out->master.host = json_string_value(host);
    out->master.port = static_cast<uint16_t>(port);
    out->epoch = epoch;
    return true;
}

json_t* epoch_json(uint64_t epoch) {
    if (epoch > static_cast<uint64_t>(INT64_MAX))
        return json_string(std::to_string(epoch).c_str());
    return json_integer(static_cast<json_int_t>(epoch));
}

// One number too large for jansson must not cost the whole file: read it
// again with every number as a double, and let the entries decide.
JsonPtr load_json(const std::string& text, std::string* err) {
    json_error_t jerr;
    JsonPtr root{json_loadb(text.data(), text.size(), 0, &jerr)};
    if (!root && json_error_code(&jerr) == json_error_numeric_overflow)
        root.reset(json_loadb(text.data(), text.size(), JSON_DECODE_INT_AS_REAL, &jerr));
    if (!root)
        fail(err, "line " + std::to_string(jerr.line) + ": " + jerr.text);
    return root;
}

// One JSON value as jansson writes it; "" if it cannot (a string that is
// not UTF-8, which validated names and hosts never are).
std::string dumped(json_t* v, size_t flags) {
    JsonPtr owned{v};
    if (!v)
        return "";
    char* s = json_dumps(v, flags | JSON_ENCODE_ANY);
    std::string out = s ? s : "";
    free(s);
    return out;
}

} // namespace

// The same bytes json_dumps(JSON_SORT_KEYS | JSON_INDENT(2)) gives for the
// whole document, written a cluster at a time: a jansson tree of 10,000
// clusters (and its dump grown by doubling) was 10 MB of the parent's peak
// after every apply. MasterMap's order is the sorted keys' order (both
// compare bytes); each cluster's object is jansson's own, indented to its
// depth.
std::string format_state(const MasterMap& st) {
    std::string out = "{\n  \"clusters\": {";
    out.reserve(st.size() * 120 + 64);
    const char* sep = "\n    ";
    for (const auto& [name, m] : st) {
        json_t* c = json_pack("{s:s, s:i, s:o}", "host", m.master.host.c_str(), "port",
                              static_cast<int>(m.master.port), "epoch", epoch_json(m.epoch));
        if (c && !m.addr.empty())
            json_object_set_new(c, "addr", json_string(m.addr.c_str()));
        std::string key = dumped(json_string(name.c_str()), 0);
        std::string value = dumped(c, JSON_SORT_KEYS | JSON_INDENT(2));
        if (key.empty() || value.empty())
            continue; // not representable; as json_pack failing did
        out += sep;
        out += key;
        out += ": ";
        for (char ch : value) {
            out += ch;
            if (ch == '\n')
                out += "    ";
        }
        sep = ",\n    ";
    }
    out += st.empty() ? "},\n" : "\n  },\n";
    out += "  \"version\": 1\n}\n";
    return out;
}

std::optional<MasterMap> parse_state(const std::string& text, std::string* err,
                                     std::vector<std::string>* dropped) {
    JsonPtr root = load_json(text, err);
    if (!root)
        return std::nullopt;
    uint64_t version = 0;
    if (!whole_number(json_object_get(root.get(), "version"), &version) || version != 1) {
        fail(err, "missing or unsupported version");
        return std::nullopt;
    }
    json_t* clusters = json_object_get(root.get(), "clusters");
    if (!json_is_object(clusters)) {
        fail(err, "missing clusters object");
        return std::nullopt;
    }
    MasterMap st;
    const char* name;
    json_t* v;
    json_object_foreach(clusters, name, v) {
        MasterAt m;
        std::string why;
        if (parse_cluster(name, v, &m, &why))
            st[name] = m;
        else if (dropped)
            dropped->push_back(why);
    }
    return st;
}

MasterMap load_state(const std::string& path) {
    struct stat sb {};
    if (stat(path.c_str(), &sb) < 0 && errno == ENOENT)
        return {}; // first start
    std::string text, err;
    if (!read_file_capped(path, kMaxStateFile, &text, &err)) {
        log::error("state file %s: %s; starting with an empty state", path.c_str(), err.c_str());
        return {};
    }
    std::vector<std::string> dropped;
    auto st = parse_state(text, &err, &dropped);
    if (!st) {
        log::error("state file %s: %s; starting with an empty state", path.c_str(), err.c_str());
        return {};
    }
    for (auto& why : dropped)
        log::notice("state file %s: %s; dropping it", path.c_str(), why.c_str());
    return *st;
}

bool save_state(const std::string& path, const MasterMap& st, std::string* err) {
    if (!write_file_atomic(path, format_state(st), err))
        return false;
    return true;
}

} // namespace rh
