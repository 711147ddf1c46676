// Stage 2 of parsing the configuration: the meaning of each section and key
// read by ini::read(). Every key is in a table of its section with its value
// parser; a bad value, an unknown or duplicate key or section, and a missing
// required key is an error naming its line. Internal to src/config.
#pragma once

#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/ini.h"

namespace rh {

// Fills c from sections, appending every error to *errors.
void interpret(const std::vector<ini::Section>& sections, std::string_view filename, Config& c,
               std::vector<ConfigError>* errors);

} // namespace rh
