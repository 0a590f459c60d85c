// The pure parts of `snibind load`: hellos built from real captures (read back with snibind's own
// ClientHelloReader, clienthello.md), the name sampler, the latency histogram, option parsing,
// /proc parsing, and --expect predictions (selection.md L1, L4, L5).
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "load/embedded_hellos.h"
#include "load/expectations.h"
#include "load/hello_template.h"
#include "load/histogram.h"
#include "load/load_options.h"
#include "load/load_report.h"
#include "load/sampling.h"
#include "load/server_cpu.h"
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

// clienthello.md: the SNI read back equals the name for every length a host name can have.
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

// clienthello.md: a hello split over K records (and sent in any number of writes) reads the same.
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

}  // namespace
}  // namespace snibind::load
