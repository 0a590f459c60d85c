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
// and shared by every snapshot that holds them; the records of a whole-table assign (a store of a
// million records at start-up or reload) stay in the vector they were loaded into, one slab, with
// no allocation each. Each shard is an open-addressing index of 16-byte entries (a signature of
// the key and the record's address) at most 3/4 full, ~21 bytes a record: a hit reads one entry,
// then the Record, which holds everything selection needs.
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
        // The record with `key`, or nullptr.
        const Record* find(const KeyView& key) const;
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
    bool insert(Record record);        // false when the key exists (netsh error 183)
    bool erase(const RecordKey& key);  // false when missing (error 2)
    bool update(Record record);        // replace; false when missing (error 2)
    // A whole new table (start-up, reload); later duplicates win. The vector becomes the slab
    // its records live in: no record is moved or allocated. Returns the records the table now
    // holds in the vector's order (a key given twice where its later record was), valid until
    // a write replaces them.
    std::vector<const Record*> assign(std::vector<Record> records);

    std::uint64_t version() const;

    // The shard that holds `key`, in [0, kShards) (lets tests crowd one shard).
    static std::size_t shard_index(const KeyView& key);

  private:
    struct Retired;
    struct Slab;
    enum class Change { insert, erase, update };
    bool change_one(Change change, const KeyView& key, std::unique_ptr<Record> record);
    void publish(Snapshot* next, Retired retired);

    std::atomic<const Snapshot*> current_;
    std::atomic<std::uint64_t> version_{0};  // current_'s, readable outside a read section
    std::mutex writer_;
    std::unique_ptr<IndexArena> arena_;  // the shard indexes' memory; used by writers only
    // The records of the last assign(). A record of the slab that a later write replaces or
    // erases stays in it (unreachable) until the next assign() frees the slab whole: at most the
    // slab's size, and no per-record allocation to free. Writers only.
    std::unique_ptr<Slab> slab_;
};

KeyView key_view(const RecordKey& key);
// The table's hash of a key (wyhash's construction): for other sets of keys, such as the store
// importer's duplicate check, which a generic hash made a tenth of a million-record import.
std::uint64_t key_hash(const KeyView& key);

}  // namespace snibind
