#include "config/ini.h"

#include <ini.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace rh::ini {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

namespace {

struct Reader {
    std::string_view text;
    size_t pos = 0;
    int lineno = 0;
    std::vector<Section> sections;
    int current = -1;     // index into sections; -1 before any, -2 after a bad header
    int pending_line = 0; // a "key = value" line inih has not yet handed to us
    std::vector<std::pair<int, std::string>> errors;
    bool failed = false; // an exception stopped the parse

    void error(int line, std::string msg) { errors.emplace_back(line, std::move(msg)); }

    // inih gave no handler call for the last key line: it found no '='.
    void flush_pending() {
        if (pending_line != 0)
            error(pending_line, "syntax error: expected \"key = value\"");
        pending_line = 0;
    }

    void start_section(std::string_view line) {
        auto close = line.find(']');
        if (close == std::string_view::npos) {
            error(lineno, "syntax error: section header without ']'");
            current = -2;
            return;
        }
        auto rest = trim(line.substr(close + 1));
        if (!rest.empty() && rest.front() != ';' && rest.front() != '#') {
            error(lineno, "syntax error: text after section header");
            current = -2;
            return;
        }
        sections.push_back(Section{std::string(trim(line.substr(1, close - 1))), lineno, {}});
        current = static_cast<int>(sections.size()) - 1;
    }

    // Returns the next line for inih, or nullptr at the end.
    char* next(char* buf, int size) {
        flush_pending();
        if (pos >= text.size())
            return nullptr;
        auto end = text.find('\n', pos);
        auto len = (end == std::string_view::npos ? text.size() : end + 1) - pos;
        auto raw = text.substr(pos, len);
        pos += len;
        lineno++;
        // Left-trim: inih would take an indented line as a continuation.
        while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t'))
            raw.remove_prefix(1);
        std::string_view body = trim(raw);
        if (raw.find('\0') != std::string_view::npos) {
            error(lineno, "NUL byte in line");
            body = {};
        } else if (body.size() + 2 > static_cast<size_t>(size)) {
            error(lineno, "line too long (limit " + std::to_string(size - 2) + " characters)");
            body = {};
        }
        classify(body);
        if (!body.empty())
            std::memcpy(buf, body.data(), body.size());
        buf[body.size()] = '\n';
        buf[body.size() + 1] = '\0';
        return buf;
    }

    void classify(std::string_view body) {
        if (body.empty() || body.front() == ';' || body.front() == '#')
            return;
        if (body.front() == '[') {
            start_section(body);
            return;
        }
        pending_line = lineno;
    }

    void entry(const char* name, const char* value) {
        pending_line = 0;
        if (current == -2)
            return; // already reported the broken header
        if (current < 0) {
            error(lineno, "key '" + std::string(name) + "' outside of any section");
            return;
        }
        sections[current].entries.push_back(Entry{name, value ? value : "", lineno});
    }
};

// No exception may unwind through inih: a failure ends the parse and is
// reported after ini_parse_stream() returns.
extern "C" char* reader_trampoline(char* buf, int size, void* stream) {
    auto* r = static_cast<Reader*>(stream);
    try {
        return r->next(buf, size);
    } catch (...) {
        r->failed = true;
        return nullptr;
    }
}

extern "C" int handler_trampoline(void* user, const char*, const char* name, const char* value) {
    auto* r = static_cast<Reader*>(user);
    try {
        if (name) // NULL only for a new section, which this build does not report
            r->entry(name, value);
        return 1;
    } catch (...) {
        r->failed = true;
        return 0;
    }
}

} // namespace

std::vector<Section> read(std::string_view text, std::string_view filename,
                          std::vector<ConfigError>* errors) {
    Reader reader;
    reader.text = text;
    int rc = ini_parse_stream(reader_trampoline, &reader, handler_trampoline, &reader);
    reader.flush_pending();
    for (auto& [line, msg] : reader.errors)
        errors->push_back(ConfigError{std::string(filename), line, msg});
    if (rc < 0 || reader.failed)
        errors->push_back(ConfigError{std::string(filename), 0, "out of memory while parsing"});
    else if (rc > 0 && std::none_of(reader.errors.begin(), reader.errors.end(),
                                    [&](const auto& e) { return e.first == rc; }))
        errors->push_back(ConfigError{std::string(filename), rc, "syntax error"});
    return std::move(reader.sections);
}

} // namespace rh::ini
