// Unit tests for the API's JSON writer (src/engine/json_writer.cc): the
// text jansson's json_dumps(JSON_COMPACT) made, and valid JSON for any
// bytes (checked by parsing it back with jansson).
#include <jansson.h>

#include <cstring>
#include <random>
#include <string>

#include "common/log.h"
#include "engine/json_writer.h"

// cmocka last: its fail() macro clashes with std::ios::fail.
#include "../../cmocka.h"

using namespace rh;

static void commas_and_nesting(void**) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().key("a").integer(1).key("b").begin_array();
    w.begin_object().end_object().begin_array().end_array().null().boolean(true).boolean(false);
    w.end_array().key("c").string("x").key("d").begin_object().key("e").integer(-5);
    w.end_object().end_object();
    assert_string_equal(out.c_str(), R"({"a":1,"b":[{},[],null,true,false],"c":"x","d":{"e":-5}})");
}

static void strings_are_escaped_as_jansson_escapes_them(void**) {
    std::string out;
    JsonWriter(out).string("q\" b\\ s/ \b\f\n\r\t \x01\x1f\x7f \xc3\xa9");
    assert_string_equal(out.c_str(),
                        "\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t \\u0001\\u001F\x7f \xc3\xa9\"");
    out.clear();
    JsonWriter(out).string(std::string("a\0b", 3));
    assert_string_equal(out.c_str(), "\"a\\u0000b\"");
}

static void reals_are_written_as_jansson_writes_them(void**) {
    struct {
        double v;
        const char* text;
    } cases[] = {{0.35, "0.34999999999999998"},
                 {2.0, "2.0"},
                 {0.0, "0.0"},
                 {-3.0, "-3.0"},
                 {1e21, "1e21"},
                 {1.5e-7, "1.4999999999999999e-7"}};
    for (const auto& c : cases) {
        std::string out;
        JsonWriter(out).real(c.v);
        assert_string_equal(out.c_str(), c.text);
    }
    std::string out;
    JsonWriter(out).begin_array().real(0.0 / 0.0).real(1.0 / 0.0).end_array();
    assert_string_equal(out.c_str(), "[null,null]");
}

static void utf8_is_judged_as_jansson_judges_it(void**) {
    assert_true(log::valid_utf8(""));
    assert_true(log::valid_utf8("plain"));
    assert_true(log::valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")); // é € 😀
    assert_false(log::valid_utf8("\xff"));
    assert_false(log::valid_utf8("\xc0\x80"));         // overlong NUL
    assert_false(log::valid_utf8("\xe0\x80\xaf"));     // overlong '/'
    assert_false(log::valid_utf8("\xed\xa0\x80"));     // surrogate
    assert_false(log::valid_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
    assert_false(log::valid_utf8("\xc3"));             // cut short
    assert_false(log::valid_utf8("\xe2\x82"));
}

// Whatever the bytes, the text is JSON; UTF-8 comes back as it went in, and
// anything else as the log shows it (escaped, so still printable).
static void any_bytes_make_valid_json(void**) {
    std::mt19937 rng(7);
    for (int i = 0; i < 5000; i++) {
        std::string s(rng() % 24, '\0');
        for (auto& c : s)
            c = static_cast<char>(rng() % 4 == 0 ? rng() % 0x20 : rng() % 256);
        if (i % 2)
            s = "\xc3\xa9" + std::string(s.size() % 3, 'a'); // some valid ones
        // jansson takes no NUL in a key: those strings are tried as values only.
        bool as_key = s.find('\0') == std::string::npos;
        std::string out;
        JsonWriter w(out);
        w.begin_object().key(as_key ? s : "k").string(s).end_object();
        json_error_t err;
        json_t* j = json_loadb(out.data(), out.size(), JSON_ALLOW_NUL, &err);
        assert_non_null(j);
        assert_int_equal(json_object_size(j), 1);
        const char* k = json_object_iter_key(json_object_iter(j));
        json_t* v = json_object_iter_value(json_object_iter(j));
        if (as_key)
            assert_string_equal(k, json_string_value(v)); // key and value alike
        if (log::valid_utf8(s)) {
            assert_int_equal(json_string_length(v), s.size());
            assert_memory_equal(json_string_value(v), s.data(), s.size());
        } else {
            for (size_t c = 0; c < json_string_length(v); c++)
                assert_true(static_cast<unsigned char>(json_string_value(v)[c]) >= 0x20);
        }
        json_decref(j);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commas_and_nesting),
        cmocka_unit_test(strings_are_escaped_as_jansson_escapes_them),
        cmocka_unit_test(reals_are_written_as_jansson_writes_them),
        cmocka_unit_test(utf8_is_judged_as_jansson_judges_it),
        cmocka_unit_test(any_bytes_make_valid_json),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
