#pragma once
// The live HTTP.sys record table, read on every connection from every thread and changed at run
// time. Readers take no lock: they load an immutable snapshot under an RCU read-side critical
// section (liburcu, memb flavour) and so see the old table or the new one, never a mix. Writers
// are serialised among themselves, copy only the shard index they change (the table is split
// into kShards hash shards, so a write to a million-record table copies ~1/1024 of the index and
// no Record), publish a new snapshot, wait for an RCU grace period and only then free what no
// reader can still see.
//
// Layout (bench/README.md has the measurements behind it): Records live out of line, immutable
// and shared by every snapshot that holds them. Each shard is an open-addressing index of
// 128-byte entries that carry the key (inline up to 80 bytes) and a copy of the fields
// selection reads, so a hit costs one index entry and does not touch the Record.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "bindings/record.h"

namespace snibind {

// A key to look up without building a RecordKey (no allocation on the connection path).
struct KeyView {
    Family family;
    std::uint16_t port;
    IpAddress addr;         // Family::ip
    std::string_view host;  // Family::host, Family::scoped_ccs
};

// A record found by BindingTable::Reader::lookup, with copies of the fields select_certificate
// reads, kept next to the key in the index so that a decision never touches the Record itself.
struct FoundRecord {
    const Record* record = nullptr;
    std::optional<Thumbprint> certhash;  // == record->certhash
    // == record->action; here, in the optional's padding, so an index entry stays 128 bytes.
    RecordAction action = RecordAction::terminate;
    std::uint32_t flags = 0;      // == record->flags
    std::uint32_t action_id = 0;  // == record->action_id

    bool has(RecordFlag f) const { return (flags & f) != 0; }
};

class BindingTable {
  public:
    static constexpr std::size_t kShards = 1024;
    struct Entry;
    struct Snapshot;
    class IndexArena;

    BindingTable();
    explicit BindingTable(std::vector<Record> records);
    ~BindingTable();
    BindingTable(const BindingTable&) = delete;
    BindingTable& operator=(const BindingTable&) = delete;

    // An RCU read-side critical section over one snapshot. Keep it short and on one thread;
    // pointers it returns are valid until it is destroyed.
    class Reader {
      public:
        ~Reader();
        Reader(const Reader&) = delete;
        Reader& operator=(const Reader&) = delete;
        const Record* find(const KeyView& key) const;
        // find(), plus the selection fields read from the index entry (no Record access).
        const FoundRecord* lookup(const KeyView& key) const;
        std::uint64_t version() const;
        std::size_t size() const;
        // Every record, in no particular order (for admin views and tests).
        std::vector<const Record*> all() const;

      private:
        friend class BindingTable;
        explicit Reader(const Snapshot* s) : snapshot_(s) {}
        const Snapshot* snapshot_;
    };
    Reader read() const;

    // Writers. Each call is one atomic change: readers see all of it or none of it.
    bool insert(Record record);                // false when the key exists (netsh error 183)
    bool erase(const RecordKey& key);          // false when missing (error 2)
    bool update(Record record);                // replace; false when missing (error 2)
    void assign(std::vector<Record> records);  // a whole new table (reload); later duplicates win

    std::uint64_t version() const;

    // The shard that holds `key`, in [0, kShards) (lets tests crowd one shard).
    static std::size_t shard_index(const KeyView& key);

  private:
    struct Retired;
    enum class Change { insert, erase, update };
    bool change_one(Change change, const KeyView& key, std::unique_ptr<Record> record);
    void publish(Snapshot* next, Retired retired);

    std::atomic<const Snapshot*> current_;
    std::atomic<std::uint64_t> version_{0};  // current_'s, readable outside a read section
    std::mutex writer_;
    std::unique_ptr<IndexArena> arena_;  // the shard indexes' memory; used by writers only
};

KeyView key_view(const RecordKey& key);

}  // namespace snibind
