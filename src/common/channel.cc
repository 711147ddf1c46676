#include "common/channel.h"

#include <event2/buffer.h>

#include <cerrno>
#include <cstring>

#include "common/evutil.h"
#include "common/log.h"

namespace rh {

Channel::Channel(event_base* base, int fd, OnMessage on_message, OnError on_error)
    : on_message_(std::move(on_message)), on_error_(std::move(on_error)) {
    evutil_make_socket_nonblocking(fd);
    bev_ = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev_)
        log::fatalx("bufferevent_socket_new failed");
    bufferevent_setcb(bev_, &Channel::read_cb, nullptr, &Channel::event_cb, this);
    bufferevent_enable(bev_, EV_READ | EV_WRITE);
}

Channel::~Channel() {
    close();
}

void Channel::close() {
    if (bev_) {
        bufferevent_free(bev_);
        bev_ = nullptr;
    }
}

size_t Channel::pending_output() const {
    return bev_ ? evbuffer_get_length(bufferevent_get_output(bev_)) : 0;
}

bool Channel::send(const proto::Message& m) {
    if (!bev_)
        return false;
    std::string err;
    auto frame = proto::encode(m, ++out_seq_, &err);
    if (!frame) {
        log::error("channel: cannot send: %s", err.c_str());
        return false;
    }
    return bufferevent_write(bev_, frame->data(), frame->size()) == 0;
}

void Channel::fail(const std::string& why, bool eof) {
    close();
    if (on_error_)
        on_error_(why, eof);
}

void Channel::drain() {
    while (bev_) {
        evbuffer* in = bufferevent_get_input(bev_);
        size_t avail = evbuffer_get_length(in);
        if (avail < proto::kHeaderSize)
            return;
        auto* head = evbuffer_pullup(in, proto::kHeaderSize);
        proto::Header hdr;
        std::string err;
        auto st =
            proto::parse_header(std::span<const uint8_t>(head, proto::kHeaderSize), &hdr, &err);
        if (st == proto::FrameStatus::Invalid)
            return fail(err);
        size_t total = proto::kHeaderSize + hdr.length;
        if (avail < total)
            return;
        auto* frame = evbuffer_pullup(in, static_cast<ev_ssize_t>(total));
        auto msg = proto::decode(
            hdr, std::span<const uint8_t>(frame + proto::kHeaderSize, hdr.length), &err);
        evbuffer_drain(in, total);
        if (!msg)
            return fail(err);
        if (hdr.seq != in_seq_ + 1)
            return fail(std::string(proto::type_name(hdr.type)) + ": sequence number " +
                        std::to_string(hdr.seq) + ", expected " + std::to_string(in_seq_ + 1));
        in_seq_ = hdr.seq;
        on_message_(std::move(*msg));
    }
}

void Channel::read_cb(bufferevent*, void* arg) {
    auto* self = static_cast<Channel*>(arg);
    guarded("channel read", [self] { self->drain(); });
}

void Channel::event_cb(bufferevent*, short what, void* arg) {
    auto* self = static_cast<Channel*>(arg);
    guarded("channel event", [self, what] {
        if (what & BEV_EVENT_EOF)
            self->fail("peer closed the channel", true);
        else if (what & BEV_EVENT_ERROR) {
            int err = EVUTIL_SOCKET_ERROR();
            // A peer that exits with our writes unread is gone, not hostile.
            bool gone = err == EPIPE || err == ECONNRESET;
            self->fail(std::string("channel error: ") + evutil_socket_error_to_string(err), gone);
        }
    });
}

} // namespace rh
