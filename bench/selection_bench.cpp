// select_certificate against BindingTable, with and without a concurrent writer, next to a
// std::shared_mutex + std::unordered_map baseline (bench/README.md).
//
// Arguments: {records, writer}. Tables hold host records a.N.example.com:443 (~90%), ip records
// 10.x.y.z:443 (~10%) and one 0.0.0.0:443; every lookup is a hit on a random host of the table.
// The plain benchmarks cycle through 65 536 names per thread (a hot set, as real traffic has);
// the *_uniform ones draw every name uniformly from the whole table (the cold case).
// With writer=1 a background thread updates random host records (about one per millisecond:
// sleep 1 ms, then update) for the whole run. update_rcu times BindingTable::update itself.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bindings/binding_table.h"
#include "bindings/selection.h"

namespace {

using namespace snibind;

constexpr std::uint16_t kPort = 443;
constexpr std::size_t kNames = 1 << 16;         // lookup names per thread, cycled
constexpr std::size_t kUniformNames = 1 << 20;  // uniform draws per thread, cycled
constexpr std::size_t kNameSlot = 24;           // "a.999999.example.com" and its length

std::string host_name(std::size_t i) {
    return "a." + std::to_string(i) + ".example.com";
}

Record host_record(std::size_t i) {
    Record r;
    r.key = RecordKey::hostname(host_name(i), kPort);
    r.certhash = Thumbprint{};
    r.certhash->bytes[0] = static_cast<std::uint8_t>(i);
    return r;
}

struct Data {
    std::size_t hosts = 0;
    std::vector<Record> records;
    std::unique_ptr<BindingTable> table;
    // The baseline: host -> record under a reader/writer lock.
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, Record, Hash, std::equal_to<>> map;
    mutable std::shared_mutex map_mutex;
};

Data& data(std::size_t n) {
    static std::mutex m;
    static std::map<std::size_t, std::unique_ptr<Data>> all;
    std::lock_guard lock(m);
    auto& d = all[n];
    if (d) return *d;
    d = std::make_unique<Data>();
    std::size_t ips = n / 10;
    d->hosts = n - ips - 1;
    std::vector<Record> records;
    records.reserve(n);
    for (std::size_t i = 0; i < d->hosts; ++i) {
        records.push_back(host_record(i));
        d->map.emplace(records.back().key.host, records.back());
    }
    for (std::size_t i = 0; i < ips; ++i) {
        Record r;
        r.key = RecordKey::ip(IpAddress::from_v4(0x0a000000u + static_cast<std::uint32_t>(i) + 1),
                              kPort);
        r.certhash = Thumbprint{};
        records.push_back(std::move(r));
    }
    Record any;
    any.key = RecordKey::ip(IpAddress::v4_any(), kPort);
    any.certhash = Thumbprint{};
    records.push_back(std::move(any));
    d->table = std::make_unique<BindingTable>(std::move(records));
    return *d;
}

// Random names from the table, different per thread.
std::vector<std::string> lookup_names(const Data& d, int thread) {
    std::mt19937_64 rng(12345 + static_cast<unsigned>(thread));
    std::uniform_int_distribution<std::size_t> pick(0, d.hosts - 1);
    std::vector<std::string> names;
    names.reserve(kNames);
    for (std::size_t i = 0; i < kNames; ++i) names.push_back(host_name(pick(rng)));
    return names;
}

// kUniformNames names drawn uniformly from the whole table, packed in fixed slots that the
// benchmark reads in order (so the name itself costs no cache miss, as a just-parsed hello's
// would not).
struct UniformNames {
    std::vector<std::array<char, kNameSlot>> slots;
    std::string_view operator[](std::size_t i) const {
        const auto& slot = slots[i & (kUniformNames - 1)];
        return {slot.data() + 1, static_cast<std::size_t>(slot[0])};
    }
};
UniformNames uniform_names(const Data& d, int thread) {
    std::mt19937_64 rng(54321 + static_cast<unsigned>(thread));
    std::uniform_int_distribution<std::size_t> pick(0, d.hosts - 1);
    UniformNames names;
    names.slots.resize(kUniformNames);
    for (auto& slot : names.slots) {
        const std::string name = host_name(pick(rng));
        slot[0] = static_cast<char>(name.size());
        std::copy(name.begin(), name.end(), slot.begin() + 1);
    }
    return names;
}

// The background writer, started and stopped by Setup/Teardown (run once per benchmark run,
// outside the reader threads).
struct Writer {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> updates{0};
    std::thread thread;
};
Writer* g_writer = nullptr;

template <bool Baseline>
void start_writer(const benchmark::State& state) {
    if (state.range(1) == 0) return;
    Data& d = data(static_cast<std::size_t>(state.range(0)));
    g_writer = new Writer;
    g_writer->thread = std::thread([&d, w = g_writer] {
        std::mt19937_64 rng(99);
        std::uniform_int_distribution<std::size_t> pick(0, d.hosts - 1);
        std::uint32_t version = 0;
        while (!w->stop.load(std::memory_order_relaxed)) {
            Record r = host_record(pick(rng));
            r.revocation_freshness_time = ++version;
            if constexpr (Baseline) {
                std::unique_lock lock(d.map_mutex);
                d.map[r.key.host] = std::move(r);
            } else {
                d.table->update(std::move(r));
            }
            w->updates.fetch_add(1, std::memory_order_relaxed);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
}

void stop_writer(const benchmark::State&) {
    if (g_writer == nullptr) return;
    g_writer->stop = true;
    g_writer->thread.join();
    delete g_writer;
    g_writer = nullptr;
}

void report(benchmark::State& state) {
    state.SetItemsProcessed(state.iterations());
    if (state.thread_index() == 0 && g_writer != nullptr) {
        state.counters["updates"] = static_cast<double>(g_writer->updates.load());
    }
}

template <typename Names>
void run_selection(benchmark::State& state, const Data& d, const Names& names, std::size_t count) {
    SelectionSettings settings;
    Connection conn;
    conn.dst = IpAddress::from_v4(0xc0000201u);  // 192.0.2.1: no ip record
    conn.port = kPort;
    conn.sni_sent = true;
    std::size_t i = 0;
    for (auto _ : state) {
        conn.host = names[i++ & (count - 1)];
        auto reader = d.table->read();
        Decision decision = select_certificate(reader, conn, settings);
        benchmark::DoNotOptimize(decision.outcome);
        if (decision.step != Step::sni_exact) {
            state.SkipWithError("lookup missed");
            break;
        }
    }
    report(state);
}

void select_rcu(benchmark::State& state) {
    Data& d = data(static_cast<std::size_t>(state.range(0)));
    run_selection(state, d, lookup_names(d, state.thread_index()), kNames);
}

void select_rcu_uniform(benchmark::State& state) {
    Data& d = data(static_cast<std::size_t>(state.range(0)));
    run_selection(state, d, uniform_names(d, state.thread_index()), kUniformNames);
}

template <typename Names>
void run_lookup(benchmark::State& state, Data& d, const Names& names, std::size_t count) {
    std::size_t i = 0;
    for (auto _ : state) {
        const std::string_view name = names[i++ & (count - 1)];
        std::shared_lock lock(d.map_mutex);
        auto it = d.map.find(name);
        if (it == d.map.end()) {
            state.SkipWithError("lookup missed");
            break;
        }
        benchmark::DoNotOptimize(it->second.certhash);
    }
    report(state);
}

void lookup_shared_mutex(benchmark::State& state) {
    Data& d = data(static_cast<std::size_t>(state.range(0)));
    run_lookup(state, d, lookup_names(d, state.thread_index()), kNames);
}

void lookup_shared_mutex_uniform(benchmark::State& state) {
    Data& d = data(static_cast<std::size_t>(state.range(0)));
    run_lookup(state, d, uniform_names(d, state.thread_index()), kUniformNames);
}

// One update() of a random host record, no readers: the shard copy, the snapshot copy and the
// RCU grace period.
void update_rcu(benchmark::State& state) {
    Data& d = data(static_cast<std::size_t>(state.range(0)));
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::size_t> pick(0, d.hosts - 1);
    std::uint32_t version = 0;
    for (auto _ : state) {
        state.PauseTiming();
        Record r = host_record(pick(rng));
        r.revocation_freshness_time = ++version;
        state.ResumeTiming();
        if (!d.table->update(std::move(r))) {
            state.SkipWithError("update missed");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
}

void args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"records", "writer"});
    for (long n : {10L, 10'000L, 1'000'000L})
        for (long w : {0L, 1L}) b->Args({n, w});
    b->Threads(1)->Threads(2)->UseRealTime();
}

// The cold case only matters for tables larger than the caches.
void uniform_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"records", "writer"});
    for (long w : {0L, 1L}) b->Args({1'000'000L, w});
    b->Threads(1)->Threads(2)->UseRealTime();
}

BENCHMARK(select_rcu)->Apply(args)->Setup(start_writer<false>)->Teardown(stop_writer);
BENCHMARK(lookup_shared_mutex)->Apply(args)->Setup(start_writer<true>)->Teardown(stop_writer);
BENCHMARK(select_rcu_uniform)
    ->Apply(uniform_args)
    ->Setup(start_writer<false>)
    ->Teardown(stop_writer);
BENCHMARK(lookup_shared_mutex_uniform)
    ->Apply(uniform_args)
    ->Setup(start_writer<true>)
    ->Teardown(stop_writer);
BENCHMARK(update_rcu)->ArgName("records")->Arg(10)->Arg(10'000)->Arg(1'000'000);

}  // namespace

BENCHMARK_MAIN();
