// HAProxy's admin socket ("stats socket PATH level admin"): reply
// classification (pure) and an asynchronous one-shot client.
#pragma once

#include <event2/bufferevent.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/evutil.h"

namespace rh {

// Says whether reply is a success answer to cmd; on failure *why (when
// given) holds the reply or the reason. Known commands are checked against
// their documented answers; anything unexpected is an error.
bool runtime_reply_ok(std::string_view cmd, std::string_view reply, std::string* why);

// The four commands that move backend/server to a new master without any
// client staying on the old one: maint, shutdown sessions, addr, ready.
std::vector<std::string> switch_commands(const std::string& backend, const std::string& server,
                                         const HostPort& to);

// Splits a non-interactive answer to "c1; c2; ..." into one reply per
// command. HAProxy ends each reply with an empty line.
std::vector<std::string> split_replies(std::string_view out);

struct RuntimeResult {
    bool ok = false;
    std::string error;                // names the socket and the failing command
    std::vector<std::string> replies; // one per command when the exchange completed
};

// Sends commands on one connection ("c1; c2; ...\n"), reads until EOF or the
// timeout, checks each reply. One exchange at a time per object; destroying
// the object cancels it without calling back.
class RuntimeClient {
  public:
    using Done = std::function<void(RuntimeResult)>;
    RuntimeClient(event_base* base, std::string socket_path);
    ~RuntimeClient();
    RuntimeClient(const RuntimeClient&) = delete;
    RuntimeClient& operator=(const RuntimeClient&) = delete;

    // Precondition: !busy(). Never calls done synchronously.
    void run(std::vector<std::string> commands, std::chrono::milliseconds timeout, Done done);
    bool busy() const { return bev_ != nullptr || deferred_.has_value(); }

  private:
    static void on_read(bufferevent* bev, void* arg);
    static void on_event(bufferevent* bev, short what, void* arg);
    void finish(RuntimeResult r);
    void fail_exchange(const std::string& why);

    event_base* base_;
    std::string path_;
    bufferevent* bev_ = nullptr;
    std::vector<std::string> cmds_;
    std::string input_;
    Done done_;
    Timer timer_;
    bool in_run_ = false;
    std::optional<RuntimeResult> deferred_; // a failure inside run(), reported from the loop
    Timer defer_timer_;
};

} // namespace rh
