#include "parent/engine_check.h"

#include <set>

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

// The cluster's position in ctx.config->clusters, if it is configured.
std::optional<size_t> position(const std::string& cluster, const EngineMessageContext& ctx) {
    if (ctx.configured)
        return ctx.configured->position(cluster);
    const auto& list = ctx.config->clusters;
    for (size_t i = 0; i < list.size(); i++)
        if (list[i].name == cluster)
            return i;
    return std::nullopt;
}

const ClusterConfig* cluster_config(const std::string& name, const EngineMessageContext& ctx) {
    auto i = position(name, ctx);
    return i ? &ctx.config->clusters[*i] : nullptr;
}

EngineCheck check_master(const proto::Master& m, const EngineMessageContext& ctx) {
    if (!ctx.ready)
        return violation("master: before ready");
    auto pos = position(m.cluster, ctx);
    if (!pos)
        return violation("master: cluster " + m.cluster + " is not configured");
    if (!valid_host(m.master.host) || m.master.port == 0)
        return violation("master: invalid address for cluster " + m.cluster);
    // addr is the IP literal the engine's ROLE check reached; a master named
    // by an IP literal can only have been reached there.
    if (!is_ip_literal(m.addr) || (is_ip_literal(m.master.host) && m.addr != m.master.host))
        return violation("master: invalid resolved address for cluster " + m.cluster);
    const MasterAt* applied = nullptr;
    if (ctx.applied)
        if (auto it = ctx.applied->find(m.cluster); it != ctx.applied->end())
            applied = &it->second;
    const uint64_t* floor = nullptr;
    if (ctx.floors && ctx.floors->size() == ctx.config->clusters.size() && (*ctx.floors)[*pos])
        floor = &(*ctx.floors)[*pos];
    std::string why = check_epoch(m.cluster, m.epoch, floor, applied, ctx.config->max_epoch_jump);
    if (!why.empty())
        return {EngineCheck::Kind::refuse, std::move(why)};
    return {};
}

// The read backend of a configured cluster that has one: at most
// max_replicas replicas, each in its own slot below max_replicas, each at
// an IP literal (its own host, or the addr its ROLE check used), none
// twice, none the cluster's current master.
EngineCheck check_replicas(const proto::Replicas& r, const EngineMessageContext& ctx) {
    if (!ctx.ready)
        return violation("replicas: before ready");
    const ClusterConfig* cl = cluster_config(r.cluster, ctx);
    if (!cl)
        return violation("replicas: cluster " + r.cluster + " is not configured");
    std::string where = "replicas: cluster " + r.cluster + ": ";
    if (cl->replica_backend().empty())
        return violation(where + "no replica_backend is configured");
    if (ctx.master_refused && ctx.master_refused->count(r.cluster))
        return {EngineCheck::Kind::refuse,
                where + "follows a master that was refused; ignored until one is accepted"};
    if (r.replicas.size() > cl->max_replicas)
        return violation(where + std::to_string(r.replicas.size()) + " replicas, max_replicas is " +
                         std::to_string(cl->max_replicas));
    const MasterAt* master = nullptr;
    if (ctx.desired)
        master = ctx.desired(r.cluster);
    if (!r.replicas.empty() && !master)
        return violation(where + "replicas before a confirmed master");
    std::set<uint16_t> slots;
    std::set<HostPort> seen;
    // The master by every name it has: its announced host and the address
    // its ROLE check reached, each in one spelling, so "0:0::1" or
    // "::ffff:10.0.0.1" cannot slip the master into the read backend.
    std::set<HostPort> masters;
    if (master) {
        masters.insert(master->master);
        masters.insert({canonical_ip(master->master.host), master->master.port});
        masters.insert({canonical_ip(master->address()), master->master.port});
    }
    for (const auto& x : r.replicas) {
        HostPort ip{canonical_ip(x.addr.empty() ? x.replica.host : x.addr), x.replica.port};
        std::string who = format_host_port(x.replica);
        if (!valid_host(x.replica.host) || x.replica.port == 0 ||
            (!is_ipv4_literal(ip.host) && !is_ipv6_literal(ip.host)))
            return violation(where + "replica " + who + " has no valid IP address");
        if (x.slot >= cl->max_replicas || !slots.insert(x.slot).second)
            return violation(where + "replica " + who + ": slot " + std::to_string(x.slot) +
                             " out of range or used twice");
        if (!seen.insert(ip).second)
            return violation(where + "replica " + who + " listed twice");
        if (masters.count(x.replica) || masters.count(ip))
            return violation(where + "replica " + who + " is the current master");
    }
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
    const ClusterConfig* cc = cluster_config(cluster, ctx);
    if (!cc)
        return violation(w + ": cluster " + cluster + " is not configured");
    if (!cc->fence)
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
    if (auto* rr = std::get_if<proto::Replicas>(&m))
        return check_replicas(*rr, ctx);
    if (auto* f = std::get_if<proto::Fence>(&m))
        return check_fence_request("fence", f->cluster, f->master, f->epoch, ctx);
    if (auto* u = std::get_if<proto::Unfence>(&m))
        return check_fence_request("unfence", u->cluster, u->master, u->epoch, ctx);
    return violation(std::string("unexpected message ") + proto::type_name(proto::message_type(m)) +
                     " from the engine");
}

} // namespace rh
