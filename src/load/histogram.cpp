#include "load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace snibind::load {

std::size_t LatencyHistogram::bucket_of(std::uint64_t value) {
    value = std::min(value, kMaxValue);
    if (value < kLinear) return static_cast<std::size_t>(value);
    const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - kLinearBits;
    return kLinear + (shift - 1) * kPerDoubling +
           static_cast<std::size_t>((value >> shift) - kPerDoubling);
}

std::uint64_t LatencyHistogram::highest_in_bucket(std::size_t bucket) {
    if (bucket < kLinear) return bucket;
    const std::size_t k = bucket - kLinear;
    const unsigned shift = static_cast<unsigned>(k / kPerDoubling) + 1;
    const std::uint64_t sub = k % kPerDoubling + kPerDoubling;
    return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::record(std::uint64_t micros) {
    micros = std::min(micros, kMaxValue);
    ++counts_[bucket_of(micros)];
    ++count_;
    sum_ += micros;
    min_ = std::min(min_, micros);
    max_ = std::max(max_, micros);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
    Snapshot s;
    for (std::size_t i = 0; i < kBuckets; ++i)
        if (counts_[i] != 0) s.buckets.emplace_back(i, counts_[i]);
    s.count = count_;
    s.sum = sum_;
    s.min = min();
    s.max = max_;
    return s;
}

std::optional<LatencyHistogram> LatencyHistogram::from_snapshot(const Snapshot& s) {
    LatencyHistogram h;
    if (s.count == 0) {
        if (!s.buckets.empty() || s.sum != 0 || s.min != 0 || s.max != 0) return std::nullopt;
        return h;
    }
    if (s.min > s.max || s.max > kMaxValue || s.buckets.empty() ||
        s.buckets.front().first != bucket_of(s.min) || s.buckets.back().first != bucket_of(s.max))
        return std::nullopt;
    std::uint64_t total = 0;
    std::size_t next = 0;  // buckets strictly ascending: none repeated
    for (const auto& [index, n] : s.buckets) {
        if (index < next || index >= kBuckets || n == 0 || total + n < total) return std::nullopt;
        h.counts_[index] = n;
        total += n;
        next = index + 1;
    }
    if (total != s.count) return std::nullopt;
    h.count_ = s.count;
    h.sum_ = s.sum;
    h.min_ = s.min;
    h.max_ = s.max;
    return h;
}

std::uint64_t LatencyHistogram::percentile(double percent) const {
    if (count_ == 0) return 0;
    // The epsilon keeps 99.9% of 1000 at rank 999: 99.9 / 100 * 1000 is 999.0000000000001.
    const double wanted = std::ceil(std::clamp(percent, 0.0, 100.0) / 100.0 * count_ - 1e-9);
    const std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::clamp(highest_in_bucket(i), min_, max_);
    }
    return max_;
}

}  // namespace snibind::load
