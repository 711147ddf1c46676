// The parent's check of each message from the engine, after the codec has
// accepted its shape (OpenSSH's monitor, OpenNTPD's dispatch_imsg): the
// engine may send only Ready (once, for the current configuration
// generation) and Master (after Ready, for a configured cluster, with a
// valid address). Anything else is a protocol violation, and the caller
// kills the engine. Pure, so each rejection is unit-tested.
#pragma once

#include <cstdint>
#include <string>

#include "common/proto.h"

namespace rh {

struct Config;

struct EngineMessageContext {
    const Config* config = nullptr;
    uint64_t generation = 0;
    bool ready = false; // Ready already received
};

// Empty when m is acceptable, else the violation.
std::string check_engine_message(const proto::Message& m, const EngineMessageContext& ctx);

} // namespace rh
