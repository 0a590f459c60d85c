// The pure parts of `snibind load`: hellos built from real captures (read back with snibind's own
// ClientHelloReader, src/tls/README.md), the name sampler, the latency histogram, option parsing,
// /proc parsing, --expect predictions (src/bindings/README.md L1, L4, L5), and how a run is split
// between worker processes and added up again (issue 14).
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "load/embedded_hellos.h"
#include "load/expectations.h"
#include "load/hello_template.h"
#include "load/histogram.h"
#include "load/load_options.h"
#include "load/load_report.h"
#include "load/sampling.h"
#include "load/server_cpu.h"
#include "load/worker_plan.h"
#include "load/worker_protocol.h"
#include "tls/client_hello_reader.h"

namespace snibind::load {
namespace {

Bytes read_capture(const std::string& file) {
    std::ifstream in(std::string(SNIBIND_TEST_DATA) + "/clienthello/" + file, std::ios::binary);
    EXPECT_TRUE(in) << file;
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A valid host name of exactly `length` bytes (labels of at most 63 bytes), as a client sends.
std::string host_of_length(std::size_t length) {
    std::string name;
    while (name.size() < length) {
        if (!name.empty() && (name.size() + 1) % 64 == 0 && name.size() + 1 < length)
            name += '.';
        else
            name += static_cast<char>('a' + name.size() % 26);
    }
    return name;
}

HelloResult read_all(ClientHelloReader& reader, const Bytes& bytes) {
    return reader.read(std::span<const std::uint8_t>(bytes));
}

const HelloTemplate& builtin(const std::string& name) {
    const HelloTemplate* t = HelloTemplate::builtin(name);
    if (!t) throw std::runtime_error("no builtin template " + name);
    return *t;
}

class Templates : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(Builtin, Templates, ::testing::Values("chromium", "curl", "openssl"));

// The embedded bytes are the capture files, and rebuilding a capture with its own name
// reproduces it byte for byte: substitution and the length fix-ups change nothing else.
TEST_P(Templates, RebuildWithCapturedNameIsTheCapture) {
    for (const EmbeddedHello& e : embedded_hellos()) {
        if (e.name != GetParam()) continue;
        Bytes capture = read_capture(std::string(e.file));
        EXPECT_EQ(Bytes(e.bytes.begin(), e.bytes.end()), capture);
        Bytes built;
        builtin(GetParam()).build("www.example.com", 1, built);
        EXPECT_EQ(built, capture);
    }
}

// src/tls/README.md: the SNI read back equals the name for every length a host name can have.
TEST_P(Templates, SubstitutedNameReadsBackForEveryLength) {
    const HelloTemplate& t = builtin(GetParam());
    Bytes wire;
    ClientHelloReader reader;
    for (std::size_t length = 1; length <= 253; ++length) {
        const std::string name = host_of_length(length);
        ASSERT_EQ(name.size(), length);
        t.build(name, 1, wire);
        reader.reset();
        ASSERT_EQ(read_all(reader, wire), HelloResult::client_hello)
            << "length " << length << ": " << reader.error();
        EXPECT_EQ(reader.hello_end(), wire.size());
        EXPECT_TRUE(reader.hello().has_sni());
        EXPECT_EQ(reader.hello().sni(), name);
        EXPECT_EQ(reader.hello().host(), name);
        EXPECT_EQ(reader.records(), 1u);
    }
}

// L3: no SNI means no server_name extension at all, and the rest of the hello still parses.
TEST_P(Templates, NoSniRemovesTheExtension) {
    Bytes wire;
    builtin(GetParam()).build(std::nullopt, 1, wire);
    ClientHelloReader reader;
    ASSERT_EQ(read_all(reader, wire), HelloResult::client_hello) << reader.error();
    EXPECT_FALSE(reader.hello().has_sni());
    EXPECT_EQ(reader.hello_end(), wire.size());
    Bytes with_sni;
    builtin(GetParam()).build("www.example.com", 1, with_sni);
    EXPECT_NE(wire, with_sni);
}

// src/tls/README.md: a hello split over K records (and sent in any number of writes) reads the
// same.
TEST_P(Templates, SplitsParseTheSame) {
    const HelloTemplate& t = builtin(GetParam());
    const std::string name = "split.example.net";
    Bytes message;
    t.build_message(name, message);
    for (std::size_t records : {1, 2, 3, 7, 64, 300}) {
        Bytes wire;
        t.build(name, records, wire);
        const std::size_t expected_records = std::min(records, message.size());
        EXPECT_EQ(wire.size(), message.size() + 5 * expected_records);
        for (std::size_t writes : {std::size_t{1}, std::size_t{2}, std::size_t{5}, wire.size()}) {
            ClientHelloReader reader;
            Bytes received;
            HelloResult result = HelloResult::need_more;
            auto sizes = split_sizes(wire.size(), writes);
            ASSERT_EQ(sizes.size(), std::min(writes, wire.size()));
            std::size_t at = 0;
            for (std::size_t i = 0; i < sizes.size(); ++i) {
                received.insert(received.end(), wire.begin() + at, wire.begin() + at + sizes[i]);
                at += sizes[i];
                result = reader.read(std::span<const std::uint8_t>(received));
                if (i + 1 < sizes.size()) {
                    ASSERT_EQ(result, HelloResult::need_more) << i;
                }
            }
            ASSERT_EQ(result, HelloResult::client_hello)
                << records << " records, " << writes << " writes: " << reader.error();
            EXPECT_EQ(reader.hello().sni(), name);
            EXPECT_EQ(reader.records(), expected_records);
        }
    }
}

// curl's capture carries a padding extension: OpenSSL pads hellos of 256-511 bytes to 512, and
// sends none when the hello is longer.
TEST(LoadHello, CurlPaddingFollowsOpenSslRule) {
    const HelloTemplate& curl = builtin("curl");
    Bytes message;
    for (std::size_t length : {1, 15, 40, 100}) {
        curl.build_message(host_of_length(length), message);
        EXPECT_EQ(message.size(), 512u) << length;
    }
    curl.build_message(host_of_length(253), message);
    EXPECT_GT(message.size(), 512u);
    curl.build_message(std::nullopt, message);
    EXPECT_EQ(message.size(), 512u);
}

TEST(LoadHello, ParseRefusesWhatIsNotAHello) {
    std::string error;
    EXPECT_FALSE(HelloTemplate::parse(Bytes{0x17, 0x03, 0x03, 0x00, 0x01, 0x00}, error));
    EXPECT_NE(error.find("not a handshake record"), std::string::npos) << error;
    EXPECT_FALSE(HelloTemplate::parse(Bytes{0x16, 0x03, 0x01, 0x00, 0x09, 0x01}, error));
    EXPECT_FALSE(HelloTemplate::parse(Bytes{}, error));
    EXPECT_EQ(HelloTemplate::builtin("netscape"), nullptr);
    EXPECT_EQ(HelloTemplate::builtin_names(),
              (std::vector<std::string_view>{"chromium", "curl", "openssl"}));
}

// A capture without SNI gets one when asked for (clients put it first).
TEST(LoadHello, CaptureWithoutSniCanBeGivenOne) {
    std::string error;
    auto t = HelloTemplate::parse(read_capture("openssl-nosni.bin"), error);
    ASSERT_TRUE(t) << error;
    Bytes wire;
    t->build("added.example", 1, wire);
    ClientHelloReader reader;
    ASSERT_EQ(read_all(reader, wire), HelloResult::client_hello) << reader.error();
    EXPECT_EQ(reader.hello().sni(), "added.example");
}

TEST(LoadHello, SplitSizes) {
    EXPECT_EQ(split_sizes(10, 3), (std::vector<std::size_t>{4, 3, 3}));
    EXPECT_EQ(split_sizes(3, 10), (std::vector<std::size_t>{1, 1, 1}));
    EXPECT_EQ(split_sizes(5, 0), (std::vector<std::size_t>{5}));
    EXPECT_TRUE(split_sizes(0, 4).empty());
}

TEST(LoadSampling, SameSeedSameSequenceOtherStreamOther) {
    Rng a = make_rng(7, 0), b = make_rng(7, 0), c = make_rng(7, 1);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        auto x = a();
        EXPECT_EQ(x, b());
        differs |= x != c();
    }
    EXPECT_TRUE(differs);
    Rng r = make_rng(1, 0);
    for (int i = 0; i < 1000; ++i) {
        const double u = uniform01(r);
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
    }
}

TEST(LoadSampling, ZipfRankOneIsMostFrequentAndFollowsTheLaw) {
    constexpr std::size_t kNames = 100;
    constexpr int kDraws = 200000;
    NameSampler sampler(kNames, 1.1);
    Rng rng = make_rng(42, 0);
    std::vector<int> counts(kNames);
    for (int i = 0; i < kDraws; ++i) ++counts[sampler.sample(rng)];
    EXPECT_EQ(std::max_element(counts.begin(), counts.end()) - counts.begin(), 0);
    EXPECT_GT(counts[0], counts[1]);
    EXPECT_GT(counts[1], counts[9]);
    EXPECT_GT(counts[9], counts[99]);
    // P(1)/P(2) = 2^1.1; the observed frequencies are within a few percent of the law.
    EXPECT_NEAR(sampler.probability(0) / sampler.probability(1), std::pow(2.0, 1.1), 1e-9);
    for (std::size_t i : {0, 1, 9}) {
        const double observed = static_cast<double>(counts[i]) / kDraws;
        EXPECT_NEAR(observed, sampler.probability(i), sampler.probability(i) * 0.05) << i;
    }
    double total = 0;
    for (std::size_t i = 0; i < kNames; ++i) total += sampler.probability(i);
    EXPECT_NEAR(total, 1.0, 1e-9);
}

TEST(LoadSampling, UniformCoversEveryNameEvenly) {
    NameSampler sampler(10, 0);
    Rng rng = make_rng(3, 0);
    std::vector<int> counts(10);
    for (int i = 0; i < 100000; ++i) ++counts[sampler.sample(rng)];
    for (int c : counts) EXPECT_NEAR(c, 10000, 500);
    EXPECT_DOUBLE_EQ(sampler.probability(3), 0.1);
    NameSampler one(1, 1.1);
    EXPECT_EQ(one.sample(rng), 0u);
}

TEST(LoadSampling, PacingOffsets) {
    using std::chrono::nanoseconds;
    EXPECT_EQ(pacing_offset(0, 1000), nanoseconds(0));
    EXPECT_EQ(pacing_offset(5, 1000), nanoseconds(5'000'000));
    EXPECT_EQ(pacing_offset(3, 0.5), nanoseconds(6'000'000'000));
    EXPECT_EQ(pacing_offset(123, 0), nanoseconds(0));  // no limit
}

TEST(LoadHistogram, PercentilesOfKnownInputs) {
    LatencyHistogram h;
    EXPECT_EQ(h.percentile(50), 0u);
    for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
    EXPECT_EQ(h.count(), 100u);
    EXPECT_EQ(h.min(), 1u);
    EXPECT_EQ(h.max(), 100u);
    EXPECT_DOUBLE_EQ(h.mean(), 50.5);
    EXPECT_EQ(h.percentile(50), 50u);
    EXPECT_EQ(h.percentile(90), 90u);
    EXPECT_EQ(h.percentile(99), 99u);
    EXPECT_EQ(h.percentile(99.9), 100u);
    EXPECT_EQ(h.percentile(100), 100u);
    EXPECT_EQ(h.percentile(0), 1u);
}

TEST(LoadHistogram, LargeValuesWithinBucketPrecision) {
    LatencyHistogram h;
    for (int i = 0; i < 999; ++i) h.record(1000);
    h.record(5'000'000);
    const auto p50 = h.percentile(50);
    EXPECT_GE(p50, 1000u);
    EXPECT_LE(p50, 1000u + 1000u / 128);
    EXPECT_EQ(h.percentile(99.9), p50);  // the 999th of 1000
    EXPECT_EQ(h.percentile(100), 5'000'000u);
    EXPECT_EQ(h.max(), 5'000'000u);
    h.record(LatencyHistogram::kMaxValue + 10);  // clamped, not out of range
    EXPECT_EQ(h.max(), LatencyHistogram::kMaxValue);
}

TEST(LoadHistogram, BucketsCoverEveryValueTightly) {
    for (std::uint64_t v = 0; v < (std::uint64_t{1} << 36); v = v * 3 / 2 + 1) {
        const std::size_t b = LatencyHistogram::bucket_of(v);
        const std::uint64_t high = LatencyHistogram::highest_in_bucket(b);
        ASSERT_GE(high, v);
        ASSERT_LE(high - v, v / 128) << v;
        if (b > 0) {
            ASSERT_LT(LatencyHistogram::highest_in_bucket(b - 1), v) << v;
        }
    }
}

TEST(LoadHistogram, MergeAddsUp) {
    LatencyHistogram a, b;
    for (std::uint64_t v = 1; v <= 50; ++v) a.record(v);
    for (std::uint64_t v = 51; v <= 100; ++v) b.record(v);
    a.merge(b);
    EXPECT_EQ(a.count(), 100u);
    EXPECT_EQ(a.percentile(50), 50u);
    EXPECT_EQ(a.min(), 1u);
    EXPECT_EQ(a.max(), 100u);
}

TEST(LoadOptions, Durations) {
    using namespace std::chrono;
    struct Case {
        const char* text;
        std::optional<nanoseconds> want;
    };
    const Case cases[] = {
        {"10s", seconds(10)},
        {"10", seconds(10)},
        {"500ms", milliseconds(500)},
        {"2m", minutes(2)},
        {"1.5s", milliseconds(1500)},
        {"250us", microseconds(250)},
        {"1h", hours(1)},
        {" 3s ", seconds(3)},
        {"0s", nanoseconds(0)},
        {"", std::nullopt},
        {"s", std::nullopt},
        {"-1s", std::nullopt},
        {"10 parsecs", std::nullopt},
        {"1e3s", std::nullopt},
    };
    for (const auto& c : cases) EXPECT_EQ(parse_duration(c.text), c.want) << c.text;
}

TEST(LoadOptions, RatesAndPercentages) {
    EXPECT_EQ(parse_rate("1000/s"), 1000.0);
    EXPECT_EQ(parse_rate("1000"), 1000.0);
    EXPECT_EQ(parse_rate("60/m"), 1.0);
    EXPECT_EQ(parse_rate("5/ms"), 5000.0);
    EXPECT_EQ(parse_rate("5/"), std::nullopt);
    EXPECT_EQ(parse_rate("fast"), std::nullopt);
    EXPECT_EQ(parse_percent("5%"), 0.05);
    EXPECT_EQ(parse_percent("5"), 0.05);
    EXPECT_EQ(parse_percent("100%"), 1.0);
    EXPECT_EQ(parse_percent("0.5%"), 0.005);
    EXPECT_EQ(parse_percent("101%"), std::nullopt);
    EXPECT_EQ(parse_percent("5%%"), std::nullopt);
    EXPECT_EQ(parse_mode("resume"), Mode::resume);
    EXPECT_EQ(parse_mode("tickle"), std::nullopt);
}

TEST(LoadOptions, AddressListsAndNameFiles) {
    auto list = parse_address_list("127.0.0.1,127.0.0.2, ::1");
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 3u);
    EXPECT_EQ((*list)[1].to_string(), "127.0.0.2");
    EXPECT_TRUE((*list)[2].v6);
    EXPECT_FALSE(parse_address_list("127.0.0.1,nowhere"));
    EXPECT_FALSE(parse_address_list(""));
    EXPECT_EQ(parse_names("# names\na.example\n\n  b.example  \r\n#c.example\nd"),
              (std::vector<std::string>{"a.example", "b.example", "d"}));
}

TEST(LoadServerCpu, ProcStatFields) {
    // comm may contain spaces and parentheses; utime (14) = 1500, stime (15) = 250.
    const std::string stat =
        "4242 (snibind (worker) 1) S 1 4242 4242 0 -1 4194560 1234 0 0 0 1500 250 0 0 20 0 3 0 "
        "100 1000000 500 18446744073709551615";
    EXPECT_EQ(parse_proc_stat_ticks(stat), 1750u);
    EXPECT_EQ(parse_proc_stat_ticks("4242 (x) S 1 2"), std::nullopt);
    EXPECT_EQ(parse_proc_stat_ticks("no parenthesis"), std::nullopt);
    // Our own process exists and has used some CPU.
    auto self = process_cpu_time(getpid());
    ASSERT_TRUE(self);
    EXPECT_GT(self->count(), 0);
}

TEST(LoadServerMemory, VmRssFromProcStatus) {
    EXPECT_EQ(parse_status_rss_bytes("Name:\tsnibind\nVmPeak:\t  99 kB\nVmRSS:\t    5120 kB\n"),
              5120u * 1024);
    EXPECT_EQ(parse_status_rss_bytes("Name:\tx\nVmRSS:\t12\n"), std::nullopt);  // no unit
    EXPECT_EQ(parse_status_rss_bytes("Name:\tx\nVmHWM:\t12 kB\n"), std::nullopt);
    // Our own process is resident.
    auto own = process_rss_bytes(getpid());
    ASSERT_TRUE(own);
    EXPECT_GT(*own, 0u);
}

Record record(RecordKey key, const char* thumbprint, std::uint32_t flags = kDefaultRecordFlags) {
    Record r;
    r.key = std::move(key);
    r.certhash = Thumbprint::parse(thumbprint);
    r.flags = flags;
    return r;
}

// --expect predicts with the core's selection: L1 (SNI record first), L4 (0.0.0.0 catches the
// rest and non-SNI clients), an IP record per destination, L5 (a reject record: no handshake may
// succeed).
TEST(LoadExpect, PredictionsFollowSelection_L1_L4_L5) {
    const char* site = "1111111111111111111111111111111111111111";
    const char* fallback = "2222222222222222222222222222222222222222";
    const char* ip2 = "3333333333333333333333333333333333333333";
    std::vector<Record> records = {
        record(RecordKey::hostname("site.test", 443), site),
        record(RecordKey::ip(IpAddress::v4_any(), 443), fallback),
        record(RecordKey::ip(*IpAddress::parse("127.0.0.2"), 443), ip2),
        record(RecordKey::hostname("blocked.test", 443), site,
               kDefaultRecordFlags | kRejectConnections),
    };
    const std::vector<IpAddress> dsts = {*IpAddress::parse("127.0.0.1"),
                                         *IpAddress::parse("127.0.0.2")};
    const std::vector<std::string> names = {"SITE.test.", "other.test", "blocked.test"};
    ExpectationTable table(records, SelectionSettings{}, dsts, 443, names);

    EXPECT_EQ(table.at(0, 0).kind, Expectation::Kind::certificate);
    EXPECT_EQ(table.at(0, 0).thumbprint.hex(), site);  // L6: case and trailing dot normalised
    EXPECT_EQ(table.at(0, 1).thumbprint.hex(), fallback);
    EXPECT_EQ(table.at(0, 3).thumbprint.hex(), fallback);  // no SNI
    EXPECT_EQ(table.at(1, 1).thumbprint.hex(), ip2);
    EXPECT_EQ(table.at(1, 3).thumbprint.hex(), ip2);
    EXPECT_EQ(table.at(0, 2).kind, Expectation::Kind::no_certificate);

    EXPECT_TRUE(table.at(0, 0).accepts(*Thumbprint::parse(site)));
    EXPECT_FALSE(table.at(0, 0).accepts(*Thumbprint::parse(fallback)));
    EXPECT_FALSE(table.at(0, 2).accepts(*Thumbprint::parse(site)));
    EXPECT_TRUE(Expectation{}.accepts(*Thumbprint::parse(site)));  // CCS: not checked
}

TEST(LoadReport, JsonCarriesEveryNumber) {
    LoadReport r;
    r.mode = Mode::request;
    r.seconds = 2;
    r.connections = 10;
    r.completed = 9;
    r.errors = 1;
    r.errors_by_kind["reset"] = 1;
    r.handshakes = 10;
    r.requests = 30;
    r.http_status[200] = 30;
    r.certificates["a.test"]["ab"] = 10;
    r.connect_latency.record(100);
    r.expect = true;
    r.expect_checked = 10;
    r.server = ServerUsage{123, std::chrono::microseconds(5000), 10u << 20, 12u << 20};
    r.hold = true;
    r.held = 8;
    auto j = report_json(r);
    EXPECT_EQ(j["connections_per_second"], 5.0);
    EXPECT_EQ(j["requests_per_second"], 15.0);
    EXPECT_EQ(j["errors_by_kind"]["reset"], 1);
    EXPECT_EQ(j["http_status"]["200"], 30);
    EXPECT_EQ(j["certificates"]["a.test"]["ab"], 10);
    EXPECT_EQ(j["latency_us"]["p50"], 100);
    EXPECT_EQ(j["expect"]["mismatches"], 0);
    EXPECT_EQ(j["server"]["cpu_us_per_connection"], 500.0);
    EXPECT_NE(report_text(r).find("500.0 µs per connection"), std::string::npos);
    // 2 MiB more while 8 connections were held: 256 KiB each.
    EXPECT_EQ(j["held"], 8);
    EXPECT_EQ(j["server"]["rss_per_held_connection_bytes"], 262144.0);
    EXPECT_NE(report_text(r).find("8 connections at the end, 256.0 KiB of server memory each"),
              std::string::npos)
        << report_text(r);
}

// --- issue 14: worker processes -----------------------------------------------------------

// A worker's share of N (connections, concurrency): the shares add up to N exactly and differ by
// at most one, the larger ones first.
TEST(LoadWorkers, SharesAddUpExactly) {
    const std::uint64_t totals[] = {0, 1, 2, 7, 40, 41, 255, 1'000'001};
    const unsigned parts[] = {1, 2, 3, 7, 16};
    for (std::uint64_t total : totals)
        for (unsigned n : parts) {
            std::uint64_t sum = 0, low = UINT64_MAX, high = 0;
            for (unsigned i = 0; i < n; ++i) {
                const std::uint64_t share = share_of(total, n, i);
                if (i > 0) {
                    EXPECT_LE(share, share_of(total, n, i - 1)) << total << "/" << n;
                }
                sum += share;
                low = std::min(low, share);
                high = std::max(high, share);
            }
            EXPECT_EQ(sum, total) << total << "/" << n;
            EXPECT_LE(high - low, 1u) << total << "/" << n;
        }
    EXPECT_EQ(share_of(41, 2, 0), 21u);
    EXPECT_EQ(share_of(41, 2, 1), 20u);
    EXPECT_EQ(share_of(5, 2, 2), 0u);  // no such part
}

// The default: one worker per core given to the process, one when --threads asks for threads;
// never more workers than connections in flight or than --connections.
TEST(LoadWorkers, HowManyWorkers) {
    EXPECT_EQ(default_workers(8, false), 8u);
    EXPECT_EQ(default_workers(1, false), 1u);
    EXPECT_EQ(default_workers(0, false), 1u);
    EXPECT_EQ(default_workers(8, true), 1u);
    EXPECT_GE(available_cores(), 1u);
    struct Case {
        unsigned wanted;
        std::size_t concurrency;
        std::optional<std::uint64_t> connections;
        unsigned want;
    };
    const Case cases[] = {
        {2, 10, std::nullopt, 2}, {16, 4, std::nullopt, 4}, {4, 10, 3, 3},
        {4, 10, 100, 4},          {0, 10, std::nullopt, 1}, {3, 1, 1, 1},
    };
    for (const auto& c : cases) {
        LoadOptions o;
        o.concurrency = c.concurrency;
        o.connections = c.connections;
        EXPECT_EQ(effective_workers(c.wanted, o), c.want) << c.wanted << " " << c.concurrency;
    }
}

// Each worker gets its share of the concurrency and of --connections; the --rate schedule is
// interleaved, so the starts of all workers together are exactly the schedule of one process.
TEST(LoadWorkers, WorkerOptionsSplitConcurrencyConnectionsAndRate) {
    LoadOptions all;
    all.concurrency = 10;
    all.connections = 41;
    all.rate = 1000;
    all.progress = true;
    for (unsigned n : {1u, 2u, 3u, 7u}) {
        std::size_t concurrency = 0;
        std::uint64_t connections = 0;
        std::vector<std::chrono::nanoseconds> starts;
        for (unsigned i = 0; i < n; ++i) {
            const LoadOptions o = worker_options(all, i, n);
            EXPECT_EQ(o.worker_index, i);
            EXPECT_EQ(o.worker_count, n);
            EXPECT_FALSE(o.progress);  // the parent draws the progress line
            EXPECT_EQ(o.rate, all.rate);
            concurrency += o.concurrency;
            connections += *o.connections;
            for (std::uint64_t k = 0; k < 5; ++k)
                starts.push_back(worker_pacing_offset(k, i, n, o.rate));
        }
        EXPECT_EQ(concurrency, 10u) << n;
        EXPECT_EQ(connections, 41u) << n;
        std::sort(starts.begin(), starts.end());
        for (std::uint64_t k = 0; k < starts.size(); ++k)
            EXPECT_EQ(starts[k], pacing_offset(k, all.rate)) << n << " " << k;
    }
}

std::uint64_t next_value(std::uint64_t& state) {  // deterministic, spread over many octaves
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 20) % (std::uint64_t{1} << (8 + (state >> 60) % 28));
}

// What a worker ships is the whole histogram: parsed back and merged, the parts are exactly the
// histogram of all the values (every bucket, count, sum, min, max, so every percentile).
TEST(LoadHistogram, SnapshotRoundTripMergesExactly) {
    LatencyHistogram all, parts[3];
    std::uint64_t state = 7;
    for (int i = 0; i < 30000; ++i) {
        const std::uint64_t v = next_value(state);
        all.record(v);
        parts[i % 7 == 0 ? 0 : i % 2 + 1].record(v);
    }
    LatencyHistogram merged;
    for (const auto& part : parts) {
        auto back = LatencyHistogram::from_snapshot(part.snapshot());
        ASSERT_TRUE(back);
        EXPECT_TRUE(*back == part);
        merged.merge(*back);
    }
    EXPECT_TRUE(merged == all);
    for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 100.0})
        EXPECT_EQ(merged.percentile(p), all.percentile(p)) << p;
    auto empty = LatencyHistogram::from_snapshot(LatencyHistogram{}.snapshot());
    ASSERT_TRUE(empty);
    EXPECT_TRUE(*empty == LatencyHistogram{});
}

TEST(LoadHistogram, FromSnapshotRefusesWhatNoHistogramHolds) {
    LatencyHistogram h;
    h.record(10);
    h.record(1000);
    const auto good = h.snapshot();
    ASSERT_TRUE(LatencyHistogram::from_snapshot(good));
    using S = LatencyHistogram::Snapshot;
    const std::pair<const char*, std::function<void(S&)>> cases[] = {
        {"count does not add up", [](S& s) { s.count = 3; }},
        {"bucket out of range", [](S& s) { s.buckets.back().first = 1'000'000; }},
        {"bucket repeated",
         [](S& s) {
             s.buckets.push_back(s.buckets.back());
             ++s.count;
         }},
        {"buckets out of order", [](S& s) { std::swap(s.buckets[0], s.buckets[1]); }},
        {"empty bucket", [](S& s) { s.buckets.emplace_back(5000, 0); }},
        {"min outside its bucket", [](S& s) { s.min = 11; }},
        {"max outside its bucket", [](S& s) { s.max = 5000; }},
        {"min above max", [](S& s) { s.min = 2000; }},
        {"empty with a max",
         [](S& s) {
             s = S{};
             s.max = 1;
         }},
    };
    for (const auto& [what, spoil] : cases) {
        S s = good;
        spoil(s);
        EXPECT_FALSE(LatencyHistogram::from_snapshot(s)) << what;
    }
}

LoadReport full_report() {
    LoadReport r;
    r.connections = 10;
    r.completed = 8;
    r.errors = 2;
    r.errors_by_kind["reset"] = 1;
    r.errors_by_kind["tls alert: handshake failure"] = 1;
    r.replied = 3;
    r.closed_without_reply = 1;
    r.handshakes = 9;
    r.resumed = 4;
    r.certificates["a.test"]["aa"] = 5;
    r.certificates["caf\xe9.test"]["bb"] = 2;  // not UTF-8: travels by index, byte for byte
    r.certificates[std::string(kNoSniName)]["cc"] = 2;
    r.requests = 30;
    r.http_status[200] = 29;
    r.http_status[503] = 1;
    for (std::uint64_t v : {5u, 90u, 700u, 123456u}) r.connect_latency.record(v);
    r.request_latency.record(42);
    r.expect_checked = 10;
    r.expect_mismatches = 1;
    r.held = 3;
    r.seconds = 1.5;
    r.load_cpu = std::chrono::microseconds(1234);
    r.stopped_early = true;
    return r;
}

// A worker's report crosses the pipe with every number intact.
TEST(LoadWorkerProtocol, ReportRoundTrip) {
    const std::vector<std::string> names = {"a.test", "caf\xe9.test"};
    const LoadReport r = full_report();
    const std::string line = report_message(r, names);
    ASSERT_EQ(line.back(), '\n');
    ASSERT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
    std::string error;
    auto m = parse_worker_message(std::string_view(line).substr(0, line.size() - 1), names, error);
    ASSERT_TRUE(m) << error;
    ASSERT_EQ(m->kind, WorkerMessage::Kind::report);
    const LoadReport& b = m->report;
    EXPECT_EQ(b.connections, r.connections);
    EXPECT_EQ(b.completed, r.completed);
    EXPECT_EQ(b.errors, r.errors);
    EXPECT_EQ(b.errors_by_kind, r.errors_by_kind);
    EXPECT_EQ(b.replied, r.replied);
    EXPECT_EQ(b.closed_without_reply, r.closed_without_reply);
    EXPECT_EQ(b.handshakes, r.handshakes);
    EXPECT_EQ(b.resumed, r.resumed);
    EXPECT_EQ(b.certificates, r.certificates);
    EXPECT_EQ(b.requests, r.requests);
    EXPECT_EQ(b.http_status, r.http_status);
    EXPECT_TRUE(b.connect_latency == r.connect_latency);
    EXPECT_TRUE(b.request_latency == r.request_latency);
    EXPECT_EQ(b.expect_checked, r.expect_checked);
    EXPECT_EQ(b.expect_mismatches, r.expect_mismatches);
    EXPECT_EQ(b.held, r.held);
    EXPECT_EQ(b.seconds, r.seconds);
    EXPECT_EQ(b.load_cpu, r.load_cpu);
    EXPECT_EQ(b.stopped_early, r.stopped_early);

    auto ready = parse_worker_message("{\"ready\":true}", names, error);
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->kind, WorkerMessage::Kind::ready);
    const std::string progress = progress_message({7, 2, 1});
    auto p = parse_worker_message(std::string_view(progress).substr(0, progress.size() - 1), names,
                                  error);
    ASSERT_TRUE(p) << error;
    EXPECT_EQ(p->progress.connections, 7u);
    EXPECT_EQ(p->progress.errors, 2u);
    EXPECT_EQ(p->progress.held, 1u);

    const auto start = std::chrono::steady_clock::now();
    std::string go = go_command(start);
    EXPECT_EQ(parse_go_command(std::string_view(go).substr(0, go.size() - 1)), start);
    EXPECT_EQ(parse_go_command("go"), std::nullopt);
    EXPECT_EQ(parse_go_command("go 12x"), std::nullopt);
    EXPECT_EQ(parse_go_command("stop"), std::nullopt);
}

TEST(LoadWorkerProtocol, MalformedMessagesAreRefused) {
    const std::vector<std::string> names = {"a.test"};
    const char* cases[] = {
        "",
        "not json",
        "[1,2]",
        "{\"ready\":true,\"progress\":{}}",
        "{\"hello\":1}",
        "{\"progress\":{\"connections\":-1,\"errors\":0,\"held\":0}}",
        "{\"progress\":{\"connections\":1}}",
        "{\"report\":{\"connections\":1}}",
    };
    for (const char* line : cases) {
        std::string error;
        EXPECT_FALSE(parse_worker_message(line, names, error)) << line;
        EXPECT_FALSE(error.empty()) << line;
    }
    // A name index the run does not have, and a histogram whose buckets do not add up.
    std::string good = report_message(full_report(), {"a.test", "b.test"});
    good.pop_back();
    std::string error;
    EXPECT_FALSE(parse_worker_message(good, names, error));  // "b.test" is index 1 of 1 name
    EXPECT_NE(error.find("name index"), std::string::npos) << error;
    auto j = nlohmann::json::parse(report_message(full_report(), {"a.test", "caf\xe9.test"}),
                                   nullptr, false);
    ASSERT_FALSE(j.is_discarded());
    j["report"]["connect_latency"]["count"] = 99;
    EXPECT_FALSE(parse_worker_message(j.dump(), {"a.test", "caf\xe9.test"}, error));
}

// The parent's totals are the workers' reports added up, field by field.
TEST(LoadWorkerProtocol, MergeAddsReportsUp) {
    LoadReport total;
    const LoadReport a = full_report();
    LoadReport b = full_report();
    b.seconds = 2.5;
    b.stopped_early = false;
    b.certificates.clear();
    b.certificates["a.test"]["aa"] = 1;
    b.connect_latency = LatencyHistogram{};
    b.connect_latency.record(1);
    merge_report(total, a);
    merge_report(total, b);
    EXPECT_EQ(total.connections, 20u);
    EXPECT_EQ(total.errors_by_kind["reset"], 2u);
    EXPECT_EQ(total.http_status[200], 58u);
    EXPECT_EQ(total.certificates["a.test"]["aa"], 6u);
    EXPECT_EQ(total.certificates["caf\xe9.test"]["bb"], 2u);
    EXPECT_EQ(total.connect_latency.count(), 5u);
    EXPECT_EQ(total.connect_latency.min(), 1u);
    EXPECT_EQ(total.connect_latency.max(), 123456u);
    EXPECT_EQ(total.held, 6u);
    EXPECT_EQ(total.seconds, 2.5);
    EXPECT_EQ(total.load_cpu, std::chrono::microseconds(2468));
    EXPECT_TRUE(total.stopped_early);
}

// A worker that died: the report says whose counts are missing, and is not complete.
TEST(LoadReport, DeadWorkerIsReportedAndTheReportIsIncomplete) {
    LoadReport r;
    r.workers = 2;
    r.connections = 5;
    r.connect_latency.record(10);
    WorkerResult ok;
    ok.index = 0;
    ok.pid = 100;
    ok.counted = true;
    ok.connections = 5;
    WorkerResult dead;
    dead.index = 1;
    dead.pid = 101;
    dead.status = "died: signal 9 (SIGKILL)";
    dead.connections = 3;
    r.per_worker = {ok, dead};
    EXPECT_FALSE(r.complete());
    const std::string text = report_text(r);
    EXPECT_NE(text.find("worker 1 (pid 101)  died: signal 9 (SIGKILL): its counts are missing "
                        "from the totals (last seen: 3 connections, 0 errors)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("INCOMPLETE: worker 1 died: signal 9 (SIGKILL)"), std::string::npos)
        << text;
    const auto j = report_json(r);
    EXPECT_EQ(j["complete"], false);
    ASSERT_EQ(j["per_worker"].size(), 2u);
    EXPECT_EQ(j["per_worker"][1]["status"], "died: signal 9 (SIGKILL)");
    EXPECT_EQ(j["per_worker"][1]["counted"], false);
    EXPECT_EQ(j["per_worker"][0]["counted"], true);

    r.per_worker.pop_back();
    EXPECT_TRUE(r.complete());
    EXPECT_EQ(report_text(r).find("INCOMPLETE"), std::string::npos);
}

// --rate: the report says latency counts from the intended start.
TEST(LoadReport, SaysWhereLatencyCountsFrom) {
    LoadReport r;
    EXPECT_EQ(report_json(r)["latency_from"], "connection start");
    EXPECT_EQ(report_text(r).find("intended start"), std::string::npos);
    r.latency_from_intended_start = true;
    EXPECT_EQ(report_json(r)["latency_from"], "intended start");
    EXPECT_NE(report_text(r).find("coordinated omission"), std::string::npos);
    r.connections = 4;
    r.load_cpu = std::chrono::microseconds(400);
    EXPECT_EQ(report_json(r)["load_cpu"]["cpu_us_per_connection"], 100.0);
}

// --server-pid charges a process tree: ppid links, root first, loops and strangers left out.
TEST(LoadServerCpu, DescendantsFollowParentLinks) {
    const std::vector<std::pair<pid_t, pid_t>> procs = {{1, 0},   {10, 1}, {11, 10}, {12, 10},
                                                        {13, 11}, {20, 1}, {21, 20}};
    EXPECT_EQ(descendants(10, procs), (std::vector<pid_t>{10, 11, 12, 13}));
    EXPECT_EQ(descendants(13, procs), (std::vector<pid_t>{13}));
    EXPECT_EQ(descendants(99, procs), (std::vector<pid_t>{}));
    auto all = descendants(1, procs);
    EXPECT_EQ(all.size(), procs.size());
    const std::string stat =
        "4242 (snibind (worker) 1) S 77 4242 4242 0 -1 4194560 1234 0 0 0 1500 250 30 40 20 0 3 0";
    auto fields = parse_proc_stat(stat);
    ASSERT_TRUE(fields);
    EXPECT_EQ(fields->ppid, 77);
    EXPECT_EQ(fields->utime, 1500u);
    EXPECT_EQ(fields->stime, 250u);
    EXPECT_EQ(fields->cutime, 30u);
    EXPECT_EQ(fields->cstime, 40u);
    EXPECT_FALSE(parse_proc_stat("4242 (x) S 77 1 2 3"));
}

// Burns at least `cpu` of this thread's CPU time.
void burn(std::chrono::nanoseconds cpu) {
    clockid_t clock;
    pthread_getcpuclockid(pthread_self(), &clock);
    const auto used = [&] {
        timespec ts{};
        clock_gettime(clock, &ts);
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    };
    const auto until = used() + cpu;
    volatile std::uint64_t x = 0;
    while (used() < until)
        for (int i = 0; i < 10000; ++i) x = x + static_cast<std::uint64_t>(i);
}

// A multi-threaded, multi-process server (nginx's master and workers): the CPU of another
// thread and of a child process both count. The child burns 50 ms and says so before the
// reading; the thread has ended before it: no timing, only what the clocks say was used.
TEST(LoadServerCpu, SampleCountsThreadsAndChildren) {
    const auto before = sample_server(getpid());
    ASSERT_TRUE(before);
    std::thread([] { burn(std::chrono::milliseconds(50)); }).join();
    int ready[2], release[2];
    ASSERT_EQ(pipe(ready), 0);
    ASSERT_EQ(pipe(release), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        burn(std::chrono::milliseconds(50));
        char c = 'x';
        if (write(ready[1], &c, 1) != 1 || read(release[0], &c, 1) < 0) _exit(1);
        _exit(0);
    }
    char c = 0;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    const auto during = sample_server(getpid());
    ASSERT_EQ(write(release[1], &c, 1), 1);
    int status = 0;
    waitpid(child, &status, 0);
    for (int fd : {ready[0], ready[1], release[0], release[1]}) close(fd);
    ASSERT_TRUE(during);
    EXPECT_EQ(during->processes, before->processes + 1);
    EXPECT_GE(during->cpu - before->cpu, std::chrono::milliseconds(100));
    EXPECT_GT(during->rss_bytes, 0u);
    EXPECT_FALSE(sample_server(-5));
}

}  // namespace
}  // namespace snibind::load
