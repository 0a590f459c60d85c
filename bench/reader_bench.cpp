// ClientHelloReader throughput on real captures (bench/README.md).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "tls/client_hello_reader.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

const Bytes& capture(const std::string& file) {
    static std::vector<std::pair<std::string, Bytes>> cache;
    for (const auto& [name, bytes] : cache)
        if (name == file) return bytes;
    std::ifstream in(std::string(SNIBIND_TEST_DATA) + "/clienthello/" + file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + file);
    cache.emplace_back(
        file, Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
    return cache.back().second;
}

// One hello per iteration, in `reads` reads of about equal size; the reader is reset (keeping its
// capacity) between iterations, as a connection handler reusing it would.
void read_hello(benchmark::State& state, const char* file, std::size_t reads) {
    const Bytes& bytes = capture(file);
    std::span<const std::uint8_t> all(bytes);
    snibind::ClientHelloReader reader;
    for (auto _ : state) {
        reader.reset();
        snibind::HelloResult r = snibind::HelloResult::need_more;
        for (std::size_t i = 1; i <= reads; ++i) {
            r = reader.read(all.first(bytes.size() * i / reads));
        }
        if (r != snibind::HelloResult::client_hello) {
            state.SkipWithError("the capture did not read as a ClientHello");
            break;
        }
        benchmark::DoNotOptimize(reader.hello().host().data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
    state.counters["hello_bytes"] = static_cast<double>(bytes.size());
}

BENCHMARK_CAPTURE(read_hello, chromium_whole, "chromium.bin", 1);
BENCHMARK_CAPTURE(read_hello, chromium_2_reads, "chromium.bin", 2);
BENCHMARK_CAPTURE(read_hello, curl_whole, "curl.bin", 1);
BENCHMARK_CAPTURE(read_hello, curl_2_reads, "curl.bin", 2);

}  // namespace

BENCHMARK_MAIN();
