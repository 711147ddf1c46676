// The privileged parent: reads the configuration, supervises the engine
// (supervisor.h), checks what it says (engine_check.h) and owns every
// output (output.h). It has no network sockets of its own.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace rh {

struct Config;
struct ConfigError;

struct Options {
    std::string config_path;
    bool foreground = false;
    int verbosity = 0;
    // What only the engine's libraries can check (OpenSSL loads, a key
    // matches its certificate), run in a child so that the parent never
    // maps them: at start, on SIGHUP (a failure keeps the running
    // configuration) and by -n. Unset: nothing to check.
    std::function<std::vector<ConfigError>(const Config&)> check_libraries;
};

// Everything -n checks: the file, its environment, and that the HAProxy
// template parses and renders. Fills *template_text when there is one.
std::vector<ConfigError> load_and_check(const std::string& path, Config* out,
                                        std::string* template_text);

// Runs the parent until SIGTERM/SIGINT; returns the process exit status.
int parent_main(const Options& opts);

} // namespace rh
