#pragma once
// The live HTTP.sys record table, read on every connection from every thread and changed at run
// time. Readers take no lock: they load an immutable snapshot under an RCU read-side critical
// section (liburcu, memb flavour) and so see the old table or the new one, never a mix. Writers
// are serialised among themselves, copy only the shard they change (the table is split into
// kShards hash shards, so a write to a million-record table copies ~1/64 of it), publish a new
// snapshot, wait for an RCU grace period and only then free what no reader can still see.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
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
    static constexpr std::size_t kShards = 64;
    struct Shard;
    struct Snapshot;

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

  private:
    void publish(Snapshot* next, std::vector<const Shard*> retired_shards);
    bool rewrite_shard(const KeyView& view, bool must_exist, std::ptrdiff_t size_change,
                       const std::function<void(Shard&)>& edit);

    std::atomic<const Snapshot*> current_;
    std::mutex writer_;
};

KeyView key_view(const RecordKey& key);

}  // namespace snibind
