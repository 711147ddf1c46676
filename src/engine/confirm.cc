// Confirmer: ROLE over a fresh connection, with our own timeout.
#include "engine/confirm.h"

#include <hiredis/hiredis.h>

#include <utility>

#include "engine/sentinel_proto.h"

namespace rh {

const char* confirm_role_name(ConfirmResult::Role r) {
    switch (r) {
    case ConfirmResult::Role::master:
        return "master";
    case ConfirmResult::Role::not_master:
        return "not master";
    case ConfirmResult::Role::error:
        return "error";
    }
    return "unknown";
}

Confirmer::Confirmer(event_base* base)
    : base_(base),
      timeout_timer_(base,
                     [this] {
                         finish(ConfirmResult::Role::error,
                                "timeout after " + std::to_string(timeout_.count()) + " ms");
                     }),
      notify_(base, [this] { deliver(); }) {}

Confirmer::~Confirmer() {
    cancel();
}

void Confirmer::cancel() {
    timeout_timer_.cancel();
    notify_.cancel();
    cb_ = nullptr;
    conn_.reset(); // we are never inside its callbacks here: those only arm notify_
    dead_.reset();
}

void Confirmer::confirm(HostPort candidate, std::string password, std::chrono::milliseconds timeout,
                        Callback cb) {
    cancel();
    info_.reset();
    candidate_ = std::move(candidate);
    password_ = std::move(password);
    timeout_ = timeout;
    cb_ = std::move(cb);
    RedisConnOptions opts = opts_;
    opts.keepalive = false; // one command, under timeout_
    opts.reset_on_close = true;
    conn_ = std::make_unique<RedisConn>(
        base_, candidate_,
        RedisConn::Callbacks{
            [this] { ask_role(); },
            [this](const std::string& e) { finish(ConfirmResult::Role::error, e); }, nullptr},
        std::move(opts));
    timeout_timer_.arm(timeout_);
    std::string err;
    if (!conn_->connect(&err))
        finish(ConfirmResult::Role::error, "connect: " + err);
}

void Confirmer::ask_role() {
    auto on_role = [this](redisReply* r) {
        if (!r) {
            finish(ConfirmResult::Role::error, "connection lost awaiting ROLE");
            return;
        }
        auto role = sentinel::parse_role(r);
        if (!role) {
            finish(ConfirmResult::Role::error, "bad ROLE reply: " + role.error);
            return;
        }
        if (auto info = sentinel::parse_role_info(r))
            info_ = std::move(*info.value);
        if (*role.value == "master")
            finish(ConfirmResult::Role::master, "master");
        else
            finish(ConfirmResult::Role::not_master, *role.value);
    };
    if (!password_.empty()) {
        std::vector<std::string> auth{"AUTH", password_};
        if (!username_.empty())
            auth = {"AUTH", username_, password_};
        conn_->command(auth, [this](redisReply* r) {
            if (r && r->type == REDIS_REPLY_ERROR)
                finish(ConfirmResult::Role::error,
                       "AUTH failed: " + std::string(r->str, std::min<size_t>(r->len, 200)));
        });
    }
    if (!conn_->command({"ROLE"}, on_role))
        finish(ConfirmResult::Role::error, "cannot send ROLE");
}

// Records the first outcome, closes the connection and reports from a timer,
// outside hiredis's callbacks.
void Confirmer::finish(ConfirmResult::Role role, std::string detail) {
    if (!conn_)
        return;
    timeout_timer_.cancel();
    result_ = ConfirmResult{role, std::move(detail), {}, std::exchange(info_, std::nullopt)};
    conn_->close();
    dead_ = std::move(conn_);
    notify_.arm(std::chrono::microseconds(0));
}

void Confirmer::deliver() {
    dead_.reset();
    Callback cb = std::move(cb_);
    cb_ = nullptr;
    ConfirmResult res = result_;
    HostPort who = candidate_;
    if (is_ip_literal(who.host))
        res.addr = who.host;
    if (cb)
        cb(who, res); // may destroy *this: touch nothing after
}

} // namespace rh
