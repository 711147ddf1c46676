// The API's JSON writer; see json_writer.h.
#include "engine/json_writer.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common/log.h"

namespace rh {

namespace {

// The length of the UTF-8 sequence at s[i], or 0 if it is not one.
size_t sequence_length(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    unsigned char c = b(0);
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    if (n == 0 || i + n > s.size())
        return 0;
    uint32_t cp = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < n; k++) {
        if ((b(k) & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (b(k) & 0x3F);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
        return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))
        return 0;
    return n;
}

} // namespace

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        size_t n = sequence_length(s, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

void JsonWriter::separate() {
    if (need_comma_)
        out_ += ',';
}

JsonWriter& JsonWriter::open(char c) {
    separate();
    out_ += c;
    need_comma_ = false;
    return *this;
}

JsonWriter& JsonWriter::close(char c) {
    out_ += c;
    need_comma_ = true;
    return *this;
}

void JsonWriter::quoted(std::string_view s) {
    std::string escaped;
    if (!valid_utf8(s)) {
        log::escape(s, &escaped);
        s = escaped;
    }
    out_ += '"';
    size_t run = 0; // start of the bytes not yet copied
    for (size_t i = 0; i < s.size(); i++) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        out_.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            out_ += "\\\"";
            break;
        case '\\':
            out_ += "\\\\";
            break;
        case '\b':
            out_ += "\\b";
            break;
        case '\f':
            out_ += "\\f";
            break;
        case '\n':
            out_ += "\\n";
            break;
        case '\r':
            out_ += "\\r";
            break;
        case '\t':
            out_ += "\\t";
            break;
        default: {
            char u[8];
            std::snprintf(u, sizeof u, "\\u%04X", c);
            out_ += u;
        }
        }
    }
    out_.append(s.data() + run, s.size() - run);
    out_ += '"';
}

JsonWriter& JsonWriter::key(std::string_view k) {
    separate();
    quoted(k);
    out_ += ':';
    need_comma_ = false;
    return *this;
}

JsonWriter& JsonWriter::string(std::string_view s) {
    separate();
    quoted(s);
    need_comma_ = true;
    return *this;
}

JsonWriter& JsonWriter::integer(int64_t v) {
    separate();
    char buf[24];
    std::snprintf(buf, sizeof buf, "%" PRId64, v);
    out_ += buf;
    need_comma_ = true;
    return *this;
}

JsonWriter& JsonWriter::real(double v) {
    if (!std::isfinite(v))
        return null();
    separate();
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    std::string_view t(buf);
    // As jansson: an integral value keeps a ".0"; an exponent loses its
    // '+' and leading zeros ("1e+05" -> "1e5").
    size_t e = t.find('e');
    if (e == std::string_view::npos) {
        out_ += t;
        if (t.find('.') == std::string_view::npos)
            out_ += ".0";
    } else {
        out_ += t.substr(0, e + 1);
        size_t i = e + 1;
        if (t[i] == '+')
            i++;
        else if (t[i] == '-')
            out_ += t[i++];
        while (i + 1 < t.size() && t[i] == '0')
            i++;
        out_ += t.substr(i);
    }
    need_comma_ = true;
    return *this;
}

JsonWriter& JsonWriter::boolean(bool b) {
    separate();
    out_ += b ? "true" : "false";
    need_comma_ = true;
    return *this;
}

JsonWriter& JsonWriter::null() {
    separate();
    out_ += "null";
    need_comma_ = true;
    return *this;
}

} // namespace rh
