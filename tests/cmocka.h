// cmocka 1.1.5 has no extern "C" guard and needs these headers first. It also
// defines macros named fail() and skip(), which clash with the standard
// library: include every C++ header before this one (the common ones are
// included here for that reason).
#pragma once

#include <chrono>
#include <functional>
#include <ios>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include <cmocka.h>
}
