// BindingTable: S2's uniqueness per key, atomic writes and snapshot reads.
#include "bindings/binding_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace snibind {
namespace {

Record ip_record(const char* ip, std::uint16_t port, char hash) {
    Record r;
    r.key = RecordKey::ip(*IpAddress::parse(ip), port);
    r.certhash = Thumbprint::parse(std::string(40, hash));
    return r;
}

const Record* find(const BindingTable& t, const Record& r) {
    return t.read().find(key_view(r.key));
}

Record host_record(std::string host, std::uint16_t port, std::uint8_t stamp) {
    Record r;
    r.key = RecordKey::hostname(std::move(host), port);
    r.certhash = Thumbprint{};
    r.certhash->bytes[0] = stamp;
    return r;
}

TEST(BindingTable, InsertNeverOverwritesS2) {
    BindingTable t;
    EXPECT_TRUE(t.insert(ip_record("0.0.0.0", 443, 'a')));
    EXPECT_FALSE(t.insert(ip_record("0.0.0.0", 443, 'b')));
    EXPECT_EQ(t.read().find(key_view(ip_record("0.0.0.0", 443, 'x').key))->certhash->hex(),
              std::string(40, 'a'));
    EXPECT_EQ(t.read().size(), 1u);
}

TEST(BindingTable, EraseAndUpdateOfMissingKeyFail) {
    BindingTable t;
    auto r = ip_record("10.0.0.5", 443, 'a');
    EXPECT_FALSE(t.erase(r.key));
    EXPECT_FALSE(t.update(r));
    ASSERT_TRUE(t.insert(r));
    r.certhash = Thumbprint::parse(std::string(40, 'c'));
    EXPECT_TRUE(t.update(r));
    EXPECT_EQ(find(t, r)->certhash, r.certhash);
    EXPECT_TRUE(t.erase(r.key));
    EXPECT_EQ(find(t, r), nullptr);
    EXPECT_EQ(t.read().size(), 0u);
}

TEST(BindingTable, FamiliesAndAddressFamiliesAreDistinctKeys) {
    BindingTable t({ip_record("0.0.0.0", 443, 'a'), ip_record("::", 443, 'b')});
    Record h;
    h.key = RecordKey::hostname("a.example", 443);
    Record s;
    s.key = RecordKey::scoped_ccs("a.example", 443);
    EXPECT_TRUE(t.insert(h));
    EXPECT_TRUE(t.insert(s));
    EXPECT_EQ(t.read().size(), 4u);
    EXPECT_EQ(t.read().find({Family::ip, 443, IpAddress::v6_any(), {}})->certhash->hex(),
              std::string(40, 'b'));
    EXPECT_EQ(t.read().find({Family::ip, 8443, IpAddress::v4_any(), {}}), nullptr);
}

TEST(BindingTable, AReaderKeepsItsSnapshotWhileAWriterPublishes) {
    BindingTable t({ip_record("0.0.0.0", 443, 'a')});
    const auto v0 = t.version();
    const auto added = ip_record("10.0.0.1", 443, 'b');
    std::thread writer;
    {
        auto reader = t.read();
        writer = std::thread([&] { t.insert(added); });
        // The writer publishes at once, then waits for its grace period, i.e. for `reader`.
        while (t.version() == v0) std::this_thread::yield();
        EXPECT_EQ(reader.version(), v0);
        EXPECT_EQ(reader.size(), 1u);
        EXPECT_EQ(reader.find(key_view(added.key)), nullptr);
        auto fresh = t.read();  // a nested read section sees the new table
        EXPECT_EQ(fresh.version(), v0 + 1);
        EXPECT_NE(fresh.find(key_view(added.key)), nullptr);
    }
    writer.join();
}

TEST(BindingTable, AssignReplacesEverythingAndLaterDuplicatesWin) {
    BindingTable t({ip_record("0.0.0.0", 443, 'a'), ip_record("10.0.0.1", 443, 'b')});
    t.assign({ip_record("0.0.0.0", 8443, 'c'), ip_record("0.0.0.0", 8443, 'd')});
    EXPECT_EQ(t.read().size(), 1u);
    EXPECT_EQ(t.read().find({Family::ip, 8443, IpAddress::v4_any(), {}})->certhash->hex(),
              std::string(40, 'd'));
    EXPECT_EQ(t.read().find({Family::ip, 443, IpAddress::v4_any(), {}}), nullptr);
}

// assign() keeps the records in the vector it was given (its slab) and lists the ones it holds in
// that order, a key given twice where its later record was (Model::records relies on it).
TEST(BindingTable, AssignListsTheRecordsItHoldsInLoadOrder) {
    BindingTable t;
    const auto held = t.assign({host_record("a.example", 443, 1), host_record("b.example", 443, 2),
                                host_record("a.example", 443, 3), ip_record("0.0.0.0", 443, 'c')});
    ASSERT_EQ(held.size(), 3u);
    EXPECT_EQ(held[0]->key.host, "b.example");
    EXPECT_EQ(held[1]->key.host, "a.example");
    EXPECT_EQ(held[1]->certhash->bytes[0], 3);
    EXPECT_EQ(held[2]->key.family, Family::ip);
    auto reader = t.read();
    for (const Record* r : held) EXPECT_EQ(reader.find(key_view(r->key)), r);
}

// Writes over records of the slab (update, erase) and single inserts mix with it; a reload frees
// both kinds. AddressSanitizer reports a record freed twice, one read after its free and a leak.
TEST(BindingTable, WritesOverTheSlabThenAReload) {
    BindingTable t({host_record("a.example", 443, 1), host_record("b.example", 443, 2)});
    ASSERT_TRUE(t.update(host_record("a.example", 443, 9)));
    ASSERT_TRUE(t.update(host_record("a.example", 443, 10)));  // a heap record replaced
    ASSERT_TRUE(t.erase(host_record("b.example", 443, 0).key));
    ASSERT_TRUE(t.insert(host_record("c.example", 443, 3)));
    {
        auto reader = t.read();
        EXPECT_EQ(reader.size(), 2u);
        EXPECT_EQ(reader.find({Family::host, 443, {}, "a.example"})->certhash->bytes[0], 10);
        EXPECT_EQ(reader.find({Family::host, 443, {}, "b.example"}), nullptr);
        EXPECT_EQ(reader.find({Family::host, 443, {}, "c.example"})->certhash->bytes[0], 3);
    }
    t.assign({host_record("d.example", 443, 4)});
    auto reader = t.read();
    EXPECT_EQ(reader.size(), 1u);
    EXPECT_EQ(reader.find({Family::host, 443, {}, "a.example"}), nullptr);
    EXPECT_EQ(reader.find({Family::host, 443, {}, "d.example"})->certhash->bytes[0], 4);
}

TEST(BindingTable, ManyRecordsAcrossShards) {
    BindingTable t;
    for (int i = 0; i < 2000; ++i) {
        Record r;
        r.key = RecordKey::hostname("h" + std::to_string(i) + ".example", 443);
        ASSERT_TRUE(t.insert(r));
    }
    auto reader = t.read();
    EXPECT_EQ(reader.size(), 2000u);
    EXPECT_EQ(reader.all().size(), 2000u);
    EXPECT_NE(reader.find({Family::host, 443, {}, "h1999.example"}), nullptr);
    EXPECT_EQ(reader.find({Family::host, 443, {}, "h2000.example"}), nullptr);
}

TEST(BindingTable, EmptyTableAndEmptiedShard) {
    BindingTable t;
    EXPECT_EQ(t.read().find({Family::ccs, 443, {}, {}}), nullptr);
    EXPECT_TRUE(t.read().all().empty());
    const Record r = host_record("a.example", 443, 1);
    ASSERT_TRUE(t.insert(r));
    ASSERT_TRUE(t.erase(r.key));  // the shard is empty again
    EXPECT_EQ(find(t, r), nullptr);
    EXPECT_TRUE(t.read().all().empty());
    EXPECT_TRUE(t.insert(r));
    EXPECT_NE(find(t, r), nullptr);
}

TEST(BindingTable, OnlySuccessfulWritesPublishAVersion) {
    BindingTable t;
    const auto v0 = t.version();
    const Record r = host_record("a.example", 443, 1);
    EXPECT_FALSE(t.erase(r.key));
    EXPECT_FALSE(t.update(r));
    EXPECT_EQ(t.version(), v0);
    EXPECT_TRUE(t.insert(r));
    EXPECT_FALSE(t.insert(r));
    EXPECT_EQ(t.version(), v0 + 1);
    EXPECT_EQ(t.read().version(), v0 + 1);
}

// find() answers the record a write left, with every field selection reads.
TEST(BindingTable, FindFollowsEveryWriteOfTheRecord) {
    Record r = host_record("www.contoso.com", 443, 7);
    r.flags = kRejectConnections | kDisableQuic;
    r.action_id = 42;
    BindingTable t({r});
    {
        auto reader = t.read();
        const Record* found = reader.find(key_view(r.key));
        ASSERT_NE(found, nullptr);
        EXPECT_EQ(*found, r);
        EXPECT_EQ(found->certhash, r.certhash);
        EXPECT_EQ(found->flags, r.flags);
        EXPECT_EQ(found->action_id, 42u);
        EXPECT_TRUE(found->has(kRejectConnections));
    }
    r.certhash.reset();  // as a CCS-style record with no hash
    r.flags = kDefaultRecordFlags;
    r.action_id = 3;
    ASSERT_TRUE(t.update(r));
    auto reader = t.read();
    const Record* found = reader.find(key_view(r.key));
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(*found, r);
    EXPECT_FALSE(found->certhash.has_value());
    EXPECT_EQ(found->flags, kDefaultRecordFlags);
    EXPECT_EQ(found->action_id, 3u);
    EXPECT_FALSE(found->has(kRejectConnections));
}

// Names of every length up to the longest a host can have (the signature keeps the length only up
// to 255): names that differ only in their last byte must stay distinct (S2).
TEST(BindingTable, LongHostNamesStayDistinct) {
    std::vector<Record> records;
    for (std::size_t length : {79u, 80u, 81u, 120u, 253u}) {
        std::string base(length - 1, 'h');
        records.push_back(host_record(base + "a", 443, static_cast<std::uint8_t>(length)));
        records.push_back(host_record(base + "b", 443, static_cast<std::uint8_t>(length + 1)));
    }
    BindingTable t(records);
    auto reader = t.read();
    EXPECT_EQ(reader.size(), records.size());
    for (const Record& r : records) {
        const Record* found = reader.find(key_view(r.key));
        ASSERT_NE(found, nullptr) << r.key.host.size();
        EXPECT_EQ(found->key, r.key);
        EXPECT_EQ(reader.find(key_view(r.key))->certhash, r.certhash);
    }
    EXPECT_EQ(reader.find({Family::host, 443, {}, std::string(120, 'h')}), nullptr);
    EXPECT_EQ(reader.find({Family::host, 443, {}, std::string(119, 'h') + "c"}), nullptr);
    EXPECT_EQ(reader.find({Family::host, 443, {}, std::string(80, 'h')}), nullptr);
}

// RecordKey compares every field, so the table does too: a key carrying a field of the other
// kind (never made by RecordKey's constructors) is a different key from the plain one.
TEST(BindingTable, KeysWithFieldsOfTheOtherKindAreDifferentKeys) {
    const IpAddress addr = *IpAddress::parse("10.0.0.5");
    Record plain_ip = ip_record("10.0.0.5", 443, 'a');
    Record ip_with_host = ip_record("10.0.0.5", 443, 'b');
    ip_with_host.key.host = "x.example";
    Record plain_host = host_record("x.example", 443, 1);
    Record host_with_addr = host_record("x.example", 443, 2);
    host_with_addr.key.addr = addr;
    Record host_v6_flag = host_record("x.example", 443, 3);
    host_v6_flag.key.addr.v6 = true;

    BindingTable t;
    for (const Record* r : {&plain_ip, &ip_with_host, &plain_host, &host_with_addr, &host_v6_flag})
        ASSERT_TRUE(t.insert(*r));
    EXPECT_FALSE(t.insert(ip_with_host));
    auto reader = t.read();
    EXPECT_EQ(reader.size(), 5u);
    for (const Record* r :
         {&plain_ip, &ip_with_host, &plain_host, &host_with_addr, &host_v6_flag}) {
        const Record* found = reader.find(key_view(r->key));
        ASSERT_NE(found, nullptr);
        EXPECT_EQ(found->key, r->key);
        EXPECT_EQ(found->certhash, r->certhash);
    }
    EXPECT_EQ(reader.find({Family::host, 443, addr, "y.example"}), nullptr);
    EXPECT_EQ(reader.find({Family::ip, 443, addr, "y.example"}), nullptr);
}

// Random inserts, erases, updates and reloads against a std::map: the index grows, shrinks and
// closes holes in its probe runs, and must keep answering exactly like the map.
TEST(BindingTable, RandomWritesMatchAModelS2) {
    std::mt19937 rng(2024);
    auto make = [&](int k, std::uint8_t stamp) {
        Record r;
        switch (k % 4) {
            case 0:
                r.key = RecordKey::hostname("h" + std::to_string(k) + ".example", 443);
                break;
            case 1:  // beyond the inline limit
                r.key = RecordKey::hostname(std::string(90, 'x') + std::to_string(k), 443);
                break;
            case 2:
                r.key =
                    RecordKey::ip(IpAddress::from_v4(0x0a000000u + static_cast<std::uint32_t>(k)),
                                  static_cast<std::uint16_t>(1 + k % 3));
                break;
            default:
                r.key = RecordKey::scoped_ccs("s" + std::to_string(k) + ".example", 8443);
                break;
        }
        r.certhash = Thumbprint{};
        r.certhash->bytes[0] = stamp;
        r.action_id = static_cast<std::uint32_t>(k);
        return r;
    };
    constexpr int kKeys = 6000;
    std::map<std::string, Record> model;  // by netsh argument, which names a key uniquely here
    std::vector<Record> initial;
    for (int k = 0; k < kKeys; k += 2) {
        initial.push_back(make(k, 0));
        model[initial.back().key.netsh_argument()] = initial.back();
    }
    BindingTable t(initial);
    std::uniform_int_distribution<int> pick_key(0, kKeys - 1), pick_op(0, 2);
    for (int step = 0; step < 1500; ++step) {
        const int k = pick_key(rng);
        const Record r = make(k, static_cast<std::uint8_t>(step));
        const std::string name = r.key.netsh_argument();
        const bool present = model.count(name) != 0;
        switch (pick_op(rng)) {
            case 0:
                ASSERT_EQ(t.insert(r), !present) << name;
                if (!present) model[name] = r;
                break;
            case 1:
                ASSERT_EQ(t.erase(r.key), present) << name;
                model.erase(name);
                break;
            default:
                ASSERT_EQ(t.update(r), present) << name;
                if (present) model[name] = r;
                break;
        }
    }
    auto check_all = [&] {
        auto reader = t.read();
        ASSERT_EQ(reader.size(), model.size());
        ASSERT_EQ(reader.all().size(), model.size());
        for (int k = 0; k < kKeys; ++k) {
            const Record probe = make(k, 0);
            auto it = model.find(probe.key.netsh_argument());
            const Record* found = reader.find(key_view(probe.key));
            if (it == model.end()) {
                ASSERT_EQ(found, nullptr) << k;
            } else {
                ASSERT_NE(found, nullptr) << k;
                ASSERT_EQ(*found, it->second);
                ASSERT_EQ(found->certhash, it->second.certhash);
                ASSERT_EQ(found->action_id, it->second.action_id);
            }
        }
    };
    check_all();
    // Erase nearly everything one by one (indexes shrink), then reload.
    std::vector<std::string> names;
    for (const auto& [name, record] : model) names.push_back(name);
    for (std::size_t i = 0; i + 10 < names.size(); ++i) {
        ASSERT_TRUE(t.erase(model.at(names[i]).key));
        model.erase(names[i]);
    }
    check_all();
    std::vector<Record> reload;
    model.clear();
    for (int k = 1; k < kKeys; k += 3) {
        reload.push_back(make(k, 9));
        model[reload.back().key.netsh_argument()] = reload.back();
    }
    t.assign(reload);
    check_all();
}

// Hundreds of keys in one shard: its index grows from 4 slots to 512 and shrinks back while keys
// come and go in random order, so probe runs are long, wrap around the end of the index and get
// holes closed by erase; every present key must stay findable after every write.
TEST(BindingTable, OneCrowdedShardGrowsShrinksAndStaysConsistent) {
    std::vector<Record> crowd;
    for (int i = 0; crowd.size() < 300; ++i) {
        Record r =
            host_record("c" + std::to_string(i) + ".example", 443, static_cast<std::uint8_t>(i));
        if (BindingTable::shard_index(key_view(r.key)) == 17) crowd.push_back(std::move(r));
    }
    std::mt19937 rng(7);
    std::shuffle(crowd.begin(), crowd.end(), rng);
    BindingTable t;
    std::vector<bool> present(crowd.size(), false);
    auto check = [&](const char* phase) {
        auto reader = t.read();
        for (std::size_t i = 0; i < crowd.size(); ++i) {
            const Record* found = reader.find(key_view(crowd[i].key));
            ASSERT_EQ(found != nullptr, present[i]) << phase << " " << crowd[i].key.host;
            if (found) {
                ASSERT_EQ(*found, crowd[i]);
            }
        }
    };
    for (std::size_t i = 0; i < crowd.size(); ++i) {
        ASSERT_TRUE(t.insert(crowd[i]));
        present[i] = true;
        if (i % 16 == 0) check("growing");
    }
    check("full");
    std::vector<std::size_t> order(crowd.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t n = 0; n < order.size(); ++n) {
        const std::size_t i = order[n];
        ASSERT_TRUE(t.erase(crowd[i].key));
        present[i] = false;
        if (n % 8 == 0 || n > order.size() - 16) check("shrinking");
        // Put some back on the way down so inserts land in the holes erase closed.
        if (n % 5 == 0) {
            ASSERT_TRUE(t.insert(crowd[i]));
            present[i] = true;
            ASSERT_TRUE(t.erase(crowd[i].key));
            present[i] = false;
        }
    }
    check("empty");
    EXPECT_EQ(t.read().size(), 0u);
}

}  // namespace
}  // namespace snibind
