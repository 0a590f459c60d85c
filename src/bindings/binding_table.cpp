#include "bindings/binding_table.h"

#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>
#include <urcu/urcu-memb.h>

#include <array>
#include <functional>
#include <string_view>
#include <tuple>

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

std::string_view addr_bytes(const IpAddress& a) {
    return {reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size()};
}

struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(const KeyView& k) const {
        return absl::Hash<
            std::tuple<std::uint8_t, std::uint16_t, bool, std::string_view, std::string_view>>{}(
            {static_cast<std::uint8_t>(k.family), k.port, k.addr.v6, addr_bytes(k.addr), k.host});
    }
    std::size_t operator()(const Record& r) const { return (*this)(key_view(r.key)); }
};

struct KeyEq {
    using is_transparent = void;
    static bool eq(const KeyView& a, const KeyView& b) {
        return a.family == b.family && a.port == b.port && a.addr == b.addr && a.host == b.host;
    }
    bool operator()(const Record& a, const Record& b) const {
        return eq(key_view(a.key), key_view(b.key));
    }
    bool operator()(const Record& a, const KeyView& b) const { return eq(key_view(a.key), b); }
    bool operator()(const KeyView& a, const Record& b) const { return eq(a, key_view(b.key)); }
};

std::size_t shard_of(const KeyView& k) {
    return KeyHash{}(k) >> 58;
}  // top 6 bits: 64 shards
static_assert(BindingTable::kShards == 64);

}  // namespace

KeyView key_view(const RecordKey& key) {
    return {key.family, key.port, key.addr, key.host};
}

struct BindingTable::Shard {
    absl::flat_hash_set<Record, KeyHash, KeyEq> records;
};

struct BindingTable::Snapshot {
    std::uint64_t version = 0;
    std::size_t size = 0;
    std::array<const Shard*, kShards> shards{};
};

BindingTable::BindingTable() : BindingTable(std::vector<Record>{}) {}

BindingTable::BindingTable(std::vector<Record> records) : current_(nullptr) {
    assign(std::move(records));
}

BindingTable::~BindingTable() {
    const Snapshot* s = current_.load();
    for (auto* shard : s->shards) delete shard;
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
    const Shard* shard = snapshot_->shards[shard_of(key)];
    auto it = shard->records.find(key);
    return it == shard->records.end() ? nullptr : &*it;
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
    for (auto* shard : snapshot_->shards)
        for (auto& r : shard->records) out.push_back(&r);
    return out;
}

std::uint64_t BindingTable::version() const {
    return current_.load(std::memory_order_acquire)->version;
}

void BindingTable::publish(Snapshot* next, std::vector<const Shard*> retired_shards) {
    const Snapshot* previous = current_.exchange(next, std::memory_order_acq_rel);
    if (previous == nullptr) return;
    // Wait until no reader can still hold `previous`, then free it and the shards it alone had.
    urcu_memb_synchronize_rcu();
    grace_period_done();
    for (auto* shard : retired_shards) delete shard;
    delete previous;
}

// The one-record write: copy the shard that holds `view`, let `edit` change the copy, publish.
// Fails (nothing written) when the key's presence is not `must_exist`.
bool BindingTable::rewrite_shard(const KeyView& view, bool must_exist, std::ptrdiff_t size_change,
                                 const std::function<void(Shard&)>& edit) {
    std::lock_guard lock(writer_);
    const Snapshot* cur = current_.load(std::memory_order_relaxed);
    std::size_t i = shard_of(view);
    if (cur->shards[i]->records.contains(view) != must_exist) return false;
    auto* shard = new Shard(*cur->shards[i]);
    edit(*shard);
    auto* next = new Snapshot(*cur);
    next->version++;
    next->size = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(next->size) + size_change);
    next->shards[i] = shard;
    publish(next, {cur->shards[i]});
    return true;
}

bool BindingTable::insert(Record record) {
    auto view = key_view(record.key);
    return rewrite_shard(view, false, +1, [&](Shard& s) { s.records.insert(std::move(record)); });
}

bool BindingTable::erase(const RecordKey& key) {
    auto view = key_view(key);
    return rewrite_shard(view, true, -1, [&](Shard& s) { s.records.erase(s.records.find(view)); });
}

bool BindingTable::update(Record record) {
    auto view = key_view(record.key);
    return rewrite_shard(view, true, 0, [&](Shard& s) {
        s.records.erase(s.records.find(view));
        s.records.insert(std::move(record));
    });
}

void BindingTable::assign(std::vector<Record> records) {
    std::lock_guard lock(writer_);
    std::array<Shard*, kShards> fresh;
    for (auto& s : fresh) s = new Shard;
    std::size_t size = 0;
    for (auto& r : records) {
        auto& set = fresh[shard_of(key_view(r.key))]->records;
        if (auto it = set.find(key_view(r.key)); it != set.end()) {
            set.erase(it);
            --size;
        }
        set.insert(std::move(r));
        ++size;
    }
    const Snapshot* cur = current_.load(std::memory_order_relaxed);
    auto* next = new Snapshot;
    next->version = cur ? cur->version + 1 : 1;
    next->size = size;
    for (std::size_t i = 0; i < kShards; ++i) next->shards[i] = fresh[i];
    std::vector<const Shard*> retired;
    if (cur) retired.assign(cur->shards.begin(), cur->shards.end());
    publish(next, std::move(retired));
}

}  // namespace snibind
