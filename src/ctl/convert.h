// Migration from the original redishappy (the Go daemon) JSON configuration
// to redishappyd's INI file. Pure, no I/O: the caller reads the file and
// prints the result.
//
// The original decoded its file with Go's encoding/json, which matches keys
// without regard to ASCII case; so does this converter. Unknown keys are
// warnings, wrong types and values redishappyd cannot take are errors that
// name the JSON path (e.g. "Clusters[0].ExternalPort: ..."). Every value
// written to the INI text is checked against the INI reader's rules (no
// control characters, no leading or trailing white space, no " ;" that would
// start an inline comment, lines of at most 198 characters), so the text
// parse_config() reads back is exactly what was converted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rh {

struct ConvertResult {
    std::string ini;                   // the INI text; empty when errors is non-empty
    std::vector<std::string> warnings; // each a full sentence, e.g. "Consul.Services[1]: ..."
    std::vector<std::string> errors;   // "line:col: ..." for JSON syntax errors, or a JSON path
    bool has_haproxy = false;          // the INI has an [haproxy] section (template to rewrite)
};

// source_name only appears in the header comment of the INI text.
ConvertResult convert_original_config(std::string_view json, std::string_view source_name);

// How to rewrite the original's Go template as a mustache template.
std::string template_guidance();

} // namespace rh
