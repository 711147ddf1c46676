// Rendering with kainjow mustache (included here only: it is a heavy header).
#include "parent/haproxy.h"

#include <algorithm>
#include <kainjow/mustache.hpp>

namespace rh {

namespace mu = kainjow::mustache;

namespace {

void set_err(std::string* err, std::string msg) {
    if (err)
        *err = std::move(msg);
}

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
    std::string host, port, epoch;
};

MasterValues master_values(const HaproxyCluster& c) {
    if (!c.master)
        return {"", "", std::to_string(c.epoch)};
    return {c.master->host, std::to_string(c.master->port), std::to_string(c.epoch)};
}

// Without a master the address and port are empty in the file and in the
// skeleton alike: mustache drops a line's indentation around an empty value
// where it keeps it around a placeholder.
MasterValues master_placeholders(const HaproxyCluster& c, size_t i) {
    std::string n = std::to_string(i);
    std::string epoch = "\x01epoch" + n + "\x02";
    if (!c.master)
        return {"", "", epoch};
    const char* family = is_ipv4_literal(c.master->host) ? "v4" : "v6";
    return {"\x01host" + n + family + "\x02", "\x01port" + n + "\x02", epoch};
}

mu::data cluster_data(const HaproxyCluster& c, const MasterValues& v) {
    mu::data d;
    d.set("name", c.name);
    d.set("external_port", std::to_string(c.external_port));
    d.set("master_host", v.host);
    d.set("master_port", v.port);
    d.set("has_master", mu::data(c.master.has_value()));
    d.set("epoch", v.epoch);
    d.set("haproxy_backend", c.backend);
    d.set("haproxy_server", c.server);
    return d;
}

// Renders clusters sorted by name, each with values(cluster, position).
template <typename Values>
std::optional<std::string> render_with(const std::string& text,
                                       std::vector<HaproxyCluster> clusters, Values values,
                                       std::string* err) {
    auto t = make_template(text);
    if (!t.is_valid()) {
        set_err(err, "template: " + t.error_message());
        return std::nullopt;
    }
    std::sort(clusters.begin(), clusters.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    mu::data list{mu::data::type::list};
    for (size_t i = 0; i < clusters.size(); i++)
        list.push_back(cluster_data(clusters[i], values(clusters[i], i)));
    mu::data root;
    root.set("clusters", list);
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

std::optional<std::string> render(const std::string& text, std::vector<HaproxyCluster> clusters,
                                  std::string* err) {
    return render_with(
        text, std::move(clusters), [](const HaproxyCluster& c, size_t) { return master_values(c); },
        err);
}

std::optional<std::string> render_skeleton(const std::string& text,
                                           std::vector<HaproxyCluster> clusters) {
    for (const auto& c : clusters)
        if (c.master && !is_ipv4_literal(c.master->host) && !is_ipv6_literal(c.master->host))
            return std::nullopt;
    return render_with(text, std::move(clusters), master_placeholders, nullptr);
}

} // namespace rh
