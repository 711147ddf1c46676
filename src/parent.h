// The privileged parent: configuration, supervision of the engine, and (in
// later work) everything that writes files or runs commands. It has no
// network sockets of its own.
#pragma once

#include <string>

namespace rh {

struct Options {
    std::string config_path;
    bool foreground = false;
    int verbosity = 0;
};

// Runs the parent until SIGTERM/SIGINT; returns the process exit status.
int parent_main(const Options& opts);

// Runs the engine (re-executed by the parent with -E, channel on fd 3).
int engine_main(const Options& opts);

} // namespace rh
