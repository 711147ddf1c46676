// Confirmer: asks a candidate master "ROLE" over a fresh connection.
//
// A new master is shown to HAProxy and Consul only after it answers ROLE
// with "master". The connection is always closed afterwards. One
// confirmation at a time per Confirmer; confirm() while busy cancels the
// previous one. Destroying the Confirmer cancels too: no callback runs after
// destruction or cancel(). The callback may destroy the Confirmer.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/address.h"
#include "common/evutil.h"
#include "engine/redis_async.h"
#include "engine/sentinel_proto.h"

namespace rh {

struct ConfirmResult {
    enum class Role { master, not_master, error };
    Role role = Role::error;
    // not_master: the role it reported ("slave"); error: why ("connect:
    // Connection refused", "timeout after 2000 ms", "bad ROLE reply: ...").
    std::string detail;
    // The IP literal the check connected to (the candidate's host name
    // resolved); empty when it never got that far.
    std::string addr{};
    // The ROLE answer's details (offset; a replica's master and state), when
    // it had them: the read backend's checks use them.
    std::optional<sentinel::RoleInfo> info{};
    // The candidate's host name did not resolve: why ("" otherwise).
    std::string resolve_error{};
};
const char* confirm_role_name(ConfirmResult::Role r);

class Confirmer {
  public:
    using Callback = std::function<void(const HostPort& candidate, const ConfirmResult&)>;

    explicit Confirmer(event_base* base);
    ~Confirmer();
    Confirmer(const Confirmer&) = delete;
    Confirmer& operator=(const Confirmer&) = delete;

    void confirm(HostPort candidate, std::string password, std::chrono::milliseconds timeout,
                 Callback cb);
    // ACL user and transport (TLS) of the next confirm()s.
    void set_transport(std::string username, RedisConnOptions opts) {
        username_ = std::move(username);
        opts_ = std::move(opts);
    }
    void cancel();
    bool busy() const { return conn_ != nullptr; }
    // A callback is still to come: from confirm() until it ran or cancel().
    bool pending() const { return static_cast<bool>(cb_); }

  private:
    void ask_role();
    void finish(ConfirmResult::Role role, std::string detail);
    void deliver();

    event_base* base_;
    HostPort candidate_;
    std::string password_;
    std::string username_;
    RedisConnOptions opts_;
    std::chrono::milliseconds timeout_{0};
    Callback cb_;
    std::unique_ptr<RedisConn> conn_;
    std::unique_ptr<RedisConn> dead_; // closed in a callback, freed from notify_
    ConfirmResult result_;
    std::optional<sentinel::RoleInfo> info_; // of the answer being finished
    Timer timeout_timer_, notify_;
};

} // namespace rh
