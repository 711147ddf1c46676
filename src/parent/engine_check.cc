#include "parent/engine_check.h"

#include "common/address.h"
#include "config/config.h"

namespace rh {

namespace {

EngineCheck violation(std::string why) {
    return {EngineCheck::Kind::violation, std::move(why)};
}

EngineCheck check_ready(const proto::Ready& r, const EngineMessageContext& ctx) {
    if (ctx.ready)
        return violation("ready: sent twice");
    if (r.generation != ctx.generation)
        return violation("ready: configuration generation " + std::to_string(r.generation) +
                         ", expected " + std::to_string(ctx.generation));
    return {};
}

bool configured(const std::string& cluster, const EngineMessageContext& ctx) {
    if (ctx.configured)
        return ctx.configured->count(cluster) != 0;
    for (auto& c : ctx.config->clusters)
        if (c.name == cluster)
            return true;
    return false;
}

EngineCheck check_master(const proto::Master& m, const EngineMessageContext& ctx) {
    if (!ctx.ready)
        return violation("master: before ready");
    if (!configured(m.cluster, ctx))
        return violation("master: cluster " + m.cluster + " is not configured");
    if (!valid_host(m.master.host) || m.master.port == 0)
        return violation("master: invalid address for cluster " + m.cluster);
    const MasterAt* applied = nullptr;
    if (ctx.applied)
        if (auto it = ctx.applied->find(m.cluster); it != ctx.applied->end())
            applied = &it->second;
    const uint64_t* floor = nullptr;
    if (ctx.floors)
        if (auto it = ctx.floors->find(m.cluster); it != ctx.floors->end())
            floor = &it->second;
    std::string why = check_epoch(m.cluster, m.epoch, floor, applied, ctx.config->max_epoch_jump);
    if (!why.empty())
        return {EngineCheck::Kind::refuse, std::move(why)};
    return {};
}

// Fence and Unfence: only for a fence = yes cluster, and only about its
// applied master at the applied epoch. An older epoch is a race with a
// switch the engine has not heard of yet (refused); anything the engine
// cannot have learnt from the parent is a violation.
EngineCheck check_fence_request(const char* what, const std::string& cluster,
                                const HostPort& master, uint64_t epoch,
                                const EngineMessageContext& ctx) {
    std::string w = what;
    if (!ctx.ready)
        return violation(w + ": before ready");
    if (!configured(cluster, ctx))
        return violation(w + ": cluster " + cluster + " is not configured");
    const ClusterConfig* cc = nullptr;
    for (auto& c : ctx.config->clusters)
        if (c.name == cluster)
            cc = &c;
    if (!cc || !cc->fence)
        return violation(w + ": cluster " + cluster + " has fence = no");
    if (!valid_host(master.host) || master.port == 0)
        return violation(w + ": invalid address for cluster " + cluster);
    const MasterAt* applied = nullptr;
    if (ctx.applied)
        if (auto it = ctx.applied->find(cluster); it != ctx.applied->end())
            applied = &it->second;
    std::string where = w + ": cluster " + cluster + ": " + format_host_port(master) +
                        " at epoch " + std::to_string(epoch);
    if (!applied)
        return {EngineCheck::Kind::refuse, where + ": no master applied"};
    if (epoch < applied->epoch)
        return {EngineCheck::Kind::refuse, where + ": stale, " + format_host_port(applied->master) +
                                               " at epoch " + std::to_string(applied->epoch) +
                                               " is applied"};
    if (epoch > applied->epoch || master != applied->master)
        return violation(where + " is not the applied master (" +
                         format_host_port(applied->master) + " at epoch " +
                         std::to_string(applied->epoch) + ")");
    return {};
}

} // namespace

std::string check_epoch(const std::string& cluster, uint64_t epoch, const uint64_t* floor,
                        const MasterAt* applied, uint64_t max_epoch_jump) {
    std::string where = "cluster " + cluster + ": epoch " + std::to_string(epoch);
    if (floor && epoch < *floor)
        return where + " is below the epoch " + std::to_string(*floor) +
               " this engine already had applied";
    if (!applied)
        return ""; // nothing applied: no reference, as the engine's rule 5
    if (epoch > applied->epoch && epoch - applied->epoch > max_epoch_jump)
        return where + " jumps more than max_epoch_jump (" + std::to_string(max_epoch_jump) +
               ") over the applied epoch " + std::to_string(applied->epoch);
    return "";
}

EngineCheck check_engine_message(const proto::Message& m, const EngineMessageContext& ctx) {
    if (auto* r = std::get_if<proto::Ready>(&m))
        return check_ready(*r, ctx);
    if (auto* mm = std::get_if<proto::Master>(&m))
        return check_master(*mm, ctx);
    if (auto* f = std::get_if<proto::Fence>(&m))
        return check_fence_request("fence", f->cluster, f->master, f->epoch, ctx);
    if (auto* u = std::get_if<proto::Unfence>(&m))
        return check_fence_request("unfence", u->cluster, u->master, u->epoch, ctx);
    return violation(std::string("unexpected message ") + proto::type_name(proto::message_type(m)) +
                     " from the engine");
}

} // namespace rh
