// Pure parsing of Sentinel replies and pub/sub messages.
#include "engine/sentinel_proto.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <map>

namespace rh::sentinel {

namespace {

using Fields = std::map<std::string, std::string, std::less<>>;

const char* type_name(int t) {
    switch (t) {
    case REDIS_REPLY_STRING:
        return "string";
    case REDIS_REPLY_ARRAY:
        return "array";
    case REDIS_REPLY_INTEGER:
        return "integer";
    case REDIS_REPLY_NIL:
        return "nil";
    case REDIS_REPLY_STATUS:
        return "status";
    case REDIS_REPLY_ERROR:
        return "error";
    default:
        return "unknown";
    }
}

std::string unexpected(const redisReply* r, const char* wanted) {
    if (r->type == REDIS_REPLY_ERROR)
        return std::string("error reply: ") + std::string(r->str, std::min<size_t>(r->len, 200));
    return std::string("expected ") + wanted + ", got " + type_name(r->type);
}

bool is_text(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

// A flat [k1, v1, k2, v2, ...] array of strings into a map.
std::optional<Fields> to_fields(const redisReply* r, std::string* err) {
    if (!r) {
        *err = "no reply";
        return std::nullopt;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        *err = unexpected(r, "array");
        return std::nullopt;
    }
    if (r->elements % 2 != 0) {
        *err = "odd-length key/value array";
        return std::nullopt;
    }
    if (r->elements > max_fields * 2) {
        *err = "too many fields (" + std::to_string(r->elements / 2) + ")";
        return std::nullopt;
    }
    Fields f;
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply* k = r->element[i];
        const redisReply* v = r->element[i + 1];
        if (!is_text(k) || !is_text(v)) {
            *err = "element " + std::to_string(i) + ": not a string";
            return std::nullopt;
        }
        if (k->len > max_string || v->len > max_string) {
            *err = "element " + std::to_string(i) + ": string too long";
            return std::nullopt;
        }
        f.emplace(std::string(k->str, k->len), std::string(v->str, v->len));
    }
    return f;
}

// Looks up key, writing "missing field 'key'" on failure.
const std::string* need(const Fields& f, std::string_view key, std::string* err) {
    auto it = f.find(key);
    if (it == f.end()) {
        *err = "missing field '" + std::string(key) + "'";
        return nullptr;
    }
    return &it->second;
}

bool field_addr(const Fields& f, HostPort* out, std::string* err) {
    const std::string* ip = need(f, "ip", err);
    if (!ip)
        return false;
    if (!valid_host(*ip)) {
        *err = "field 'ip': invalid host";
        return false;
    }
    const std::string* port = need(f, "port", err);
    if (!port)
        return false;
    auto p = parse_port(*port);
    if (!p) {
        *err = "field 'port': bad port";
        return false;
    }
    out->host = *ip;
    out->port = *p;
    return true;
}

bool field_u64(const Fields& f, std::string_view key, uint64_t* out, std::string* err) {
    const std::string* s = need(f, key, err);
    if (!s)
        return false;
    auto v = parse_u64(*s);
    if (!v) {
        *err = "field '" + std::string(key) + "': not a decimal number";
        return false;
    }
    *out = *v;
    return true;
}

bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > 256)
        return false;
    return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

std::optional<MasterInfo> master_from(const redisReply* r, std::string* err) {
    auto f = to_fields(r, err);
    if (!f)
        return std::nullopt;
    MasterInfo m;
    const std::string* name = need(*f, "name", err);
    if (!name)
        return std::nullopt;
    if (!valid_name(*name)) {
        *err = "field 'name': invalid name";
        return std::nullopt;
    }
    m.name = *name;
    if (!field_addr(*f, &m.addr, err))
        return std::nullopt;
    const std::string* flags = need(*f, "flags", err);
    if (!flags)
        return std::nullopt;
    m.flags = split_flags(*flags);
    if (!field_u64(*f, "config-epoch", &m.config_epoch, err) ||
        !field_u64(*f, "num-slaves", &m.num_slaves, err) ||
        !field_u64(*f, "num-other-sentinels", &m.num_other_sentinels, err) ||
        !field_u64(*f, "quorum", &m.quorum, err))
        return std::nullopt;
    // Optional: only fencing uses it, and a Sentinel without it still decides.
    if (auto it = f->find("failover-timeout"); it != f->end())
        m.failover_timeout_ms = parse_u64(it->second).value_or(0);
    return m;
}

template <typename T, typename F>
Parsed<std::vector<T>> parse_list(const redisReply* r, size_t cap, const char* what, F one) {
    if (!r)
        return Parsed<std::vector<T>>::failure("no reply");
    if (r->type != REDIS_REPLY_ARRAY)
        return Parsed<std::vector<T>>::failure(unexpected(r, "array"));
    if (r->elements > cap)
        return Parsed<std::vector<T>>::failure("too many " + std::string(what) + " (" +
                                               std::to_string(r->elements) + ")");
    std::vector<T> out;
    out.reserve(r->elements);
    for (size_t i = 0; i < r->elements; i++) {
        std::string err;
        auto v = one(r->element[i], &err);
        if (!v)
            return Parsed<std::vector<T>>::failure(what + (" " + std::to_string(i)) + ": " + err);
        out.push_back(std::move(*v));
    }
    return Parsed<std::vector<T>>::ok(std::move(out));
}

std::optional<ReplicaInfo> replica_from(const redisReply* r, std::string* err) {
    auto f = to_fields(r, err);
    if (!f)
        return std::nullopt;
    ReplicaInfo ri;
    if (!field_addr(*f, &ri.addr, err))
        return std::nullopt;
    const std::string* flags = need(*f, "flags", err);
    if (!flags)
        return std::nullopt;
    ri.flags = split_flags(*flags);
    const std::string* link = need(*f, "master-link-status", err);
    if (!link)
        return std::nullopt;
    ri.master_link_status = *link;
    if (auto it = f->find(std::string_view("slave-repl-offset")); it != f->end()) {
        auto v = parse_u64(it->second);
        if (!v) {
            *err = "field 'slave-repl-offset': not a decimal number";
            return std::nullopt;
        }
        ri.repl_offset = *v;
    }
    return ri;
}

std::optional<SentinelInfo> sentinel_from(const redisReply* r, std::string* err) {
    auto f = to_fields(r, err);
    if (!f)
        return std::nullopt;
    SentinelInfo si;
    if (!field_addr(*f, &si.addr, err))
        return std::nullopt;
    const std::string* runid = need(*f, "runid", err);
    if (!runid)
        return std::nullopt;
    if (!valid_name(*runid)) {
        *err = "field 'runid': invalid runid";
        return std::nullopt;
    }
    si.runid = *runid;
    const std::string* flags = need(*f, "flags", err);
    if (!flags)
        return std::nullopt;
    si.flags = split_flags(*flags);
    return si;
}

std::vector<std::string_view> split_words(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size() && out.size() < 64) {
        size_t j = s.find(' ', i);
        if (j == std::string_view::npos)
            j = s.size();
        if (j > i)
            out.push_back(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

std::optional<HostPort> word_addr(std::string_view ip, std::string_view port, const char* what,
                                  std::string* err) {
    if (!valid_host(ip)) {
        *err = std::string(what) + ": invalid host";
        return std::nullopt;
    }
    auto p = parse_port(port);
    if (!p) {
        *err = std::string(what) + ": bad port";
        return std::nullopt;
    }
    return HostPort{std::string(ip), *p};
}

Parsed<Event> parse_switch(std::string_view payload) {
    auto w = split_words(payload);
    if (w.size() != 5)
        return Parsed<Event>::failure("+switch-master: expected 5 words, got " +
                                      std::to_string(w.size()));
    if (!valid_name(w[0]))
        return Parsed<Event>::failure("+switch-master: invalid master name");
    std::string err;
    auto from = word_addr(w[1], w[2], "+switch-master old address", &err);
    if (!from)
        return Parsed<Event>::failure(err);
    auto to = word_addr(w[3], w[4], "+switch-master new address", &err);
    if (!to)
        return Parsed<Event>::failure(err);
    return Parsed<Event>::ok(SwitchMaster{std::string(w[0]), *from, *to});
}

Parsed<Event> parse_instance(std::string_view channel, std::string_view payload) {
    std::string ch(channel);
    auto w = split_words(payload);
    if (w.size() < 4)
        return Parsed<Event>::failure(ch + ": expected at least 4 words");
    InstanceEvent ev;
    ev.channel = ch;
    ev.kind = std::string(w[0]);
    if (ev.kind != "master" && ev.kind != "slave" && ev.kind != "sentinel")
        return Parsed<Event>::failure(ch + ": unknown instance type");
    if (!valid_name(w[1]))
        return Parsed<Event>::failure(ch + ": invalid instance name");
    ev.name = std::string(w[1]);
    std::string err;
    auto addr = word_addr(w[2], w[3], (ch + " address").c_str(), &err);
    if (!addr)
        return Parsed<Event>::failure(err);
    ev.addr = *addr;
    size_t next = 4;
    if (w.size() > 4 && w[4] == "@") {
        if (w.size() < 8)
            return Parsed<Event>::failure(ch + ": truncated '@ master ip port' part");
        if (!valid_name(w[5]))
            return Parsed<Event>::failure(ch + ": invalid master name");
        auto maddr = word_addr(w[6], w[7], (ch + " master address").c_str(), &err);
        if (!maddr)
            return Parsed<Event>::failure(err);
        ev.master = std::string(w[5]);
        ev.master_addr = *maddr;
        next = 8;
    } else if (ev.kind != "master") {
        return Parsed<Event>::failure(ch + ": " + ev.kind + " event without '@ master'");
    }
    for (size_t i = next; i < w.size(); i++) {
        if (!ev.extra.empty())
            ev.extra += ' ';
        ev.extra += std::string(w[i]);
    }
    if ((ch == "+sentinel" || ch == "+config-update-from") && ev.kind != "sentinel")
        return Parsed<Event>::failure(ch + ": expected a sentinel instance");
    return Parsed<Event>::ok(std::move(ev));
}

} // namespace

bool MasterInfo::has_flag(std::string_view f) const {
    return std::find(flags.begin(), flags.end(), f) != flags.end();
}

std::vector<std::string> split_flags(std::string_view s) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= s.size()) {
        size_t j = s.find(',', i);
        if (j == std::string_view::npos)
            j = s.size();
        if (j > i)
            out.emplace_back(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
    if (s.empty() || s.size() > 20)
        return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return std::nullopt;
        uint64_t d = static_cast<uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

Parsed<MasterInfo> parse_master(const redisReply* r) {
    std::string err;
    auto m = master_from(r, &err);
    if (!m)
        return Parsed<MasterInfo>::failure(err);
    return Parsed<MasterInfo>::ok(std::move(*m));
}

bool reply_names_master(const redisReply* r, const HostPort& addr) {
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return false;
    std::string port = std::to_string(addr.port);
    bool ip = false, pt = false;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply* k = r->element[i];
        const redisReply* v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return false;
        std::string_view key(k->str, k->len), val(v->str, v->len);
        if (key == "ip")
            ip = val == addr.host;
        else if (key == "port")
            pt = val == port;
    }
    return ip && pt;
}

Parsed<std::vector<MasterInfo>> parse_masters(const redisReply* r) {
    return parse_list<MasterInfo>(r, max_masters, "master", master_from);
}

Parsed<std::vector<ReplicaInfo>> parse_replicas(const redisReply* r) {
    return parse_list<ReplicaInfo>(r, max_entries, "replica", replica_from);
}

Parsed<std::vector<SentinelInfo>> parse_sentinels(const redisReply* r) {
    return parse_list<SentinelInfo>(r, max_entries, "sentinel", sentinel_from);
}

Parsed<std::string> parse_role(const redisReply* r) {
    if (!r)
        return Parsed<std::string>::failure("no reply");
    if (r->type != REDIS_REPLY_ARRAY)
        return Parsed<std::string>::failure(unexpected(r, "array"));
    if (r->elements == 0)
        return Parsed<std::string>::failure("empty ROLE reply");
    const redisReply* first = r->element[0];
    if (!is_text(first))
        return Parsed<std::string>::failure("ROLE element 0: not a string");
    if (first->len == 0 || first->len > 32)
        return Parsed<std::string>::failure("ROLE element 0: bad length");
    return Parsed<std::string>::ok(std::string(first->str, first->len));
}

namespace {

// A ROLE element that is a decimal number: an integer reply, or a string
// of digits (the replica's master port is a string in Redis 7.0).
std::optional<uint64_t> role_number(const redisReply* r) {
    if (!r)
        return std::nullopt;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer < 0 ? std::nullopt : std::optional<uint64_t>(r->integer);
    if (is_text(r) && r->len <= 20)
        return parse_u64(std::string_view(r->str, r->len));
    return std::nullopt;
}

} // namespace

Parsed<RoleInfo> parse_role_info(const redisReply* r) {
    using P = Parsed<RoleInfo>;
    auto role = parse_role(r);
    if (!role)
        return P::failure(role.error);
    RoleInfo ri;
    ri.role = *role.value;
    if (ri.role == "master") {
        if (r->elements < 2)
            return P::failure("ROLE master: no offset");
        auto off = role_number(r->element[1]);
        if (!off)
            return P::failure("ROLE master: offset not a number");
        ri.offset = *off;
        return P::ok(std::move(ri));
    }
    if (ri.role != "slave")
        return P::ok(std::move(ri));
    if (r->elements != 5)
        return P::failure("ROLE slave: expected 5 elements, got " + std::to_string(r->elements));
    const redisReply* host = r->element[1];
    if (!is_text(host) || host->len > max_string ||
        !valid_host(std::string_view(host->str, host->len)))
        return P::failure("ROLE slave: invalid master host");
    ri.master.host.assign(host->str, host->len);
    auto port = role_number(r->element[2]);
    if (!port || *port == 0 || *port > 65535)
        return P::failure("ROLE slave: bad master port");
    ri.master.port = static_cast<uint16_t>(*port);
    const redisReply* state = r->element[3];
    if (!is_text(state) || state->len == 0 || state->len > 32)
        return P::failure("ROLE slave: bad state");
    ri.state.assign(state->str, state->len);
    auto off = role_number(r->element[4]);
    if (!off)
        return P::failure("ROLE slave: offset not a number");
    ri.offset = *off;
    return P::ok(std::move(ri));
}

bool ReplicaInfo::has_flag(std::string_view f) const {
    return std::find(flags.begin(), flags.end(), f) != flags.end();
}

const std::vector<std::string>& event_channels() {
    static const std::vector<std::string> channels = {
        "+switch-master",
        "+sentinel",
        "+sdown",
        "-sdown",
        "+odown",
        "-odown",
        "+failover-end",
        "+config-update-from",
        "+failover-state-reconf-slaves",
        "+reset-master",
        "+slave", // a replica attached: the read backend re-reads SENTINEL REPLICAS
    };
    return channels;
}

Parsed<Event> parse_event(std::string_view channel, std::string_view payload) {
    if (payload.size() > max_string)
        return Parsed<Event>::failure(std::string(channel.substr(0, 64)) + ": message too long");
    if (channel == "+switch-master")
        return parse_switch(payload);
    const auto& chs = event_channels();
    if (std::find(chs.begin(), chs.end(), channel) == chs.end())
        return Parsed<Event>::failure("unknown channel");
    return parse_instance(channel, payload);
}

Parsed<std::optional<PushMessage>> parse_push(const redisReply* r) {
    using P = Parsed<std::optional<PushMessage>>;
    if (!r)
        return P::failure("no reply");
    if (r->type != REDIS_REPLY_ARRAY)
        return P::failure(unexpected(r, "array"));
    if (r->elements != 3)
        return P::failure("push of " + std::to_string(r->elements) + " elements, expected 3");
    for (size_t i = 0; i < 3; i++) {
        const redisReply* e = r->element[i];
        if (i < 2 && !is_text(e))
            return P::failure("push element " + std::to_string(i) + ": not a string");
    }
    std::string_view kind(r->element[0]->str, r->element[0]->len);
    if (kind == "subscribe" || kind == "unsubscribe")
        return P::ok(std::nullopt);
    if (kind != "message")
        return P::failure("unexpected push kind");
    const redisReply* ch = r->element[1];
    const redisReply* msg = r->element[2];
    if (!is_text(msg))
        return P::failure("push element 2: not a string");
    if (ch->len > 64 || msg->len > max_string)
        return P::failure("push too long");
    return P::ok(PushMessage{std::string(ch->str, ch->len), std::string(msg->str, msg->len)});
}

} // namespace rh::sentinel
