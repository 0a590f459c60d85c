// libFuzzer target for ClientHelloReader and normalise_sni.
//
// Invariant: how the bytes are cut into reads never changes what the reader decides. Each input
// is read (1) whole, (2) in two reads split at a position derived from the first byte, and
// (3) one byte per read; all three must give the same result, hello_end and, for a ClientHello,
// the same SNI, host, SNI problem, ECH flag, versions and ALPN. Any difference aborts.
// normalise_sni gets the raw input too: a name it accepts must be a normalised host name that
// normalises to itself.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tls/client_hello_reader.h"
#include "tls/host_name.h"

namespace {

using snibind::ClientHelloReader;
using snibind::HelloResult;
using snibind::HostProblem;
using snibind::TrailingDot;

struct Outcome {
    HelloResult result = HelloResult::need_more;
    std::size_t hello_end = 0;
    bool has_sni = false, ech = false, sslv2 = false;
    std::string sni, host;
    std::size_t sni_length = 0;
    HostProblem problem = HostProblem::none;
    std::vector<std::uint16_t> versions;
    std::vector<std::string> alpn;

    bool operator==(const Outcome&) const = default;
};

[[noreturn]] void fail(const char* what, const Outcome& a, const Outcome& b) {
    std::fprintf(stderr, "invariant broken: %s: %s (end %zu, sni '%s') vs %s (end %zu, sni '%s')\n",
                 what, std::string(to_string(a.result)).c_str(), a.hello_end, a.sni.c_str(),
                 std::string(to_string(b.result)).c_str(), b.hello_end, b.sni.c_str());
    std::abort();
}

// Reads `data` in reads ending at each of `cuts` (ascending, the last one data.size()).
Outcome read_in(ClientHelloReader& r, std::span<const std::uint8_t> data,
                const std::vector<std::size_t>& cuts) {
    r.reset();
    HelloResult res = HelloResult::need_more;
    for (std::size_t cut : cuts) {
        res = r.read(data.first(cut));
        if (res != HelloResult::need_more) break;
    }
    if (res == HelloResult::need_more) res = r.finish();
    if (res != r.result()) std::abort();  // read()/finish() and result() disagree

    Outcome o;
    o.result = res;
    if (res != HelloResult::client_hello) return o;
    const auto& h = r.hello();
    o.hello_end = r.hello_end();
    if (o.hello_end > data.size()) std::abort();
    o.has_sni = h.has_sni();
    o.ech = h.ech();
    o.sslv2 = h.sslv2_format();
    o.sni = h.sni();
    o.sni_length = h.sni_length();
    o.host = h.host();
    o.problem = h.sni_problem();
    auto v = h.versions();
    o.versions.assign(v.begin(), v.end());
    for (std::size_t i = 0; i < h.alpn_count(); ++i) o.alpn.emplace_back(h.alpn(i));
    // A host is reported exactly when the SNI is a usable host name.
    if (o.host.empty() != (o.problem != HostProblem::none || !o.has_sni)) std::abort();
    return o;
}

void check_normalise(std::string_view name, TrailingDot mode) {
    static std::string out, again;
    HostProblem p = snibind::normalise_sni(name, mode, out);
    if (p != HostProblem::none) {
        if (!out.empty()) std::abort();
        return;
    }
    if (out.empty() || out.size() > 255) std::abort();
    for (char c : out) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        if (!ok) std::abort();
    }
    if (snibind::normalise_sni(out, mode, again) != HostProblem::none || again != out) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static ClientHelloReader reader;  // reused across inputs: reset() must really reset
    std::span<const std::uint8_t> in(data, size);

    Outcome whole = read_in(reader, in, {size});

    std::size_t split = size == 0 ? 0 : std::size_t{data[0]} * size / 256;
    std::vector<std::size_t> two;
    if (split > 0) two.push_back(split);
    two.push_back(size);
    Outcome split_read = read_in(reader, in, two);
    if (!(split_read == whole)) fail("two reads", whole, split_read);

    std::vector<std::size_t> bytes;
    bytes.reserve(size);
    for (std::size_t i = 1; i <= size; ++i) bytes.push_back(i);
    if (bytes.empty()) bytes.push_back(0);
    Outcome byte_read = read_in(reader, in, bytes);
    if (!(byte_read == whole)) fail("one byte per read", whole, byte_read);

    std::string_view raw(reinterpret_cast<const char*>(data), size);
    check_normalise(raw, TrailingDot::strip);
    check_normalise(raw, TrailingDot::reject);
    return 0;
}
