// BindingTable: S2's uniqueness per key, atomic writes and snapshot reads.
#include "bindings/binding_table.h"

#include <gtest/gtest.h>

#include <thread>

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

}  // namespace
}  // namespace snibind
