#include "parent/engine_check.h"

#include "common/address.h"
#include "config/config.h"

namespace rh {

namespace {

std::string check_ready(const proto::Ready& r, const EngineMessageContext& ctx) {
    if (ctx.ready)
        return "ready: sent twice";
    if (r.generation != ctx.generation)
        return "ready: configuration generation " + std::to_string(r.generation) + ", expected " +
               std::to_string(ctx.generation);
    return "";
}

std::string check_master(const proto::Master& m, const EngineMessageContext& ctx) {
    if (!ctx.ready)
        return "master: before ready";
    bool known = false;
    for (auto& c : ctx.config->clusters)
        known = known || c.name == m.cluster;
    if (!known)
        return "master: cluster " + m.cluster + " is not configured";
    if (!valid_host(m.master.host) || m.master.port == 0)
        return "master: invalid address for cluster " + m.cluster;
    return "";
}

} // namespace

std::string check_engine_message(const proto::Message& m, const EngineMessageContext& ctx) {
    if (auto* r = std::get_if<proto::Ready>(&m))
        return check_ready(*r, ctx);
    if (auto* mm = std::get_if<proto::Master>(&m))
        return check_master(*mm, ctx);
    return std::string("unexpected message ") + proto::type_name(proto::message_type(m)) +
           " from the engine";
}

} // namespace rh
