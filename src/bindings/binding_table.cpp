#include "bindings/binding_table.h"

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <urcu/urcu-memb.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>

#include "bindings/huge_pages.h"

// RCU is invisible to ThreadSanitizer (liburcu is not instrumented), so tell it what the grace
// period guarantees: everything a reader did before leaving its critical section happens before
// the writer frees what that reader could see.
#if defined(__SANITIZE_THREAD__)
#define SNIBIND_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SNIBIND_TSAN 1
#endif
#endif
#ifdef SNIBIND_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace snibind {

namespace {

#ifdef SNIBIND_TSAN
char grace_period_token;
void reader_leaves() {
    __tsan_release(&grace_period_token);
}
void grace_period_done() {
    __tsan_acquire(&grace_period_token);
}
#else
void reader_leaves() {}
void grace_period_done() {}
#endif

// liburcu's memb flavour waits only for registered threads; register each reader thread once.
struct RcuThread {
    RcuThread() { urcu_memb_register_thread(); }
    ~RcuThread() { urcu_memb_unregister_thread(); }
};

constexpr unsigned kShardBits = 10;
static_assert(BindingTable::kShards == std::size_t{1} << kShardBits);

// --- Hashing: wyhash's construction (64x64->128 multiply-fold), inlined because the generic
// absl tuple hash was a third of a 10-record lookup.
__extension__ using Uint128 = unsigned __int128;
constexpr std::uint64_t kSecret0 = 0xa0761d6478bd642full;
constexpr std::uint64_t kSecret1 = 0xe7037ed1a0b428dbull;

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
    const Uint128 product = static_cast<Uint128>(a) * b;
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}
std::uint64_t load64(const unsigned char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
std::uint64_t load32(const unsigned char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

std::uint64_t hash_bytes(std::string_view bytes, std::uint64_t seed) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t n = bytes.size();
    seed ^= mix(seed ^ kSecret0, kSecret1);
    std::uint64_t a = 0, b = 0;
    if (n <= 16) {
        if (n >= 4) {
            const std::size_t middle = (n >> 3) << 2;
            a = (load32(p) << 32) | load32(p + middle);
            b = (load32(p + n - 4) << 32) | load32(p + n - 4 - middle);
        } else if (n > 0) {
            a = (std::uint64_t{p[0]} << 16) | (std::uint64_t{p[n >> 1]} << 8) | p[n - 1];
        }
    } else {
        std::size_t left = n;
        while (left > 16) {
            seed = mix(load64(p) ^ kSecret1, load64(p + 8) ^ seed);
            p += 16;
            left -= 16;
        }
        a = load64(p + left - 16);
        b = load64(p + left - 8);
    }
    const Uint128 product = static_cast<Uint128>(a ^ kSecret1) * (b ^ seed);
    return mix(static_cast<std::uint64_t>(product) ^ kSecret0 ^ n,
               static_cast<std::uint64_t>(product >> 64) ^ kSecret1);
}

std::string_view addr_bytes(const IpAddress& a) {
    return {reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size()};
}

bool same_key(const KeyView& a, const KeyView& b) {
    return a.family == b.family && a.port == b.port && a.addr == b.addr && a.host == b.host;
}

}  // namespace

KeyView key_view(const RecordKey& key) {
    return {key.family, key.port, key.addr, key.host};
}

// One slot of a shard index: a quarter of a cache line, so a probe run of a shard at most 3/4
// full (2.5 slots for a hit, 8.5 for a miss on average) stays within a line or two.
struct BindingTable::Entry {
    // 0 marks an empty slot (no real key has signature 0: see Probe).
    std::uint64_t signature = 0;
    const Record* record = nullptr;
};
static_assert(sizeof(BindingTable::Entry) == 16);
static_assert(std::is_trivially_copyable_v<BindingTable::Entry>);

namespace {

using Entry = BindingTable::Entry;

// A key's hash and the signature its entry carries. Its "primary" bytes (an IP record's address,
// else the host) are what is hashed. A key that also has bytes of the other kind (an IP key with
// a host, a host key with an address: never made by RecordKey's constructors, but legal) is not
// canonical; it is hashed in full. A Probe refers into its KeyView: keep that alive while it is
// used.
struct Probe {
    const KeyView& key;
    std::uint64_t hash = 0;
    std::uint64_t signature = 0;

    explicit Probe(const KeyView& k) : key(k) {
        const bool ip = k.family == Family::ip;
        const std::string_view primary = ip ? addr_bytes(k.addr) : k.host;
        const std::string_view secondary = ip ? k.host : addr_bytes(k.addr);
        const bool canonical =
            ip ? k.host.empty()
               : (load64(k.addr.bytes.data()) | load64(k.addr.bytes.data() + 8)) == 0;
        const std::uint64_t seed = std::uint64_t{static_cast<std::uint8_t>(k.family)} |
                                   std::uint64_t{k.port} << 8 | std::uint64_t{k.addr.v6} << 24;
        hash = hash_bytes(primary, seed);
        if (!canonical) hash = mix(hash ^ kSecret0, hash_bytes(secondary, kSecret1));
        // tag (32) | port (16) | primary length, at most 255 (8) | family (2) | v6 (1), so that a
        // probe rarely reads a Record that is not the one it looks for. Never 0: an IP key's
        // primary length is 16 and the other families are non-zero.
        signature = (hash & 0xffff'ffffu) | std::uint64_t{k.port} << 32 |
                    std::uint64_t{std::min<std::size_t>(primary.size(), 255)} << 48 |
                    std::uint64_t{static_cast<std::uint8_t>(k.family)} << 56 |
                    std::uint64_t{k.addr.v6} << 58;
    }

    bool matches(const Entry& e) const {
        return e.signature == signature && same_key(key_view(e.record->key), key);
    }
    Probe(const Probe&) = delete;
    Probe& operator=(const Probe&) = delete;

    Entry make_entry(const Record* record) const { return {signature, record}; }
};
static_assert(static_cast<int>(Family::scoped_ccs) < 4, "family needs 2 bits of the signature");

// The tag (the hash's low 32 bits) scaled to [0, slots): any slot count works, not only powers
// of two, so a large shard is sized to its records rather than to the next power of two (which
// would leave a million-record index under half full).
std::size_t home_slot(std::uint64_t signature, std::size_t slots) {
    return static_cast<std::size_t>((signature & 0xffff'ffffu) * slots >> 32);
}
std::size_t next_slot(std::size_t i, std::size_t slots) {
    return i + 1 == slots ? 0 : i + 1;
}

// Slots per shard: at most 3/4 full, so linear probes stay short (expected 2.5 slots for a hit,
// 8.5 for a miss: both a line or two of 16-byte entries). Small shards take a power of two (4 at
// least); large ones a multiple of kSlotStep, so that the index arena sees few distinct block
// sizes.
constexpr std::size_t kSlotStep = 64;
std::size_t capacity_for(std::size_t records) {
    if (records == 0) return 0;
    const std::size_t needed = (records * 4 + 2) / 3;
    if (needed > kSlotStep) return (needed + kSlotStep - 1) / kSlotStep * kSlotStep;
    std::size_t capacity = 4;
    while (capacity < needed) capacity *= 2;
    return capacity;
}
bool capacity_fits(std::size_t records, std::size_t capacity) {
    return records != 0 && records * 4 <= capacity * 3 &&
           (capacity <= 4 || capacity <= capacity_for(records) * 2);
}

// The shared index of every empty shard: one empty slot.
const Entry kEmptyIndex[1] = {};

}  // namespace

struct BindingTable::Snapshot {
    struct Shard {
        const Entry* index = kEmptyIndex;
        std::uint32_t slots = 1;
        std::uint32_t size = 0;
    };
    std::uint64_t version = 0;
    std::size_t size = 0;
    std::array<Shard, kShards> shards{};
};

// The records of one assign(), in the vector they were loaded into.
struct BindingTable::Slab {
    std::vector<Record> records;
    bool holds(const Record* r) const {
        return !records.empty() && r >= records.data() && r < records.data() + records.size();
    }
};

// What a write unpublished, freed after the grace period.
struct BindingTable::Retired {
    std::vector<Snapshot::Shard> shards;
    std::vector<const Record*> records;  // allocated one by one (insert, update)
    std::unique_ptr<Slab> slab;          // the previous assign()'s, when this write is one
};

namespace {
using Shard = BindingTable::Snapshot::Shard;
}

// Index memory. A million-record table has ~256 MiB of index probed at random; with 4 KiB pages
// nearly every lookup also walked the page table, so the index lives in 2 MiB slabs the kernel is
// asked to back with transparent huge pages. A slab holds blocks of one size and goes
// back to the kernel when its last block is freed. Only writers use it (under the writer mutex).
// Free blocks are poisoned for AddressSanitizer, so a reader that outlived its grace period shows.
class BindingTable::IndexArena {
  public:
    IndexArena() = default;
    IndexArena(const IndexArena&) = delete;
    IndexArena& operator=(const IndexArena&) = delete;
    ~IndexArena() {
        for (auto& [base, slab] : slabs_) unmap(reinterpret_cast<char*>(base), kSlabBytes);
    }

    // `capacity` empty slots.
    Entry* allocate(std::size_t capacity) {
        const std::size_t bytes = capacity * sizeof(Entry);
        char* block = bytes > kSlabBytes ? map(bytes) : take_block(bytes);
        ASAN_UNPOISON_MEMORY_REGION(block, bytes);
        auto* index = reinterpret_cast<Entry*>(block);
        std::uninitialized_value_construct_n(index, capacity);
        return index;
    }

    void free(const Shard& shard) {
        if (shard.index == kEmptyIndex) return;
        char* block = reinterpret_cast<char*>(const_cast<Entry*>(shard.index));
        const std::size_t bytes = std::size_t{shard.slots} * sizeof(Entry);
        if (bytes > kSlabBytes) return unmap(block, bytes);
        ASAN_POISON_MEMORY_REGION(block, bytes);
        const auto base = reinterpret_cast<std::uintptr_t>(block) & ~(kSlabBytes - 1);
        Slab& slab = slabs_.at(base);
        if (--slab.used == 0) {
            unmap(reinterpret_cast<char*>(base), kSlabBytes);
            with_room_[bytes].erase(base);
            slabs_.erase(base);
            return;
        }
        slab.free_blocks.push_back(block);
        with_room_[bytes].insert(base);
    }

  private:
    static constexpr std::size_t kSlabBytes = std::size_t{2} << 20;
    struct Slab {
        std::size_t used = 0;    // blocks handed out and not freed
        std::size_t carved = 0;  // blocks handed out at least once
        std::vector<char*> free_blocks;
    };

    char* take_block(std::size_t bytes) {
        auto& candidates = with_room_[bytes];
        if (candidates.empty()) {
            char* base = map(kSlabBytes);
            ASAN_POISON_MEMORY_REGION(base, kSlabBytes);
            slabs_.emplace(reinterpret_cast<std::uintptr_t>(base), Slab{});
            candidates.insert(reinterpret_cast<std::uintptr_t>(base));
        }
        const std::uintptr_t base = *candidates.begin();
        Slab& slab = slabs_.at(base);
        char* block;
        if (!slab.free_blocks.empty()) {
            block = slab.free_blocks.back();
            slab.free_blocks.pop_back();
        } else {
            block = reinterpret_cast<char*>(base) + slab.carved++ * bytes;
        }
        if (++slab.used == kSlabBytes / bytes) candidates.erase(base);
        return block;
    }

    // `bytes` (a multiple of kSlabBytes) of zeroed memory aligned to kSlabBytes.
    static char* map(std::size_t bytes) {
        const std::size_t padded = bytes + kSlabBytes;
        void* raw =
            mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) throw std::bad_alloc();
        char* start = static_cast<char*>(raw);
        char* aligned = reinterpret_cast<char*>(
            (reinterpret_cast<std::uintptr_t>(start) + kSlabBytes - 1) & ~(kSlabBytes - 1));
        if (aligned != start) munmap(start, static_cast<std::size_t>(aligned - start));
        munmap(aligned + bytes, padded - bytes - static_cast<std::size_t>(aligned - start));
        advise_huge_pages(aligned, bytes);
        return aligned;
    }
    static void unmap(char* block, std::size_t bytes) {
        ASAN_UNPOISON_MEMORY_REGION(block, bytes);
        munmap(block, bytes);
    }

    absl::flat_hash_map<std::uintptr_t, Slab> slabs_;  // by base address
    // Slabs with a free block, by block size.
    absl::flat_hash_map<std::size_t, absl::flat_hash_set<std::uintptr_t>> with_room_;
};

namespace {

std::size_t shard_of(std::uint64_t hash) {
    return hash >> (64 - kShardBits);
}

[[gnu::always_inline]] inline const Entry* find_entry(const Shard& shard, const Probe& probe) {
    for (std::size_t i = home_slot(probe.signature, shard.slots);; i = next_slot(i, shard.slots)) {
        const Entry& e = shard.index[i];
        if (probe.matches(e)) return &e;
        if (e.signature == 0) return nullptr;
    }
}

// Puts `e` in the first free slot of its probe sequence (the key is known to be absent).
void place(Entry* index, std::size_t slots, const Entry& e) {
    std::size_t i = home_slot(e.signature, slots);
    while (index[i].signature != 0) i = next_slot(i, slots);
    index[i] = e;
}

// Removes slot `hole` from a linear-probing index, moving later entries of the run back so that
// every entry stays reachable from its home slot (no tombstones).
void remove_slot(Entry* index, std::size_t slots, std::size_t hole) {
    // How far `to` lies after `from`, going forward and wrapping.
    auto distance = [slots](std::size_t from, std::size_t to) {
        return to >= from ? to - from : to + slots - from;
    };
    for (std::size_t next = next_slot(hole, slots); index[next].signature != 0;
         next = next_slot(next, slots)) {
        const std::size_t home = home_slot(index[next].signature, slots);
        // `next` may fill the hole only if its home is not within (hole, next].
        const bool home_after_hole = home != hole && distance(hole, home) <= distance(hole, next);
        if (home_after_hole) continue;
        index[hole] = index[next];
        hole = next;
    }
    index[hole] = Entry{};
}

// A private copy of `shard`'s index sized for `records` entries, without `dropped` (an entry of
// `shard` that an erase removes): a smaller index may not have room for it.
Shard copy_shard(BindingTable::IndexArena& arena, const Shard& shard, std::size_t records,
                 const Entry* dropped = nullptr) {
    const std::size_t old_capacity = shard.index == kEmptyIndex ? 0 : shard.slots;
    const std::size_t capacity =
        capacity_fits(records, old_capacity) ? old_capacity : capacity_for(records);
    if (capacity == 0) return {};
    Entry* index = arena.allocate(capacity);
    if (capacity == old_capacity) {
        std::copy_n(shard.index, capacity, index);
        if (dropped) remove_slot(index, capacity, static_cast<std::size_t>(dropped - shard.index));
    } else {
        for (std::size_t i = 0; i < old_capacity; ++i)
            if (shard.index[i].signature != 0 && &shard.index[i] != dropped)
                place(index, capacity, shard.index[i]);
    }
    return {index, static_cast<std::uint32_t>(capacity), static_cast<std::uint32_t>(records)};
}

Entry* mutable_index(const Shard& shard) {
    return const_cast<Entry*>(shard.index);  // a copy the writer made and has not published
}

}  // namespace

BindingTable::BindingTable() : BindingTable(std::vector<Record>{}) {}

BindingTable::BindingTable(std::vector<Record> records)
    : current_(nullptr), arena_(std::make_unique<IndexArena>()) {
    assign(std::move(records));
}

BindingTable::~BindingTable() {
    const Snapshot* s = current_.load();
    for (const Shard& shard : s->shards) {
        for (std::size_t i = 0; shard.size != 0 && i < shard.slots; ++i)
            if (const Record* r = shard.index[i].record; r && !slab_->holds(r)) delete r;
        arena_->free(shard);
    }
    delete s;
}

BindingTable::Reader BindingTable::read() const {
    thread_local RcuThread registration;
    urcu_memb_read_lock();
    return Reader(current_.load(std::memory_order_acquire));
}

BindingTable::Reader::~Reader() {
    reader_leaves();
    urcu_memb_read_unlock();
}

const Record* BindingTable::Reader::find(const KeyView& key) const {
    const Probe probe(key);
    const Entry* e = find_entry(snapshot_->shards[shard_of(probe.hash)], probe);
    return e ? e->record : nullptr;
}

std::uint64_t BindingTable::Reader::version() const {
    return snapshot_->version;
}
std::size_t BindingTable::Reader::size() const {
    return snapshot_->size;
}

std::vector<const Record*> BindingTable::Reader::all() const {
    std::vector<const Record*> out;
    out.reserve(snapshot_->size);
    for (const Shard& shard : snapshot_->shards)
        for (std::size_t i = 0; shard.size != 0 && i < shard.slots; ++i)
            if (shard.index[i].signature != 0) out.push_back(shard.index[i].record);
    return out;
}

std::uint64_t key_hash(const KeyView& key) {
    return Probe(key).hash;
}

std::size_t BindingTable::shard_index(const KeyView& key) {
    return shard_of(Probe(key).hash);
}

std::uint64_t BindingTable::version() const {
    return version_.load(std::memory_order_acquire);
}

void BindingTable::publish(Snapshot* next, Retired retired) {
    const Snapshot* previous = current_.exchange(next, std::memory_order_acq_rel);
    version_.store(next->version, std::memory_order_release);
    if (previous == nullptr) return;
    // Wait until no reader can still hold `previous`, then free it and what it alone had.
    urcu_memb_synchronize_rcu();
    grace_period_done();
    for (const Shard& shard : retired.shards) arena_->free(shard);
    for (const Record* record : retired.records) delete record;
    retired.slab.reset();
    delete previous;
}

// The one-record write: copy the shard index that holds `key`, change the copy, publish. Fails
// (nothing written) when the key is present for an insert or absent otherwise.
bool BindingTable::change_one(Change change, const KeyView& key, std::unique_ptr<Record> record) {
    std::lock_guard lock(writer_);
    const Snapshot* cur = current_.load(std::memory_order_relaxed);
    const Probe probe(key);
    const std::size_t s = shard_of(probe.hash);
    const Shard& old = cur->shards[s];
    const Entry* existing = find_entry(old, probe);
    if ((existing != nullptr) == (change == Change::insert)) return false;

    Retired retired;
    std::size_t size = old.size;
    Shard shard;
    if (change == Change::insert) {
        shard = copy_shard(*arena_, old, ++size);
        place(mutable_index(shard), shard.slots, probe.make_entry(record.release()));
    } else {
        // A record of the slab stays there until the next assign() (see slab_).
        if (!slab_->holds(existing->record)) retired.records.push_back(existing->record);
        if (change == Change::erase) {
            shard = copy_shard(*arena_, old, --size, existing);
        } else {
            shard = copy_shard(*arena_, old, size);
            // The copy may have moved entries; find the key again in it.
            auto slot = static_cast<std::size_t>(find_entry(shard, probe) - shard.index);
            mutable_index(shard)[slot] = probe.make_entry(record.release());
        }
    }
    shard.size = static_cast<std::uint32_t>(size);
    retired.shards.push_back(old);

    auto* next = new Snapshot(*cur);
    next->version++;
    next->size = next->size - old.size + size;
    next->shards[s] = shard;
    publish(next, std::move(retired));
    return true;
}

bool BindingTable::insert(Record record) {
    auto owned = std::make_unique<Record>(std::move(record));
    const KeyView view = key_view(owned->key);
    return change_one(Change::insert, view, std::move(owned));
}

bool BindingTable::erase(const RecordKey& key) {
    return change_one(Change::erase, key_view(key), nullptr);
}

bool BindingTable::update(Record record) {
    auto owned = std::make_unique<Record>(std::move(record));
    const KeyView view = key_view(owned->key);
    return change_one(Change::update, view, std::move(owned));
}

std::vector<const Record*> BindingTable::assign(std::vector<Record> records) {
    std::lock_guard lock(writer_);
    auto slab = std::make_unique<Slab>(Slab{std::move(records)});
    const std::vector<Record>& loaded = slab->records;
    std::array<std::uint32_t, kShards> counts{};
    for (const Record& r : loaded) ++counts[shard_of(Probe(key_view(r.key)).hash)];

    auto* next = new Snapshot;
    for (std::size_t s = 0; s < kShards; ++s) {
        if (counts[s] == 0) continue;
        const std::size_t capacity = capacity_for(counts[s]);
        next->shards[s] = {arena_->allocate(capacity), static_cast<std::uint32_t>(capacity), 0};
    }
    std::vector<bool> held_at(loaded.size(), true);
    for (const Record& record : loaded) {
        const KeyView view = key_view(record.key);
        const Probe probe(view);
        Shard& shard = next->shards[shard_of(probe.hash)];
        if (const Entry* duplicate = find_entry(shard, probe)) {
            held_at[static_cast<std::size_t>(duplicate->record - loaded.data())] = false;
            const_cast<Entry*>(duplicate)->record = &record;  // later duplicates win
            continue;
        }
        place(mutable_index(shard), shard.slots, probe.make_entry(&record));
        ++shard.size;
        ++next->size;
    }
    std::vector<const Record*> held;
    held.reserve(next->size);
    for (std::size_t i = 0; i < loaded.size(); ++i)
        if (held_at[i]) held.push_back(&loaded[i]);

    const Snapshot* cur = current_.load(std::memory_order_relaxed);
    next->version = cur ? cur->version + 1 : 1;
    Retired retired;
    if (cur) {
        for (const Shard& shard : cur->shards) {
            retired.shards.push_back(shard);
            for (std::size_t i = 0; shard.size != 0 && i < shard.slots; ++i)
                if (const Entry& e = shard.index[i]; e.signature != 0 && !slab_->holds(e.record))
                    retired.records.push_back(e.record);
        }
    }
    retired.slab = std::exchange(slab_, std::move(slab));
    publish(next, std::move(retired));
    return held;
}

}  // namespace snibind
