// fuzz-sources: src/engine/api_json.cc src/engine/json_writer.cc src/engine/events.cc src/common/address.cc src/common/validate.cc src/common/log.cc
// libFuzzer target: bytes -> the /api/events query parser and renderer, and
// the event log. The query comes from any API client; the recorded strings
// from Sentinels. Checks: the reply is 200 or 400, valid JSON; a 200 holds
// at most n events; every recorded string is printable and bounded.
#include <jansson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/api_json.h"
#include "engine/events.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2)
        return 0;
    std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
    size_t cut = data[0] % (in.size() + 1);
    std::string_view query = in.substr(0, cut), text = in.substr(cut);

    rh::EventLog log;
    // Records from the input: each byte of `text` picks a kind and reason,
    // the rest of it is the detail's strings.
    for (size_t i = 0; i < text.size() && i < 600; i++) {
        auto kind = static_cast<rh::EventKind>(static_cast<uint8_t>(text[i]) % 6);
        auto reason = static_cast<rh::EventReason>((static_cast<uint8_t>(text[i]) >> 2) % 30);
        std::string s(text.substr(i, 40));
        log.record(
            static_cast<int64_t>(i), i % 3 ? "main" : s, kind, reason,
            {rh::HostPort{s, static_cast<uint16_t>(i)}, i, s, ((data[1] >> (i % 8)) & 1) != 0, s});
    }
    if (log.size() > rh::kEventCapacity)
        abort();
    rh::ApiView v;
    rh::ApiCluster c;
    c.name = "main";
    v.clusters.push_back(c);
    v.events = log.last();
    for (const auto& e : v.events)
        for (const std::string* s : {&e.cluster, &e.detail.sentinel, &e.detail.text})
            for (unsigned char ch : *s)
                if (ch < 0x20 || ch >= 0x7f || s->size() > rh::kEventTextMax)
                    abort();
    rh::ApiResponse r = rh::render_events(v, query);
    if (r.status != 200 && r.status != 400)
        abort();
    json_error_t err;
    json_t* j = json_loads(r.body.c_str(), 0, &err);
    if (!j)
        abort();
    std::string why;
    auto q = rh::parse_events_query(query, &why);
    if (r.status == 200 && q && q->n != 0 && json_array_size(json_object_get(j, "events")) > q->n)
        abort();
    json_decref(j);
    return 0;
}
