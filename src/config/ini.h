// Stage 1 of parsing the configuration: the INI text, read with inih, into
// sections and "key = value" entries that keep their line numbers. No key
// has a meaning yet (that is interpret.h). Internal to src/config.
//
// inih's handler gets no line numbers in Debian's build, so inih is fed
// through our own line reader, which counts lines, tracks sections itself,
// rejects lines longer than inih's buffer (instead of letting inih truncate
// them) and turns off inih's indented-continuation lines by left-trimming
// each line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace rh::ini {

struct Entry {
    std::string key, value;
    int line;
};

struct Section {
    std::string header; // text between the brackets, trimmed
    int line;
    std::vector<Entry> entries;
};

// Reads text (without a byte-order mark) into its sections. Syntax errors
// are appended to *errors, naming filename and the line.
std::vector<Section> read(std::string_view text, std::string_view filename,
                          std::vector<ConfigError>* errors);

// Without leading and trailing blanks, CR and (trailing) LF.
std::string_view trim(std::string_view s);

} // namespace rh::ini
