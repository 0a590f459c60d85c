// libFuzzer target for ProxyHeaderReader and write_proxy_header.
//
// Invariants, any break aborts:
// - how the bytes are cut into reads never changes the result: the input is read whole, and in
//   two reads split at a position derived from the first byte; both give the same result, error
//   and header;
// - a header that is done ends inside the data, within the protocol's bound, and the same bytes
//   cut just before its end are need_more (so it was decided as early as possible);
// - invalid has a reason and done has none;
// - the addresses of a header that is read, written again and read again come back unchanged.
// Inputs of 38 bytes or more are also turned into endpoints for a write-then-read round trip.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "proxy_protocol/proxy_header.h"

namespace {

using snibind::Endpoint;
using snibind::IpAddress;
using snibind::proxy::ProxyHeader;
using snibind::proxy::ProxyHeaderReader;
using snibind::proxy::ProxyHeaderResult;
using snibind::proxy::ProxyVersion;

struct Outcome {
    ProxyHeaderResult result = ProxyHeaderResult::need_more;
    std::string error;
    ProxyHeader header;

    bool operator==(const Outcome& o) const {
        const ProxyHeader &a = header, &b = o.header;
        return result == o.result && error == o.error && a.version == b.version &&
               a.local == b.local && a.src == b.src && a.dst == b.dst && a.length == b.length;
    }
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
}

// Reads `data` in reads ending at each of `cuts` (ascending, the last one data.size()).
Outcome read_in(ProxyHeaderReader& r, std::span<const std::uint8_t> data,
                std::span<const std::size_t> cuts) {
    ProxyHeaderResult res = ProxyHeaderResult::need_more;
    for (std::size_t cut : cuts) {
        res = r.read(data.first(cut));
        if (res != ProxyHeaderResult::need_more) break;
    }
    return {res, std::string(r.error()), r.header()};
}

void check_done(ProxyHeaderReader& r, std::span<const std::uint8_t> data, const Outcome& whole) {
    const ProxyHeader& h = whole.header;
    if (h.length == 0 || h.length > data.size()) fail("done, but length is outside the data");
    std::size_t bound = h.version == ProxyVersion::v1 ? 107 : ProxyHeaderReader::kMaxV2Length;
    if (h.length > bound) fail("done, but longer than the protocol allows");
    if (r.read(data.first(h.length)) != ProxyHeaderResult::done) fail("header alone not done");
    if (r.read(data.first(h.length - 1)) != ProxyHeaderResult::need_more) {
        fail("header less its last byte is not need_more");
    }
    if (h.local) return;
    auto again = snibind::proxy::write_proxy_header(h.version, h.src, h.dst);
    if (r.read(again.span()) != ProxyHeaderResult::done || r.header().src != h.src ||
        r.header().dst != h.dst || r.header().local || r.header().length != again.size) {
        fail("read, written and read again differs");
    }
}

IpAddress address_from(const std::uint8_t* p, bool v6) {
    if (!v6) {
        return IpAddress::from_v4(std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 |
                                  std::uint32_t{p[2]} << 8 | p[3]);
    }
    std::uint8_t raw[16];
    std::memcpy(raw, p, sizeof raw);
    return IpAddress::from_v6(raw);
}

std::uint16_t port_from(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

// Byte 0 picks the version and the families, then two 16-byte addresses and two ports.
void check_round_trip(ProxyHeaderReader& r, std::span<const std::uint8_t> data) {
    if (data.size() < 38) return;
    auto version = (data[0] & 1) ? ProxyVersion::v2 : ProxyVersion::v1;
    Endpoint src{address_from(&data[2], data[0] & 2), port_from(&data[34])};
    Endpoint dst{address_from(&data[18], data[0] & 4), port_from(&data[36])};
    auto out = snibind::proxy::write_proxy_header(version, src, dst);
    if (out.size == 0 || out.size > out.bytes.size()) fail("written size out of range");
    if (r.read(out.span()) != ProxyHeaderResult::done) fail("written header does not read");
    const ProxyHeader& h = r.header();
    if (h.version != version || h.local || h.length != out.size || h.src != src || h.dst != dst) {
        fail("write then read differs");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static ProxyHeaderReader reader;  // reused across inputs: each read must start afresh
    std::span<const std::uint8_t> in(data, size);

    const std::size_t whole_cut[] = {size};
    Outcome whole = read_in(reader, in, whole_cut);

    std::size_t split = size == 0 ? 0 : std::size_t{data[0]} * size / 256;
    const std::size_t two_cuts[] = {split, size};
    if (!(read_in(reader, in, two_cuts) == whole)) fail("whole and two reads differ");

    bool has_error = !whole.error.empty();
    if (has_error != (whole.result == ProxyHeaderResult::invalid)) fail("error() vs result");
    if (whole.result == ProxyHeaderResult::done) check_done(reader, in, whole);

    check_round_trip(reader, in);
    return 0;
}
