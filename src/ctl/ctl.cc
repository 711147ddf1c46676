#include "ctl/ctl.h"

#include <jansson.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

namespace rh::ctl {

namespace {

struct JsonFree {
    void operator()(json_t* j) const { json_decref(j); }
};
using Json = std::unique_ptr<json_t, JsonFree>;

// Parses a reply; on failure says where, in the caller's words.
Json parse(std::string_view text, const char* what, std::string* err) {
    json_error_t e;
    Json j(json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, &e));
    if (!j)
        *err = std::string(what) + " is not JSON (line " + std::to_string(e.line) + ", column " +
               std::to_string(e.column) + ": " + printable(e.text) + ")";
    return j;
}

std::string field(const json_t* o, const char* key) {
    const json_t* v = json_object_get(o, key);
    if (json_is_string(v))
        return printable(std::string_view(json_string_value(v), json_string_length(v)));
    if (json_is_integer(v))
        return std::to_string(json_integer_value(v));
    return "-";
}

// A timestamp; Go's zero time, which the API uses for "never", prints as "-".
std::string when(const json_t* o, const char* key) {
    std::string t = field(o, key);
    return t.rfind("0001-01-01", 0) == 0 ? "-" : t;
}

// " at <value>" style additions, left out when there is nothing to add.
std::string suffix(const char* lead, const std::string& value) {
    return value == "-" ? "" : lead + value;
}

bool flag(const json_t* o, const char* key, bool* out) {
    const json_t* v = json_object_get(o, key);
    if (!json_is_boolean(v))
        return false;
    *out = json_is_true(v);
    return true;
}

std::string yes_no(const json_t* o, const char* key) {
    bool b = false;
    if (!flag(o, key, &b))
        return "-";
    return b ? "yes" : "no";
}

// "host:port" with brackets around IPv6 literals; "-" when absent.
std::string address(const json_t* o) {
    const json_t* ip = json_object_get(o, "ip");
    const json_t* port = json_object_get(o, "port");
    if (!json_is_string(ip) || !json_is_integer(port) || json_string_length(ip) == 0)
        return "-";
    std::string host = printable(json_string_value(ip));
    if (host.find(':') != std::string::npos)
        host = "[" + host + "]";
    return host + ":" + std::to_string(json_integer_value(port));
}

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty())
            out += sep;
        out += s;
    }
    return out.empty() ? "-" : out;
}

std::vector<std::string> replicas(const json_t* cluster) {
    std::vector<std::string> out;
    const json_t* a = json_object_get(cluster, "replicas");
    size_t i;
    const json_t* r;
    json_array_foreach(a, i, r) out.push_back(address(r));
    return out;
}

// "backend: 127.0.0.1:6380 (replica1), ..." for a cluster with a read
// backend ("backend: empty" when no replica is healthy); "" without one.
std::string read_backend(const json_t* cluster) {
    const json_t* rb = json_object_get(cluster, "readBackend");
    if (!json_is_object(rb))
        return "";
    std::vector<std::string> servers;
    size_t i;
    const json_t* s;
    json_array_foreach(json_object_get(rb, "servers"), i, s) {
        servers.push_back(address(s) + " (" + field(s, "server") + ")");
    }
    std::string out = field(rb, "backend") + ": ";
    return out + (servers.empty() ? std::string("empty") : join(servers, ", "));
}

// One line per cluster with a read backend, for status.
std::string read_backend_lines(const json_t* t) {
    std::string out;
    size_t i;
    const json_t* c;
    json_array_foreach(t, i, c) {
        std::string rb = read_backend(c);
        if (!rb.empty())
            out += "read backend of " + field(c, "name") + " " + rb + "\n";
    }
    return out;
}

std::vector<std::string> strings(const json_t* a) {
    std::vector<std::string> out;
    size_t i;
    const json_t* s;
    json_array_foreach(a, i, s) {
        if (json_is_string(s))
            out.push_back(printable(json_string_value(s)));
    }
    return out;
}

// "yes", "no", or "stale" when the daemon has lost its Sentinels and only
// remembers the master.
std::string confirmed(const json_t* c) {
    bool stale = false;
    if (flag(c, "stale", &stale) && stale)
        return "stale";
    return yes_no(c, "confirmed");
}

std::string applied(const json_t* c) {
    return field(json_object_get(c, "applied"), "state");
}

// The error an operator should look at first: HAProxy's, then Consul's.
// The master as announced, and the IP it was reached at when that differs
// (a master announced by host name): "redis-0.svc:6379 (10.1.0.7)".
std::string master_cell(const json_t* c) {
    std::string at = address(c);
    const json_t* addr = json_object_get(c, "addr");
    if (at == "-" || !json_is_string(addr) || json_string_length(addr) == 0 ||
        field(c, "ip") == field(c, "addr"))
        return at;
    return at + " (" + field(c, "addr") + ")";
}

std::string cluster_error(const json_t* c) {
    std::string r = field(c, "resolveError");
    if (r != "-" && !r.empty())
        return "resolve: " + r;
    std::string e = field(json_object_get(c, "applied"), "error");
    if (e == "-")
        e = field(json_object_get(c, "consul"), "error");
    return e;
}

// stateName when the daemon sends it; the original redishappy only had the
// numeric state (1 up, 2 down).
std::string sentinel_state(const json_t* s) {
    std::string name = field(s, "stateName");
    if (name != "-")
        return name;
    const json_t* code = json_object_get(s, "state");
    if (!json_is_integer(code))
        return "-";
    switch (json_integer_value(code)) {
    case 1:
        return "up";
    case 2:
        return "down";
    default:
        return "unknown";
    }
}

std::string origin(const json_t* s) {
    bool configured = false;
    if (!flag(s, "configured", &configured))
        return "-";
    return configured ? "configured" : "discovered";
}

std::string latency(const json_t* s) {
    // 0 until the first PING has been answered and the view refreshed.
    const json_t* v = json_object_get(s, "latencyMs");
    if (!json_is_number(v) || json_number_value(v) <= 0)
        return "-";
    char buf[32];
    snprintf(buf, sizeof buf, "%.2fms", json_number_value(v));
    return buf;
}

Json topology(std::string_view text, std::string* err) {
    Json t = parse(text, "/api/topology", err);
    if (t && !json_is_array(t.get())) {
        *err = "/api/topology is not a JSON array";
        return nullptr;
    }
    size_t i;
    const json_t* c;
    json_array_foreach(t.get(), i, c) {
        if (!json_is_object(c) || !json_is_string(json_object_get(c, "name"))) {
            *err = "/api/topology[" + std::to_string(i) + "] is not a cluster object with a name";
            return nullptr;
        }
    }
    return t;
}

// The {"sentinels": {"host:port": {...}}} object, checked.
Json sentinels(std::string_view text, std::string* err) {
    Json s = parse(text, "/api/sentinels", err);
    if (!s)
        return nullptr;
    const json_t* m = json_object_get(s.get(), "sentinels");
    if (!json_is_object(m)) {
        *err = "/api/sentinels has no \"sentinels\" object";
        return nullptr;
    }
    const char* key;
    const json_t* v;
    json_object_foreach(const_cast<json_t*>(m), key, v) {
        if (!json_is_object(v)) {
            *err = "/api/sentinels: entry " + printable(key) + " is not an object";
            return nullptr;
        }
    }
    return s;
}

std::string cluster_table(const json_t* t) {
    std::vector<std::vector<std::string>> rows{
        {"CLUSTER", "PORT", "MASTER", "EPOCH", "CONFIRMED", "APPLIED", "REPLICAS", "ERROR"}};
    size_t i;
    const json_t* c;
    json_array_foreach(t, i, c) {
        rows.push_back({field(c, "name"), field(c, "externalPort"), master_cell(c),
                        field(c, "epoch"), confirmed(c), applied(c), join(replicas(c), ","),
                        cluster_error(c)});
    }
    return render_table(rows);
}

// "FENCED 10.0.0.1:6379 (since ..., lifted at the latest ...)" or
// "not fenced (last lifted by ...)"; "" for a cluster with fence = no.
std::string fence_text(const json_t* c) {
    const json_t* fo = json_object_get(c, "fence");
    if (!json_is_object(fo))
        return "";
    auto some = [](const char* lead, const std::string& v) {
        return v.empty() || v == "-" ? std::string() : lead + v;
    };
    bool fenced = false;
    flag(fo, "fenced", &fenced);
    std::string error = some(", error: ", field(fo, "error"));
    if (fenced)
        return "FENCED " + address(fo) + some(" since ", when(fo, "since")) +
               some(", lifted by fence_timeout at ", when(fo, "deadline")) + error;
    return "not fenced (" + field(fo, "fences") + " fences" +
           some(", the last lifted by ", field(fo, "liftedBy")) + ")" + error;
}

// One line per fenced cluster, after the cluster table; "" when none is.
std::string fenced_lines(const json_t* t) {
    std::string out;
    size_t i;
    const json_t* c;
    json_array_foreach(t, i, c) {
        std::string f = fence_text(c);
        if (f.rfind("FENCED", 0) == 0)
            out += "cluster " + field(c, "name") + ": " + f + "\n";
    }
    return out;
}

// Sorted by address: the API's object order is not a promise.
std::vector<std::pair<std::string, const json_t*>> sentinel_entries(const json_t* s) {
    std::vector<std::pair<std::string, const json_t*>> out;
    const char* key;
    const json_t* v;
    json_object_foreach(json_object_get(s, "sentinels"), key, v)
        out.emplace_back(printable(key), v);
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

std::string summary(const json_t* t,
                    const std::vector<std::pair<std::string, const json_t*>>& entries) {
    size_t clusters = json_array_size(t), with_master = 0, applied_n = 0;
    size_t i;
    const json_t* c;
    json_array_foreach(t, i, c) {
        with_master += address(c) != "-";
        applied_n += applied(c) == "applied";
    }
    size_t up =
        static_cast<size_t>(std::count_if(entries.begin(), entries.end(), [](const auto& e) {
            return sentinel_state(e.second) == "up";
        }));
    char buf[160];
    snprintf(buf, sizeof buf,
             "%zu cluster%s: %zu with a master, %zu applied; %zu of %zu Sentinel%s up\n", clusters,
             clusters == 1 ? "" : "s", with_master, applied_n, up, entries.size(),
             entries.size() == 1 ? "" : "s");
    return buf;
}

} // namespace

std::string ascii_json(std::string_view json, std::string* err) {
    Json j = parse(json, "reply", err);
    if (!j)
        return "";
    char* s = json_dumps(j.get(), JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    if (!s) {
        *err = "cannot encode the reply";
        return "";
    }
    std::string out;
    for (const char* p = s; *p; p++) {
        if (*p == 0x7f)
            out += "\\u007F"; // jansson spells escapes in upper case
        else
            out += *p;
    }
    std::free(s);
    return out + "\n";
}

std::optional<HostPort> api_address(const std::vector<HostPort>& api_listen) {
    if (api_listen.empty())
        return std::nullopt;
    HostPort hp = api_listen.front();
    if (hp.host == "0.0.0.0")
        hp.host = "127.0.0.1";
    else if (hp.host == "::")
        hp.host = "::1";
    return hp;
}

std::string printable(std::string_view s) {
    if (s.empty())
        return "-";
    std::string out;
    out.reserve(s.size());
    for (unsigned char ch : s) {
        if (ch < 0x20 || ch >= 0x7f) {
            char buf[5];
            snprintf(buf, sizeof buf, "\\x%02x", ch);
            out += buf;
        } else {
            out += static_cast<char>(ch);
        }
    }
    return out;
}

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
    // Every column is padded to its widest cell, so one long cell from
    // whoever answers on the API's address would cost its length on every
    // row: cells are cut (the daemon's own strings are at most 200 bytes).
    auto cell = [](const std::string& c) -> std::string_view {
        return std::string_view(c).substr(0, kMaxCell);
    };
    std::vector<size_t> width;
    for (const auto& r : rows) {
        width.resize(std::max(width.size(), r.size()));
        for (size_t i = 0; i < r.size(); i++)
            width[i] = std::max(width[i], cell(r[i]).size() + (r[i].size() > kMaxCell ? 3 : 0));
    }
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); i++) {
            std::string c(cell(r[i]));
            if (r[i].size() > kMaxCell)
                c += "...";
            line += c;
            if (i + 1 < r.size())
                line.append(width[i] - c.size() + 2, ' ');
        }
        out += line + "\n";
    }
    return out;
}

Formatted format_status(std::string_view topology_json, std::string_view sentinels_json) {
    Formatted f;
    Json t = topology(topology_json, &f.error);
    if (!t)
        return f;
    Json s = sentinels(sentinels_json, &f.error);
    if (!s)
        return f;
    auto entries = sentinel_entries(s.get());
    std::vector<std::vector<std::string>> rows{
        {"SENTINEL", "STATE", "ORIGIN", "TRUSTED", "LATENCY", "ERROR"}};
    for (const auto& [addr, e] : entries)
        rows.push_back({addr, sentinel_state(e), origin(e), yes_no(e, "trusted"), latency(e),
                        field(e, "lastError")});
    f.text = summary(t.get(), entries) + "\n" + cluster_table(t.get()) + fenced_lines(t.get()) +
             "\n" + read_backend_lines(t.get()) + render_table(rows);
    return f;
}

Formatted format_topology(std::string_view topology_json) {
    Formatted f;
    Json t = topology(topology_json, &f.error);
    if (!t)
        return f;
    size_t i;
    const json_t* c;
    json_array_foreach(t.get(), i, c) {
        const json_t* ap = json_object_get(c, "applied");
        const json_t* co = json_object_get(c, "consul");
        std::vector<std::vector<std::string>> rows{
            {"  external port", field(c, "externalPort")},
            {"  master", address(c)},
            {"  epoch", field(c, "epoch")},
            {"  confirmed", confirmed(c) + suffix(" at ", when(c, "confirmedAt"))},
            {"  corroborated by", join(strings(json_object_get(c, "corroboratedBy")), ", ")},
            {"  replicas", join(replicas(c), ", ")},
            {"  applied", field(ap, "state") + suffix(" at ", when(ap, "at"))},
            {"  apply errors", field(ap, "errors") + suffix(", last: ", field(ap, "error"))},
            {"  consul", field(co, "state") + suffix(", last error: ", field(co, "error")) +
                             suffix(": ", field(co, "detail"))},
            {"  switches", field(c, "switches") + suffix(", last at ", when(c, "lastSwitch"))},
        };
        if (std::string rb = read_backend(c); !rb.empty())
            rows.insert(rows.begin() + 6, {"  read backend", rb});
        if (std::string fence = fence_text(c); !fence.empty())
            rows.push_back({"  fence", fence});
        if (i > 0)
            f.text += "\n";
        f.text += field(c, "name") + "\n" + render_table(rows);
    }
    if (json_array_size(t.get()) == 0)
        f.text = "no clusters\n";
    return f;
}

Formatted format_sentinels(std::string_view sentinels_json) {
    Formatted f;
    Json s = sentinels(sentinels_json, &f.error);
    if (!s)
        return f;
    std::vector<std::vector<std::string>> rows{{"SENTINEL", "STATE", "ORIGIN", "TRUSTED",
                                                "CLUSTERS", "LATENCY", "RECONNECTS", "LAST REPLY",
                                                "ERROR"}};
    for (const auto& [addr, e] : sentinel_entries(s.get()))
        rows.push_back({addr, sentinel_state(e), origin(e), yes_no(e, "trusted"),
                        join(strings(json_object_get(e, "clusters")), ","), latency(e),
                        field(e, "reconnects"), when(e, "lastUpdated"), field(e, "lastError")});
    f.text = render_table(rows);
    return f;
}

Formatted format_health(std::string_view health_json, long http_status, bool* healthy) {
    Formatted f;
    Json h = parse(health_json, "/api/health", &f.error);
    if (!h)
        return f;
    const json_t* status = json_object_get(h.get(), "status");
    bool ok = json_is_string(status) && std::string_view(json_string_value(status)) == "ok";
    bool bad = json_is_string(status) && std::string_view(json_string_value(status)) == "unhealthy";
    if ((!ok && !bad) || (ok && http_status != 200) || (bad && http_status != 503)) {
        f.error = "/api/health answered HTTP " + std::to_string(http_status) + " with status " +
                  field(h.get(), "status");
        return f;
    }
    *healthy = ok;
    f.text = ok ? "ok\n" : "unhealthy\n";
    for (const auto& r : strings(json_object_get(h.get(), "reasons")))
        f.text += "  " + r + "\n";
    return f;
}

namespace {

struct Words {
    const char* kind;
    const char* reason;
    const char* words;
};

// Every reason the daemon records (engine/events.h), in an operator's words.
constexpr Words kWords[] = {
    {"candidate", "trusted", "reported by a trusted Sentinel"},
    {"candidate", "untrusted", "reported by an untrusted Sentinel (never counted)"},
    {"refused", "untrusted-source", "untrusted Sentinel: its reports are never counted"},
    {"refused", "epoch-jump", "epoch too far above the other Sentinels' (max_epoch_jump)"},
    {"refused", "stale-epoch", "stale: epoch below the current master's"},
    {"refused", "equal-epoch", "same epoch as the current master, which stays"},
    {"refused", "min-agreement", "not enough trusted Sentinels agree (min_agreement)"},
    {"refused", "conflict", "two masters corroborated at the same epoch; waiting"},
    {"refused", "role-not-master", "the candidate does not answer ROLE as master"},
    {"refused", "role-failed", "ROLE could not be asked (connection, timeout, bad reply)"},
    {"refused", "no-longer-pick", "ROLE master, but the Sentinels moved on meanwhile"},
    {"refused", "seed-not-corroborated",
     "the state file's master waits for enough Sentinels to report it"},
    {"refused", "failover-in-progress", "the Sentinel is mid-failover; report not used"},
    {"refused", "discovered-by-name", "discovered Sentinel named by a host name: not followed"},
    {"refused", "max-discovered", "too many discovered Sentinels (max_discovered): not followed"},
    {"confirmed", "initial", "first master since start-up: ROLE master, corroborated"},
    {"confirmed", "switch", "new master: ROLE master, corroborated"},
    {"confirmed", "epoch-advance", "same master at a higher epoch"},
    {"confirmed", "seed-confirmed", "the state file's master, reported again by the Sentinels"},
    {"applied", "runtime", "in effect through HAProxy's runtime socket"},
    {"applied", "reload", "in effect after an HAProxy reload"},
    {"applied", "none", "in effect (no switch needed, or no [haproxy])"},
    {"apply-error", "error", "the parent could not apply it"},
    {"fence", "odown", "the trusted Sentinels agree the master is o_down: fence asked"},
    {"fence", "odown-cleared", "the trusted Sentinels no longer report o_down: lift asked"},
    {"fence", "fenced", "master in maint and its sessions shut down"},
    {"fence", "lifted-unfence", "fence lifted: the Sentinels cleared o_down"},
    {"fence", "lifted-switch", "fence lifted by the switch to a new master"},
    {"fence", "lifted-timeout", "fence lifted after fence_timeout: no failover happened"},
    {"fence", "fence-failed", "the parent could not apply the fence (runtime socket)"},
};

// "HH:MM:SS.mmm" of a time, for "since" columns.
std::string clock_ms(long long ms) {
    std::string t = utc_ms(ms);
    return t.size() >= 23 ? t.substr(11, 12) : t;
}

long long integer(const json_t* o, const char* key) {
    const json_t* v = json_object_get(o, key);
    return json_is_integer(v) ? static_cast<long long>(json_integer_value(v)) : 0;
}

} // namespace

std::string utc_ms(long long ms) {
    if (ms <= 0)
        return "-";
    time_t t = static_cast<time_t>(ms / 1000);
    struct tm tm {};
    if (!gmtime_r(&t, &tm))
        return "-";
    char buf[40], out[48];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof out, "%s.%03lldZ", buf, ms % 1000);
    return out;
}

std::string error_of(std::string_view body) {
    std::string err;
    Json j = parse(body, "error", &err);
    const json_t* e = j ? json_object_get(j.get(), "error") : nullptr;
    if (!json_is_string(e) || json_string_length(e) == 0)
        return "(no reason given)";
    return printable(std::string_view(json_string_value(e), json_string_length(e)));
}

std::string reason_words(std::string_view kind, std::string_view reason) {
    for (const auto& w : kWords)
        if (kind == w.kind && reason == w.reason)
            return w.words;
    return printable(reason);
}

Formatted format_events(std::string_view events_json) {
    Formatted f;
    Json j = parse(events_json, "/api/events", &f.error);
    if (!j)
        return f;
    const json_t* a = json_object_get(j.get(), "events");
    if (!json_is_array(a)) {
        f.error = "/api/events has no \"events\" array";
        return f;
    }
    std::vector<std::vector<std::string>> rows{
        {"TIME", "CLUSTER", "EVENT", "MASTER", "EPOCH", "SENTINEL", "REPEATS", "WHY"}};
    size_t i;
    const json_t* e;
    json_array_foreach(a, i, e) {
        const json_t* d = json_object_get(e, "detail");
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "kind")) ||
            !json_is_string(json_object_get(e, "reason")) || !json_is_object(d)) {
            f.error = "/api/events: events[" + std::to_string(i) +
                      "] is not an event with a kind, a reason and a detail";
            return f;
        }
        std::string kind = json_string_value(json_object_get(e, "kind"));
        std::string reason = json_string_value(json_object_get(e, "reason"));
        std::string sentinel = field(d, "sentinel");
        bool trusted = true;
        if (sentinel != "-" && flag(d, "trusted", &trusted) && !trusted)
            sentinel += " (untrusted)";
        long long count = integer(e, "count");
        std::string repeats =
            count > 1 ? std::to_string(count) + "x since " + clock_ms(integer(e, "firstTimeMs"))
                      : "-";
        std::string why = reason_words(kind, reason);
        std::string text = field(d, "text");
        if (text != "-")
            why += ": " + text;
        std::string master = field(d, "master");
        std::string epoch = field(d, "epoch");
        rows.push_back({utc_ms(integer(e, "timeMs")), field(e, "cluster"), printable(kind), master,
                        master == "-" ? "-" : epoch, sentinel, repeats, why});
    }
    f.text = json_array_size(a) == 0 ? "no events\n" : render_table(rows);
    return f;
}

} // namespace rh::ctl
