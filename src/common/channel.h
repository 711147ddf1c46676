// One end of the parent/engine socketpair on a libevent loop, in the manner
// of tmux's proc.c: one callback reads and dispatches every complete message;
// EOF, a read error or any protocol violation is reported once through
// on_error, after which the channel is closed and delivers nothing more.
#pragma once

#include <event2/bufferevent.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/proto.h"

namespace rh {

// The engine is re-executed with its end of the socketpair on this
// descriptor; both sides use this constant.
inline constexpr int kEngineChannelFd = 3;

class Channel {
  public:
    using OnMessage = std::function<void(proto::Message&&)>;
    // eof: the peer closed the channel in an orderly way (it is exiting);
    // otherwise a read error or a protocol violation.
    using OnError = std::function<void(const std::string& why, bool eof)>;

    // Takes ownership of fd.
    Channel(event_base* base, int fd, OnMessage on_message, OnError on_error);
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    // Queues a message. False if it cannot be encoded (too large) or the
    // channel is closed.
    bool send(const proto::Message& m);
    bool open() const { return bev_ != nullptr; }
    // Bytes queued but not yet written.
    size_t pending_output() const;
    void close();

  private:
    static void read_cb(bufferevent* bev, void* arg);
    static void event_cb(bufferevent* bev, short what, void* arg);
    void drain();
    void fail(const std::string& why, bool eof = false);

    bufferevent* bev_ = nullptr;
    OnMessage on_message_;
    OnError on_error_;
    uint32_t out_seq_ = 0;
    uint32_t in_seq_ = 0;
};

} // namespace rh
