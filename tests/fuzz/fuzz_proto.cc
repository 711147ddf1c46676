// fuzz-sources: src/common/proto.cc src/common/validate.cc src/common/address.cc
// libFuzzer target: the parent's decoder fed arbitrary bytes, as a
// compromised engine could send them. Any frame that decodes must re-encode
// to the same bytes (the codec has one spelling per message).
#include <cstdint>
#include <cstdlib>
#include <span>

#include "common/proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace rh::proto;
    std::span<const uint8_t> buf(data, size);
    while (!buf.empty()) {
        Header h;
        std::string err;
        if (parse_header(buf, &h, &err) != FrameStatus::Complete)
            return 0;
        auto payload = buf.subspan(kHeaderSize, h.length);
        auto m = decode(h, payload, &err);
        if (m) {
            auto again = encode(*m, h.seq, &err);
            if (!again || again->size() != kHeaderSize + h.length ||
                !std::equal(again->begin(), again->end(), buf.begin()))
                abort();
        }
        buf = buf.subspan(kHeaderSize + h.length);
    }
    return 0;
}
