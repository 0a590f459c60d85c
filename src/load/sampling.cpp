#include "load/sampling.h"

#include <algorithm>
#include <cmath>

namespace snibind::load {

Rng make_rng(std::uint64_t seed, std::uint64_t stream) {
    std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                      static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)};
    return Rng(seq);
}

double uniform01(Rng& rng) {
    return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

NameSampler::NameSampler(std::size_t count, double zipf_exponent) : count_(count) {
    if (count_ == 0 || zipf_exponent <= 0) return;
    cdf_.resize(count_);
    double total = 0;
    for (std::size_t i = 0; i < count_; ++i) {
        total += std::pow(static_cast<double>(i + 1), -zipf_exponent);
        cdf_[i] = total;
    }
    for (double& c : cdf_) c /= total;
    cdf_.back() = 1.0;  // no rounding gap at the top
}

std::size_t NameSampler::sample(Rng& rng) const {
    if (count_ <= 1) return 0;
    if (cdf_.empty())
        return std::min(static_cast<std::size_t>(uniform01(rng) * static_cast<double>(count_)),
                        count_ - 1);
    auto it = std::upper_bound(cdf_.begin(), cdf_.end(), uniform01(rng));
    return std::min(static_cast<std::size_t>(it - cdf_.begin()), count_ - 1);
}

double NameSampler::probability(std::size_t i) const {
    if (i >= count_) return 0;
    if (cdf_.empty()) return 1.0 / static_cast<double>(count_);
    return i == 0 ? cdf_[0] : cdf_[i] - cdf_[i - 1];
}

std::chrono::nanoseconds pacing_offset(std::uint64_t k, double rate) {
    if (rate <= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / rate));
}

}  // namespace snibind::load
