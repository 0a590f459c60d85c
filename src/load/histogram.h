#pragma once
// A latency histogram with log-linear buckets (as HdrHistogram does): exact below 256 µs, then
// 128 buckets per power of two, so every value is kept within 1/128 (0.8%) of itself, in a fixed
// 30 KiB array: recording is an index computation and an increment, merging is a sum.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace snibind::load {

class LatencyHistogram {
  public:
    static constexpr std::uint64_t kMaxValue = (std::uint64_t{1} << 36) - 1;  // ~19 h in µs

    void record(std::uint64_t micros);
    void merge(const LatencyHistogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
    // The smallest recorded value (to bucket precision) that at least `percent` % of the values
    // do not exceed; 0 when empty. percentile(100) is max().
    std::uint64_t percentile(double percent) const;

    // Everything a histogram holds, with only the buckets that are not empty: what a worker
    // process sends its parent, so that the parent's merge is exact (the same as if one
    // process had recorded every value), never an average of percentiles.
    struct Snapshot {
        std::vector<std::pair<std::size_t, std::uint64_t>> buckets;  // index, count; ascending
        std::uint64_t count = 0, sum = 0, min = 0, max = 0;
    };
    Snapshot snapshot() const;
    // The histogram a snapshot describes; nullopt when it cannot be one (a bucket out of range
    // or repeated, counts that do not add up to `count`, min or max outside their buckets).
    static std::optional<LatencyHistogram> from_snapshot(const Snapshot& s);

    bool operator==(const LatencyHistogram&) const = default;

    // Exposed for tests: the bucket of a value, and the largest value that shares it.
    static std::size_t bucket_of(std::uint64_t value);
    static std::uint64_t highest_in_bucket(std::size_t bucket);

  private:
    static constexpr unsigned kLinearBits = 8;                             // exact below 256
    static constexpr std::size_t kLinear = std::size_t{1} << kLinearBits;  // 256
    static constexpr std::size_t kPerDoubling = kLinear / 2;               // 128
    static constexpr std::size_t kBuckets = kLinear + kPerDoubling * (36 - kLinearBits);

    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0;
};

}  // namespace snibind::load
