// Consul request bodies, built with jansson so every string is escaped.
#include "engine/consul_json.h"

#include <jansson.h>

#include <memory>
#include <stdexcept>

namespace rh {

namespace {

struct JsonDecref {
    void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

JsonPtr checked(json_t* j) {
    if (!j)
        throw std::bad_alloc();
    return JsonPtr(j);
}

// Steals v's reference.
void set(json_t* obj, const char* key, json_t* v) {
    if (!v || json_object_set_new(obj, key, v) != 0)
        throw std::bad_alloc();
}

void set_str(json_t* obj, const char* key, const std::string& v) {
    set(obj, key, json_stringn(v.data(), v.size()));
}

json_t* tags_array(const std::vector<std::string>& tags) {
    JsonPtr arr = checked(json_array());
    for (const auto& t : tags)
        if (json_array_append_new(arr.get(), json_stringn(t.data(), t.size())) != 0)
            throw std::bad_alloc();
    return arr.release();
}

std::string dump(json_t* j) {
    char* s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        throw std::bad_alloc();
    std::string out(s);
    free(s);
    return out;
}

std::string catalog_register_body(const ConsulService& s) {
    JsonPtr root = checked(json_object());
    if (!s.datacenter.empty())
        set_str(root.get(), "Datacenter", s.datacenter);
    set_str(root.get(), "Node", consul_node(s));
    set_str(root.get(), "Address", s.address.host);
    JsonPtr meta = checked(json_object());
    set_str(meta.get(), "external-node", "true");
    set_str(meta.get(), "external-probe", "true");
    set(root.get(), "NodeMeta", meta.release());
    JsonPtr svc = checked(json_object());
    set_str(svc.get(), "ID", consul_service_id(s));
    set_str(svc.get(), "Service", consul_service_name(s));
    set(svc.get(), "Tags", tags_array(s.tags));
    set_str(svc.get(), "Address", s.address.host);
    set(svc.get(), "Port", json_integer(s.address.port));
    set(root.get(), "Service", svc.release());
    return dump(root.get());
}

std::string catalog_deregister_body(const ConsulService& s) {
    JsonPtr root = checked(json_object());
    if (!s.datacenter.empty())
        set_str(root.get(), "Datacenter", s.datacenter);
    set_str(root.get(), "Node", consul_node(s));
    set_str(root.get(), "ServiceID", consul_service_id(s));
    return dump(root.get());
}

std::string agent_register_body(const ConsulService& s) {
    JsonPtr root = checked(json_object());
    set_str(root.get(), "ID", consul_service_id(s));
    set_str(root.get(), "Name", consul_service_name(s));
    set(root.get(), "Tags", tags_array(s.tags));
    set_str(root.get(), "Address", s.address.host);
    set(root.get(), "Port", json_integer(s.address.port));
    return dump(root.get());
}

} // namespace

std::string consul_service_id(const ConsulService& s) {
    return s.service_id.empty() ? "redishappy-" + s.cluster : s.service_id;
}

std::string consul_service_name(const ConsulService& s) {
    return s.service.empty() ? s.cluster : s.service;
}

std::string consul_node(const ConsulService& s) {
    return s.node.empty() ? "redishappy-" + s.cluster : s.node;
}

ConsulRequest consul_register_request(ConsulMode mode, const ConsulService& s) {
    if (mode == ConsulMode::agent)
        return {"PUT", "/v1/agent/service/register", agent_register_body(s)};
    return {"PUT", "/v1/catalog/register", catalog_register_body(s)};
}

ConsulRequest consul_deregister_request(ConsulMode mode, const ConsulService& s) {
    if (mode == ConsulMode::agent)
        return {"PUT", "/v1/agent/service/deregister/" + url_path_escape(consul_service_id(s)), ""};
    return {"PUT", "/v1/catalog/deregister", catalog_deregister_body(s)};
}

std::string url_path_escape(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += static_cast<char>(c);
            continue;
        }
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

std::string first_line(std::string_view body) {
    auto end = body.find_first_of("\r\n");
    std::string_view line = body.substr(0, end);
    if (line.size() > 200)
        line = line.substr(0, 200);
    return std::string(line);
}

} // namespace rh
