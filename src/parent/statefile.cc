// State file in JSON via jansson.
#include "parent/statefile.h"

#include <jansson.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

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

bool parse_cluster(const char* name, json_t* v, MasterAt* out, std::string* err) {
    std::string where = std::string("cluster ") + name + ": ";
    if (!json_is_object(v))
        return fail(err, where + "not an object");
    json_t* host = json_object_get(v, "host");
    json_t* port = json_object_get(v, "port");
    json_t* epoch = json_object_get(v, "epoch");
    if (!json_is_string(host) || !valid_host(json_string_value(host)))
        return fail(err, where + "missing or invalid host");
    if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535)
        return fail(err, where + "missing or invalid port");
    if (!json_is_integer(epoch) || json_integer_value(epoch) < 0)
        return fail(err, where + "missing or invalid epoch");
    if (json_object_size(v) != 3)
        return fail(err, where + "unexpected keys");
    out->master.host = json_string_value(host);
    out->master.port = static_cast<uint16_t>(json_integer_value(port));
    out->epoch = static_cast<uint64_t>(json_integer_value(epoch));
    return true;
}

} // namespace

std::string format_state(const MasterMap& st) {
    JsonPtr clusters{json_object()};
    for (const auto& [name, m] : st) {
        json_t* c =
            json_pack("{s:s, s:i, s:I}", "host", m.master.host.c_str(), "port",
                      static_cast<int>(m.master.port), "epoch", static_cast<json_int_t>(m.epoch));
        json_object_set_new(clusters.get(), name.c_str(), c);
    }
    JsonPtr root{json_pack("{s:i, s:O}", "version", 1, "clusters", clusters.get())};
    char* s = json_dumps(root.get(), JSON_SORT_KEYS | JSON_INDENT(2));
    std::string out = s ? s : "";
    free(s);
    return out + "\n";
}

std::optional<MasterMap> parse_state(const std::string& text, std::string* err) {
    json_error_t jerr;
    JsonPtr root{json_loadb(text.data(), text.size(), 0, &jerr)};
    if (!root) {
        fail(err, "line " + std::to_string(jerr.line) + ": " + jerr.text);
        return std::nullopt;
    }
    json_t* version = json_object_get(root.get(), "version");
    if (!json_is_integer(version) || json_integer_value(version) != 1) {
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
        if (!parse_cluster(name, v, &m, err))
            return std::nullopt;
        st[name] = m;
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
    auto st = parse_state(text, &err);
    if (!st) {
        log::error("state file %s: %s; starting with an empty state", path.c_str(), err.c_str());
        return {};
    }
    return *st;
}

bool save_state(const std::string& path, const MasterMap& st, std::string* err) {
    if (!write_file_atomic(path, format_state(st), err))
        return false;
    return true;
}

} // namespace rh
