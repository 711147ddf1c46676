// The configuration's entry points: read the file, parse it in two stages
// (ini.h, then interpret.h) and report errors sorted by line.
#include "config/config.h"

#include <algorithm>

#include "common/file.h"
#include "config/ini.h"
#include "config/interpret.h"

namespace rh {

namespace {

constexpr size_t max_config_size = 1 << 20;

} // namespace

ParseResult parse_config(std::string_view text, std::string_view filename) {
    ParseResult r;
    r.config.path = std::string(filename);
    if (text.starts_with("\xEF\xBB\xBF"))
        text.remove_prefix(3);

    auto sections = ini::read(text, filename, &r.errors);
    interpret(sections, filename, r.config, &r.errors);
    std::stable_sort(r.errors.begin(), r.errors.end(),
                     [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
    return r;
}

ParseResult load_config(const std::string& path) {
    std::string text, err;
    if (!read_file_capped(path, max_config_size, &text, &err)) {
        ParseResult r;
        r.config.path = path;
        r.errors.push_back(ConfigError{path, 0, err});
        return r;
    }
    return parse_config(text, path);
}

const ClusterText& ClusterConfig::text() const {
    static const ClusterText defaulted;
    return text_ ? *text_ : defaulted;
}

ClusterText& ClusterConfig::edit_text() {
    if (!text_ || text_.use_count() > 1)
        text_ = std::make_shared<ClusterText>(text());
    return *text_;
}

void ClusterConfig::share_text_of(const ClusterConfig& other) {
    if (other.text_ != text_ && other.text() == text())
        text_ = other.text_;
}

std::string ClusterConfig::haproxy_backend() const {
    return text().haproxy_backend.empty() ? "redis_" + name : text().haproxy_backend;
}

std::string ClusterConfig::haproxy_server() const {
    return text().haproxy_server.empty() ? "master" : text().haproxy_server;
}

std::string ClusterConfig::consul_service() const {
    return text().consul_service.empty() ? name : text().consul_service;
}

std::string ClusterConfig::consul_service_id() const {
    return text().consul_service_id.empty() ? "redishappy-" + name : text().consul_service_id;
}

std::string ClusterConfig::consul_node() const {
    return text().consul_node.empty() ? "redishappy-" + name : text().consul_node;
}

std::string format_error(const ConfigError& e) {
    if (e.line == 0)
        return e.file + ": " + e.message;
    return e.file + ":" + std::to_string(e.line) + ": " + e.message;
}

} // namespace rh
