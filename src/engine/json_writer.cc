// The API's JSON writer; see json_writer.h.
#include "engine/json_writer.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "common/log.h"

namespace rh {

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
    if (!log::valid_utf8(s)) {
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
