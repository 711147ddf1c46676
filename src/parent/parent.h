// The privileged parent: configuration, supervision of the engine, and (in
// later work) everything that writes files or runs commands. It has no
// network sockets of its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/proto.h"

namespace rh {

struct Config;
struct ConfigError;

struct Options {
    std::string config_path;
    bool foreground = false;
    int verbosity = 0;
};

// Everything -n checks: the file, its environment, and that the HAProxy
// template parses and renders. Fills *template_text when there is one.
std::vector<ConfigError> load_and_check(const std::string& path, Config* out,
                                        std::string* template_text);

// The parent's check of one message from the engine, after the codec
// accepted it: only Ready (once, for the current configuration generation)
// and Master (after Ready, for a configured cluster, with a valid address)
// are allowed. Returns an empty string if acceptable, else the violation.
// Pure, so each rejection is unit-tested.
struct EngineMessageContext {
    const Config* config = nullptr;
    uint64_t generation = 0;
    bool ready = false; // Ready already received
};
std::string check_engine_message(const proto::Message& m, const EngineMessageContext& ctx);

// Runs the parent until SIGTERM/SIGINT; returns the process exit status.
int parent_main(const Options& opts);

// Runs the engine (re-executed by the parent with -E, channel on fd 3).
int engine_main(const Options& opts);

} // namespace rh
