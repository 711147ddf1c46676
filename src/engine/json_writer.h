// JSON written straight into a string, for the API's answers.
//
// They were built as jansson trees and then dumped: at 10,000 clusters one
// /api/topology made about 200,000 small objects and a 6 MB text grown by
// doubling, some 60 MB at its peak, and freeing them left the engine's heap
// fragmented for good. The writer makes the text jansson's json_dumps()
// made with JSON_COMPACT, byte for byte (object keys in the order written;
// reals as "%.17g" with ".0" added to an integral value; control
// characters as \uXXXX), without the tree.
//
// Text from the network (a Sentinel's error, an announced name) may be any
// bytes: a string or key that is not UTF-8 (log::valid_utf8, jansson's
// rule too) is written escaped as the log shows it (log::escape), where
// jansson would have refused it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rh {

class JsonWriter {
  public:
    explicit JsonWriter(std::string& out) : out_(out) {}

    JsonWriter& begin_object() { return open('{'); }
    JsonWriter& end_object() { return close('}'); }
    JsonWriter& begin_array() { return open('['); }
    JsonWriter& end_array() { return close(']'); }
    // The key of the next value in the object being written.
    JsonWriter& key(std::string_view k);

    JsonWriter& string(std::string_view s);
    JsonWriter& integer(int64_t v);
    JsonWriter& real(double v); // null when not finite (JSON has no NaN)
    JsonWriter& boolean(bool b);
    JsonWriter& null();

  private:
    JsonWriter& open(char c);
    JsonWriter& close(char c);
    void separate(); // the comma before a key or an array element
    void quoted(std::string_view s);

    std::string& out_;
    bool need_comma_ = false;
};

} // namespace rh
