// Readers on every core while a writer adds, deletes and replaces records; every read must be a
// consistent answer from one snapshot (run under ThreadSanitizer in CI: label "concurrency").
//
// Every snapshot the writer publishes keeps, for each slot k, an IP record 10.0.0.k:443 whose
// certhash encodes (k, generation), and a host record s<k>.example:443 that exists exactly when
// the IP record's generation is even and then has a generation at least as high. A reader that
// mixed two snapshots would see a host record next to an odd IP generation, or none next to an
// even one.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "bindings/binding_table.h"
#include "bindings/selection.h"

namespace snibind {
namespace {

constexpr int kSlots = 64;

Thumbprint stamp(std::uint32_t slot, std::uint32_t generation) {
    Thumbprint t;
    for (int i = 0; i < 4; ++i) {
        t.bytes[i] = static_cast<std::uint8_t>(slot >> (8 * i));
        t.bytes[4 + i] = static_cast<std::uint8_t>(generation >> (8 * i));
    }
    return t;
}
std::uint32_t generation_of(const Thumbprint& t) {
    return std::uint32_t{t.bytes[4]} | std::uint32_t{t.bytes[5]} << 8 |
           std::uint32_t{t.bytes[6]} << 16 | std::uint32_t{t.bytes[7]} << 24;
}
std::uint32_t slot_of(const Thumbprint& t) {
    return std::uint32_t{t.bytes[0]} | std::uint32_t{t.bytes[1]} << 8;
}

std::string host(int k) {
    return "s" + std::to_string(k) + ".example";
}
IpAddress ip(int k) {
    return IpAddress::from_v4(0x0a000000u | static_cast<std::uint32_t>(k));
}

Record host_record(int k, std::uint32_t g) {
    Record r;
    r.key = RecordKey::hostname(host(k), 443);
    r.certhash = stamp(static_cast<std::uint32_t>(k), g);
    return r;
}
Record ip_record(int k, std::uint32_t g) {
    Record r;
    r.key = RecordKey::ip(ip(k), 443);
    r.certhash = stamp(static_cast<std::uint32_t>(k), g);
    return r;
}

TEST(BindingTableStress, ReadersAlwaysSeeOneConsistentSnapshot) {
    std::vector<Record> initial;
    for (int k = 0; k < kSlots; ++k) {
        initial.push_back(host_record(k, 0));
        initial.push_back(ip_record(k, 0));
    }
    BindingTable table(initial);

    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> reads{0}, failures{0};
    const unsigned readers = std::max(2u, std::thread::hardware_concurrency());

    auto reader = [&](unsigned seed) {
        std::uint64_t local = 0;
        std::uint64_t last_version = 0;
        SelectionSettings settings;
        while (!stop.load(std::memory_order_relaxed) || local < 1000) {
            int k = static_cast<int>((seed * 2654435761u + local) % kSlots);
            const std::string name = host(k);
            auto snapshot = table.read();
            // Versions only move forward for one reader.
            if (snapshot.version() < last_version) failures++;
            last_version = snapshot.version();
            const Record* h = snapshot.find({Family::host, 443, {}, name});
            const Record* i = snapshot.find({Family::ip, 443, ip(k), {}});
            // The IP record of a slot is never deleted; the host record may be (odd generation
            // of the IP record means "host deleted"), and otherwise carries a generation at
            // least the IP record's (update() moves the host ahead alone).
            if (!i || slot_of(*i->certhash) != static_cast<std::uint32_t>(k)) {
                failures++;
            } else {
                auto gi = generation_of(*i->certhash);
                bool deleted = gi % 2 == 1;
                if (deleted != (h == nullptr)) failures++;
                if (h && (slot_of(*h->certhash) != static_cast<std::uint32_t>(k) ||
                          generation_of(*h->certhash) < gi)) {
                    failures++;
                }
            }
            // A churn record, when present, always carries its own slot and fixed generation.
            if (const Record* c =
                    snapshot.find({Family::host, 443, {}, "c" + std::to_string(k) + ".example"});
                c && (slot_of(*c->certhash) != static_cast<std::uint32_t>(k) ||
                      generation_of(*c->certhash) != 7777)) {
                failures++;
            }
            // And selection over the same snapshot picks the host record when it exists.
            Connection c{ip(k), 443, name, HostProblem::none, true};
            Decision d = select_certificate(snapshot, c, settings);
            if (d.outcome != Outcome::selected ||
                (h ? *d.step != Step::sni_exact : *d.step != Step::ip_exact)) {
                failures++;
            }
            ++local;
        }
        reads += local;
    };

    std::vector<std::thread> threads;
    for (unsigned t = 0; t < readers; ++t) threads.emplace_back(reader, t + 1);

    // The writer. Per slot: ig is the IP record's generation, hg the host record's; the host
    // exists exactly when ig is even. Deleting or restoring a host changes two records, so it is
    // one assign(); moving a host ahead is a single update(); churn records are inserted and
    // erased one at a time.
    std::vector<std::uint32_t> ig(kSlots, 0), hg(kSlots, 0);
    auto whole_table = [&] {
        std::vector<Record> next;
        for (int j = 0; j < kSlots; ++j) {
            if (ig[j] % 2 == 0) next.push_back(host_record(j, hg[j]));
            next.push_back(ip_record(j, ig[j]));
        }
        return next;
    };
    std::uint64_t writes = 0;
    for (int round = 0; round < 40; ++round) {
        for (int k = round % 7; k < kSlots; k += 7) {
            if (ig[k] % 2 == 0) {
                ig[k]++;
            } else {
                ig[k]++;
                hg[k] = ig[k];
            }
            table.assign(whole_table());
            if (ig[k] % 2 == 0) {
                ASSERT_TRUE(table.update(host_record(k, ++hg[k])));
            }
            Record churn;
            churn.key = RecordKey::hostname("c" + std::to_string(k) + ".example", 443);
            churn.certhash = stamp(static_cast<std::uint32_t>(k), 7777);
            ASSERT_TRUE(table.insert(churn));
            ASSERT_FALSE(table.insert(churn));
            ASSERT_TRUE(table.erase(churn.key));
            writes += 4;
        }
    }
    stop = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0u) << "inconsistent reads out of " << reads.load();
    EXPECT_GT(writes, 0u);
    EXPECT_GE(reads.load(), 1000u * readers);
}

// Readers probing one crowded shard while the writer grows its index from a few slots to hundreds
// and back (every resize rehashes into a new index) and replaces records in it. A stable record
// must be found in every snapshot, with a generation that never goes back for one reader; a churn
// record, when found, must be whole.
TEST(BindingTableStress, ReadersNeverMissAStableRecordWhileItsShardResizes) {
    constexpr std::size_t kShard = 5;
    constexpr std::size_t kStable = 24, kChurn = 200;
    auto crowd = [&](const char* prefix, std::size_t count) {
        std::vector<std::string> names;
        for (int i = 0; names.size() < count; ++i) {
            std::string name = prefix + std::to_string(i) + ".example";
            if (BindingTable::shard_index({Family::host, 443, {}, name}) == kShard)
                names.push_back(std::move(name));
        }
        return names;
    };
    const auto stable = crowd("stable", kStable);
    const auto churn = crowd("churn", kChurn);
    auto record = [](const std::string& name, std::uint32_t slot, std::uint32_t generation) {
        Record r;
        r.key = RecordKey::hostname(name, 443);
        r.certhash = stamp(slot, generation);
        r.action_id = slot;
        return r;
    };
    std::vector<Record> initial;
    for (std::size_t k = 0; k < kStable; ++k) initial.push_back(record(stable[k], k, 0));
    BindingTable table(initial);

    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> reads{0}, failures{0};
    auto reader = [&] {
        std::vector<std::uint32_t> seen(kStable, 0);
        std::uint64_t local = 0;
        while (!stop.load(std::memory_order_relaxed) || local < 200) {
            auto snapshot = table.read();
            for (std::size_t k = 0; k < kStable; ++k) {
                const Record* found = snapshot.find({Family::host, 443, {}, stable[k]});
                if (!found || slot_of(*found->certhash) != k || found->action_id != k ||
                    generation_of(*found->certhash) < seen[k]) {
                    failures++;
                    continue;
                }
                seen[k] = generation_of(*found->certhash);
            }
            const std::size_t c = local % kChurn;
            if (const Record* found = snapshot.find({Family::host, 443, {}, churn[c]});
                found &&
                (found->key.host != churn[c] || slot_of(*found->certhash) != kStable + c)) {
                failures++;
            }
            ++local;
        }
        reads += local;
    };
    const unsigned readers = std::max(2u, std::thread::hardware_concurrency());
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < readers; ++t) threads.emplace_back(reader);

    std::uint32_t generation = 0;
    for (int round = 0; round < 2; ++round) {
        for (std::size_t c = 0; c < kChurn; ++c) {
            ASSERT_TRUE(table.insert(record(churn[c], kStable + c, 1)));
            if (c % 10 == 0) {
                const std::size_t k = c / 10 % kStable;
                ASSERT_TRUE(table.update(record(stable[k], k, ++generation)));
            }
        }
        for (std::size_t c = kChurn; c-- > 0;) ASSERT_TRUE(table.erase(record(churn[c], 0, 0).key));
    }
    stop = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0u) << "bad reads out of " << reads.load();
    EXPECT_EQ(table.read().size(), kStable);
    EXPECT_GE(reads.load(), 200u * readers);
}

}  // namespace
}  // namespace snibind
