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

mu::data cluster_data(const HaproxyCluster& c) {
    mu::data d;
    d.set("name", c.name);
    d.set("external_port", std::to_string(c.external_port));
    d.set("master_host", c.master ? c.master->host : std::string());
    d.set("master_port", c.master ? std::to_string(c.master->port) : std::string());
    d.set("has_master", mu::data(c.master.has_value()));
    d.set("epoch", std::to_string(c.epoch));
    d.set("haproxy_backend", c.backend);
    d.set("haproxy_server", c.server);
    return d;
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
    auto t = make_template(text);
    if (!t.is_valid()) {
        set_err(err, "template: " + t.error_message());
        return std::nullopt;
    }
    std::sort(clusters.begin(), clusters.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    mu::data list{mu::data::type::list};
    for (const auto& c : clusters)
        list.push_back(cluster_data(c));
    mu::data root;
    root.set("clusters", list);
    std::string out = t.render(root);
    if (!t.is_valid()) {
        set_err(err, "template: " + t.error_message());
        return std::nullopt;
    }
    return out;
}

} // namespace rh
