// Rendering with kainjow mustache (included here only: it is a heavy header).
#include "parent/haproxy.h"

#include <algorithm>
#include <charconv>
#include <kainjow/mustache.hpp>
#include <map>
#include <type_traits>
#include <unordered_set>

namespace rh {

namespace mu = kainjow::mustache;

namespace {

void set_err(std::string* err, std::string msg) {
    if (err)
        *err = std::move(msg);
}

// The clusters in name order, without a copy of them (a topology of
// 10,000 clusters is about 3 MB).
std::vector<const HaproxyCluster*> by_name(const std::vector<HaproxyCluster>& clusters) {
    std::vector<const HaproxyCluster*> sorted;
    sorted.reserve(clusters.size());
    for (const auto& c : clusters)
        sorted.push_back(&c);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto* a, const auto* b) { return a->name < b->name; });
    return sorted;
}

// "v4", "v6" or "" (a host name, or no master): the family in a placeholder.
const char* family(const HaproxyCluster& c) {
    if (!c.master)
        return "";
    if (is_ipv4_literal(c.master->host))
        return "v4";
    return is_ipv6_literal(c.master->host) ? "v6" : "";
}

// The same for master_addr, always an IP literal.
const char* addr_family(const HaproxyCluster& c) {
    if (!c.master)
        return "";
    return is_ipv6_literal(c.address()) ? "v6" : "v4";
}

// The names a template can look up, so that only those are put into its
// data: at 10,000 clusters the unused ones (a read backend's eight slots of
// six values each, per cluster) were most of a render's time and memory.
// A name is wanted if it is a run of name characters anywhere inside a
// {{ }} tag (comments and closing tags included: building a value no tag
// asks for costs time, never output). A tag holding '=' may change the
// delimiters, after which tags are not found this way: then every name is
// wanted.
class WantedNames {
  public:
    explicit WantedNames(std::string_view text) {
        for (size_t at = 0; (at = text.find("{{", at)) != std::string_view::npos;) {
            size_t end = text.find("}}", at + 2);
            std::string_view tag = text.substr(
                at + 2, end == std::string_view::npos ? std::string_view::npos : end - at - 2);
            if (tag.find('=') != std::string_view::npos) {
                all_ = true;
                return;
            }
            add_names(tag);
            if (end == std::string_view::npos)
                break;
            at = end + 2;
        }
    }
    bool operator()(const std::string& name) const { return all_ || names_.count(name) != 0; }

  private:
    static bool name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    }
    void add_names(std::string_view tag) {
        for (size_t i = 0; i < tag.size();) {
            if (!name_char(tag[i])) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < tag.size() && name_char(tag[j]))
                j++;
            names_.emplace(tag.substr(i, j - i));
            i = j;
        }
    }

    bool all_ = false;
    std::unordered_set<std::string> names_;
};

mu::mustache make_template(const std::string& text) {
    mu::mustache t{text};
    t.set_custom_escape([](const std::string& s) { return s; });
    return t;
}

// The values a cluster's master puts into the file: as they are, or as
// placeholders for a skeleton. The placeholders start with \x01 and end with
// \x02, control characters no validated value contains, so no placeholder
// can be read as starting inside another.
struct MasterValues {
    std::string host, port, epoch, addr;
};

MasterValues master_values(const HaproxyCluster& c) {
    if (!c.master)
        return {"", "", std::to_string(c.epoch), ""};
    return {c.master->host, std::to_string(c.master->port), std::to_string(c.epoch), c.address()};
}

// Without a master the address and port are empty in the file and in the
// skeleton alike: mustache drops a line's indentation around an empty value
// where it keeps it around a placeholder.
MasterValues master_placeholders(const HaproxyCluster& c, size_t i) {
    std::string n = std::to_string(i);
    std::string epoch = "\x01"
                        "epoch" +
                        n + "\x02";
    if (!c.master)
        return {"", "", epoch, ""};
    return {"\x01host" + n + family(c) + "\x02", "\x01port" + n + "\x02", epoch,
            "\x01"
            "addr" +
                n + addr_family(c) + "\x02"};
}

// The read backend's values: `replicas` (the filled slots, by slot),
// `has_replicas`, `replica_backend`, and `replica_slots` (every slot, filled
// or not, so a template can keep one server line per slot).
void replica_data(mu::data& d, const HaproxyCluster& c, const WantedNames& want) {
    auto set = [&](const std::string& name, auto&& value) {
        if (want(name))
            d.set(name, value);
    };
    set("replica_backend", c.replica_backend);
    set("replica_port", c.replica_port ? std::to_string(c.replica_port) : "");
    set("has_replica_backend", mu::data(!c.replica_backend.empty()));
    set("has_replicas", mu::data(!c.replicas.empty()));
    bool filled_wanted = want("replicas"), slots_wanted = want("replica_slots");
    if (!filled_wanted && !slots_wanted)
        return;
    std::vector<const proto::ReplicaAt*> by_slot(c.max_replicas, nullptr);
    for (const auto& r : c.replicas)
        if (r.slot < by_slot.size())
            by_slot[r.slot] = &r;
    auto one = [](uint16_t slot, const proto::ReplicaAt* r) {
        mu::data x;
        x.set("slot", std::to_string(slot + 1));
        x.set("server", replica_server(slot));
        x.set("has_replica", mu::data(r != nullptr));
        x.set("host", r ? r->replica.host : "");
        x.set("port", r ? std::to_string(r->replica.port) : "");
        x.set("addr", r ? (r->addr.empty() ? r->replica.host : r->addr) : "");
        return x;
    };
    mu::data filled{mu::data::type::list};
    mu::data slots{mu::data::type::list};
    for (uint16_t i = 0; i < by_slot.size(); i++) {
        if (by_slot[i] && filled_wanted)
            filled.push_back(one(i, by_slot[i]));
        if (slots_wanted)
            slots.push_back(one(i, by_slot[i]));
    }
    if (filled_wanted)
        d["replicas"] = std::move(filled);
    if (slots_wanted)
        d["replica_slots"] = std::move(slots);
}

mu::data cluster_data(const HaproxyCluster& c, const MasterValues& v, const WantedNames& want) {
    mu::data d;
    auto set = [&](const std::string& name, auto&& value) {
        if (want(name))
            d.set(name, value);
    };
    replica_data(d, c, want);
    set("name", c.name);
    set("external_port", std::to_string(c.external_port));
    set("master_host", v.host);
    set("master_port", v.port);
    set("master_addr", v.addr);
    set("has_master", mu::data(c.master.has_value()));
    set("epoch", v.epoch);
    set("haproxy_backend", c.backend);
    set("haproxy_server", c.server);
    return d;
}

// Renders clusters sorted by name, each with values(cluster, position).
template <typename Values>
std::optional<std::string> render_with(const std::string& text,
                                       const std::vector<HaproxyCluster>& clusters, Values values,
                                       std::string* err) {
    auto t = make_template(text);
    if (!t.is_valid()) {
        set_err(err, "template: " + t.error_message());
        return std::nullopt;
    }
    auto sorted = by_name(clusters);
    WantedNames want(text);
    mu::data list{mu::data::type::list};
    // kainjow's list grows by copying (its move is not noexcept) and has no
    // reserve: at 10,000 clusters the copies made on growth were a third of
    // the parent's peak. The vector is the data's own, not a const object,
    // so reserving through list_value() is sound.
    using List = std::remove_cvref_t<decltype(list.list_value())>;
    const_cast<List&>(list.list_value()).reserve(sorted.size());
    for (size_t i = 0; i < sorted.size(); i++)
        list.push_back(cluster_data(*sorted[i], values(*sorted[i], i), want));
    mu::data root;
    root["clusters"] = std::move(list);
    std::string out = t.render(root);
    if (!t.is_valid()) {
        set_err(err, "template: " + t.error_message());
        return std::nullopt;
    }
    return out;
}

} // namespace

bool check_template(const std::string& text, std::string* err) {
    auto t = make_template(text);
    if (t.is_valid())
        return true;
    set_err(err, "template: " + t.error_message());
    return false;
}

std::optional<std::string> render(const std::string& text,
                                  const std::vector<HaproxyCluster>& clusters, std::string* err) {
    return render_with(
        text, clusters, [](const HaproxyCluster& c, size_t) { return master_values(c); }, err);
}

std::optional<std::string> render_skeleton(const std::string& text,
                                           const std::vector<HaproxyCluster>& clusters) {
    for (const auto& c : clusters)
        if (c.master && !*family(c))
            return std::nullopt;
    if (text.find_first_of("\x01\x02") != std::string::npos)
        return std::nullopt;
    return render_with(text, clusters, master_placeholders, nullptr);
}

namespace {

// Where a shape's encoding goes: appended to a key, or compared with one
// as it is produced (no key built, nothing allocated, stops at the first
// difference).
struct KeyWriter {
    std::string key;
    bool ok() const { return true; }
    void bytes(std::string_view s) { key.append(s); }
};

struct KeyMatcher {
    std::string_view key;
    bool same = true;
    bool ok() const { return same; }
    void bytes(std::string_view s) {
        same = same && key.substr(0, s.size()) == s;
        key.remove_prefix(std::min(s.size(), key.size()));
    }
};

// n as a variable-length integer (7 bits a byte, low first): the lengths
// and ports that make a key unambiguous cost a byte or two each.
template <class Sink> void put_number(Sink& out, uint64_t n) {
    char buf[10];
    size_t len = 0;
    while (n >= 0x80) {
        buf[len++] = static_cast<char>(0x80 | (n & 0x7f));
        n >>= 7;
    }
    buf[len++] = static_cast<char>(n);
    out.bytes(std::string_view(buf, len));
}

// Length first, so no text can be read as the start of the next field.
template <class Sink> void put_text(Sink& out, std::string_view s) {
    put_number(out, s.size());
    out.bytes(s);
}

// 0: no master, 1: a host name, 2: IPv4, 3: IPv6 (family()).
uint64_t family_code(const HaproxyCluster& c) {
    std::string_view f = family(c);
    return !c.master ? 0 : f.empty() ? 1 : f == "v4" ? 2 : 3;
}

// Every field same_shape() compares, each one unambiguously delimited, and
// nothing else: equal encodings if and only if the shapes are equal.
template <class Sink> void encode_shape(Sink& out, const std::vector<HaproxyCluster>& clusters) {
    put_number(out, clusters.size());
    for (const auto& c : clusters) {
        if (!out.ok())
            return;
        put_text(out, c.name);
        put_number(out, c.external_port);
        put_text(out, c.backend);
        put_text(out, c.server);
        put_number(out, family_code(c));
        put_text(out, addr_family(c));
        put_text(out, c.replica_backend);
        put_number(out, c.replica_port);
        put_number(out, c.max_replicas);
        put_number(out, c.replicas.size());
        for (const auto& r : c.replicas) {
            put_text(out, r.replica.host);
            put_number(out, r.replica.port);
            put_text(out, r.addr);
            put_number(out, r.slot);
        }
    }
}

} // namespace

std::string shape_key(const std::vector<HaproxyCluster>& clusters) {
    KeyWriter w;
    encode_shape(w, clusters);
    return std::move(w.key);
}

bool has_shape_key(const std::vector<HaproxyCluster>& clusters, std::string_view key) {
    KeyMatcher m{key};
    encode_shape(m, clusters);
    return m.same && m.key.empty();
}

bool same_shape(const std::vector<HaproxyCluster>& a, const std::vector<HaproxyCluster>& b) {
    return a.size() == b.size() && has_shape_key(b, shape_key(a));
}

std::string replica_server(uint16_t slot) {
    return "replica" + std::to_string(slot + 1);
}

std::vector<std::string> replica_commands(const std::string& backend,
                                          const std::vector<proto::ReplicaAt>& from,
                                          const std::vector<proto::ReplicaAt>& to) {
    std::map<uint16_t, const proto::ReplicaAt*> before, after;
    for (const auto& r : from)
        before[r.slot] = &r;
    for (const auto& r : to)
        after[r.slot] = &r;
    std::vector<std::string> cmds;
    for (const auto& [slot, r] : before)
        if (!after.count(slot)) {
            std::string bs = backend + "/" + replica_server(slot);
            cmds.push_back("set server " + bs + " state maint");
            cmds.push_back("shutdown sessions server " + bs);
        }
    for (const auto& [slot, r] : after) {
        auto it = before.find(slot);
        if (it != before.end() && *it->second == *r)
            continue;
        // As runtime.h's switch_commands: no client stays on what was there.
        std::string bs = backend + "/" + replica_server(slot);
        const std::string& ip = r->addr.empty() ? r->replica.host : r->addr;
        cmds.push_back("set server " + bs + " state maint");
        cmds.push_back("shutdown sessions server " + bs);
        cmds.push_back("set server " + bs + " addr " + ip + " port " +
                       std::to_string(r->replica.port));
        cmds.push_back("set server " + bs + " state ready");
    }
    return cmds;
}

std::optional<std::string> fill_skeleton(const std::string& skeleton,
                                         const std::vector<HaproxyCluster>& clusters) {
    auto sorted = by_name(clusters);
    std::string out;
    out.reserve(skeleton.size() + skeleton.size() / 4);
    size_t at = 0;
    while (at < skeleton.size()) {
        size_t open = skeleton.find('\x01', at);
        if (open == std::string::npos) {
            out.append(skeleton, at, std::string::npos);
            break;
        }
        out.append(skeleton, at, open - at);
        size_t close = skeleton.find('\x02', open);
        if (close == std::string::npos)
            return std::nullopt;
        std::string_view tag(skeleton.data() + open + 1, close - open - 1);
        std::string_view kind = tag.substr(0, tag.find_first_of("0123456789"));
        std::string_view rest = tag.substr(kind.size());
        size_t i = 0;
        auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), i);
        if (ec != std::errc() || end == rest.data() || i >= sorted.size())
            return std::nullopt;
        std::string_view suffix(end, static_cast<size_t>(rest.data() + rest.size() - end));
        const HaproxyCluster& c = *sorted[i];
        if (kind == "epoch" && suffix.empty())
            out += std::to_string(c.epoch);
        else if (kind == "port" && suffix.empty() && c.master)
            out += std::to_string(c.master->port);
        else if (kind == "host" && c.master && suffix == family(c))
            out += c.master->host;
        else if (kind == "addr" && c.master && suffix == addr_family(c))
            out += c.address();
        else
            return std::nullopt;
        at = close + 1;
    }
    return out;
}

} // namespace rh
