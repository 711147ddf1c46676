// Consul request bodies, built with jansson so every string is escaped.
#include "engine/consul_json.h"

#include <jansson.h>

#include <cstdint>
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

json_t* service_meta(const ConsulService& s) {
    JsonPtr meta = checked(json_object());
    set_str(meta.get(), kMetaEpoch, std::to_string(s.epoch));
    if (!s.instance.empty())
        set_str(meta.get(), kMetaInstance, s.instance);
    return meta.release();
}

std::string with_dc(std::string path, const ConsulService& s) {
    if (!s.datacenter.empty())
        path += "?dc=" + url_path_escape(s.datacenter);
    return path;
}

// One operation of a /v1/txn body: {"<kind>": {"Verb": verb, ...}}.
json_t* txn_op(const char* kind, const char* verb, json_t* fields) {
    JsonPtr f(fields);
    set(f.get(), "Verb", json_string(verb));
    JsonPtr op = checked(json_object());
    set(op.get(), kind, f.release());
    return op.release();
}

std::string agent_register_body(const ConsulService& s) {
    JsonPtr root = checked(json_object());
    set_str(root.get(), "ID", consul_service_id(s));
    set_str(root.get(), "Name", consul_service_name(s));
    set(root.get(), "Tags", tags_array(s.tags));
    set_str(root.get(), "Address", s.address.host);
    set(root.get(), "Port", json_integer(s.address.port));
    set(root.get(), "Meta", service_meta(s));
    return dump(root.get());
}

// Reads an unsigned JSON integer; false for anything else.
bool get_index(json_t* o, const char* key, uint64_t* out) {
    json_t* v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = static_cast<uint64_t>(json_integer_value(v));
    return true;
}

// A string member, or "" when absent or null; false when of another type.
bool get_str(json_t* o, const char* key, std::string* out) {
    json_t* v = json_object_get(o, key);
    out->clear();
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    out->assign(json_string_value(v), json_string_length(v));
    return true;
}

// The decimal epoch Consul's Meta holds; none for anything but 1-20 digits
// that fit in 64 bits.
std::optional<uint64_t> parse_epoch(std::string_view v) {
    if (v.empty() || v.size() > 20)
        return std::nullopt;
    uint64_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9')
            return std::nullopt;
        uint64_t d = static_cast<uint64_t>(c - '0');
        if (n > (UINT64_MAX - d) / 10)
            return std::nullopt;
        n = n * 10 + d;
    }
    return n;
}

bool parse_entry(json_t* e, ConsulEntry* out, std::string* err) {
    std::string node_addr;
    if (!get_index(e, "ModifyIndex", &out->modify_index)) {
        *err = "entry without a valid ModifyIndex";
        return false;
    }
    if (!get_str(e, "ServiceAddress", &out->address) || !get_str(e, "Address", &node_addr)) {
        *err = "entry with a non-string address";
        return false;
    }
    if (out->address.empty())
        out->address = node_addr;
    json_t* port = json_object_get(e, "ServicePort");
    if (!json_is_integer(port) || json_integer_value(port) < 0 ||
        json_integer_value(port) > 65535) {
        *err = "entry without a valid ServicePort";
        return false;
    }
    out->port = static_cast<long>(json_integer_value(port));
    json_t* tags = json_object_get(e, "ServiceTags");
    if (tags && !json_is_null(tags)) {
        if (!json_is_array(tags)) {
            *err = "ServiceTags is not an array";
            return false;
        }
        size_t i;
        json_t* t;
        json_array_foreach(tags, i, t) {
            if (!json_is_string(t)) {
                *err = "ServiceTags holds a non-string";
                return false;
            }
            out->tags.emplace_back(json_string_value(t), json_string_length(t));
        }
    }
    json_t* meta = json_object_get(e, "ServiceMeta");
    if (meta && !json_is_null(meta)) {
        if (!json_is_object(meta)) {
            *err = "ServiceMeta is not an object";
            return false;
        }
        std::string epoch;
        if (!get_str(meta, kMetaEpoch, &epoch) || !get_str(meta, kMetaInstance, &out->instance)) {
            *err = "ServiceMeta holds a non-string";
            return false;
        }
        out->epoch = parse_epoch(epoch);
        if (out->instance.size() > kMaxInstance)
            out->instance.resize(kMaxInstance);
    }
    return true;
}

} // namespace

ConsulRequest consul_agent_register_request(const ConsulService& s) {
    return {"PUT", "/v1/agent/service/register", agent_register_body(s)};
}

ConsulRequest consul_agent_deregister_request(const ConsulService& s) {
    return {"PUT", "/v1/agent/service/deregister/" + url_path_escape(consul_service_id(s)), ""};
}

ConsulRequest consul_read_request(const ConsulService& s) {
    return {"GET", with_dc("/v1/catalog/service/" + url_path_escape(consul_service_name(s)), s),
            ""};
}

ConsulRequest consul_cas_register_request(const ConsulService& s, uint64_t modify_index) {
    JsonPtr node = checked(json_object());
    set_str(node.get(), "Node", consul_node(s));
    set_str(node.get(), "Address", s.address.host);
    JsonPtr node_meta = checked(json_object());
    set_str(node_meta.get(), "external-node", "true");
    set_str(node_meta.get(), "external-probe", "true");
    set(node.get(), "Meta", node_meta.release());
    JsonPtr node_op = checked(json_object());
    set(node_op.get(), "Node", node.release());

    JsonPtr svc = checked(json_object());
    set_str(svc.get(), "ID", consul_service_id(s));
    set_str(svc.get(), "Service", consul_service_name(s));
    set(svc.get(), "Tags", tags_array(s.tags));
    set_str(svc.get(), "Address", s.address.host);
    set(svc.get(), "Port", json_integer(s.address.port));
    set(svc.get(), "Meta", service_meta(s));
    set(svc.get(), "ModifyIndex", json_integer(static_cast<json_int_t>(modify_index)));
    JsonPtr svc_op = checked(json_object());
    set_str(svc_op.get(), "Node", consul_node(s));
    set(svc_op.get(), "Service", svc.release());

    JsonPtr ops = checked(json_array());
    if (json_array_append_new(ops.get(), txn_op("Node", "set", node_op.release())) != 0 ||
        json_array_append_new(ops.get(), txn_op("Service", "cas", svc_op.release())) != 0)
        throw std::bad_alloc();
    return {"PUT", with_dc("/v1/txn", s), dump(ops.get())};
}

ConsulRequest consul_cas_deregister_request(const ConsulService& s, uint64_t modify_index) {
    JsonPtr svc = checked(json_object());
    set_str(svc.get(), "ID", consul_service_id(s));
    set_str(svc.get(), "Service", consul_service_name(s));
    set(svc.get(), "ModifyIndex", json_integer(static_cast<json_int_t>(modify_index)));
    JsonPtr svc_op = checked(json_object());
    set_str(svc_op.get(), "Node", consul_node(s));
    set(svc_op.get(), "Service", svc.release());
    JsonPtr ops = checked(json_array());
    if (json_array_append_new(ops.get(), txn_op("Service", "delete-cas", svc_op.release())) != 0)
        throw std::bad_alloc();
    return {"PUT", with_dc("/v1/txn", s), dump(ops.get())};
}

ConsulRead consul_parse_read(std::string_view body, const std::string& node,
                             const std::string& service_id) {
    ConsulRead r;
    json_error_t jerr;
    JsonPtr root(json_loadb(body.data(), body.size(), JSON_REJECT_DUPLICATES, &jerr));
    if (!root) {
        r.error = std::string("not JSON: ") + jerr.text;
        return r;
    }
    if (!json_is_array(root.get())) {
        r.error = "not a JSON array";
        return r;
    }
    size_t i;
    json_t* e;
    json_array_foreach(root.get(), i, e) {
        if (!json_is_object(e)) {
            r.error = "an entry is not an object";
            return r;
        }
        std::string n, id;
        if (!get_str(e, "Node", &n) || !get_str(e, "ServiceID", &id)) {
            r.error = "an entry has a non-string Node or ServiceID";
            return r;
        }
        if (n != node || id != service_id)
            continue;
        if (r.entry) {
            r.error = "two entries for one node and service ID";
            return r;
        }
        ConsulEntry entry;
        if (!parse_entry(e, &entry, &r.error))
            return r;
        r.entry = std::move(entry);
    }
    r.ok = true;
    return r;
}

const char* fence_verdict_name(FenceVerdict v) {
    switch (v) {
    case FenceVerdict::write:
        return "write";
    case FenceVerdict::current:
        return "current";
    case FenceVerdict::newer:
        return "newer";
    case FenceVerdict::conflict:
        return "conflict";
    }
    return "unknown";
}

FenceDecision consul_fence(const std::optional<ConsulEntry>& now, const ConsulService& desired) {
    FenceDecision d;
    if (!now)
        return d; // absent: create only (cas index 0)
    d.cas_index = now->modify_index;
    if (!now->epoch)
        return d; // not written by a fenced redishappy: ours to replace
    std::string who = now->instance.empty() ? "an unnamed instance" : "'" + now->instance + "'";
    std::string theirs = format_host_port(HostPort{now->address, static_cast<uint16_t>(now->port)});
    if (*now->epoch > desired.epoch) {
        d.verdict = FenceVerdict::newer;
        d.reason = "Consul holds " + theirs + " at epoch " + std::to_string(*now->epoch) +
                   " from " + who + ", newer than ours (epoch " + std::to_string(desired.epoch) +
                   "); not overwritten";
        return d;
    }
    if (*now->epoch < desired.epoch)
        return d;
    bool same = now->address == desired.address.host && now->port == desired.address.port &&
                now->tags == desired.tags;
    if (same) {
        d.verdict = FenceVerdict::current;
        return d;
    }
    // Our own earlier write at this epoch: our topology moved on. Unnamed
    // writers cannot be told apart: the later write wins among them.
    if (now->instance == desired.instance)
        return d;
    d.verdict = FenceVerdict::conflict;
    d.reason = "Consul holds " + theirs + " at epoch " + std::to_string(*now->epoch) + " from " +
               who + ", the same epoch as ours (" + format_host_port(desired.address) +
               "); an equal epoch never replaces another instance's write";
    return d;
}

bool consul_may_withdraw(const ConsulEntry& now, const ConsulService& s) {
    return now.instance.empty() || now.instance == s.instance;
}

std::string consul_service_id(const ConsulService& s) {
    return s.service_id.empty() ? "redishappy-" + s.cluster : s.service_id;
}

std::string consul_service_name(const ConsulService& s) {
    return s.service.empty() ? s.cluster : s.service;
}

std::string consul_node(const ConsulService& s) {
    return s.node.empty() ? "redishappy-" + s.cluster : s.node;
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
