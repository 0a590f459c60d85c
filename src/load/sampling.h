#pragma once
// Which name each connection uses, and when it may start: seeded, so two runs with the same
// seed send the same sequence of names. Pure: no I/O, no clock.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace snibind::load {

using Rng = std::mt19937_64;

// A seeded generator for one worker thread: the same (seed, stream) gives the same sequence.
Rng make_rng(std::uint64_t seed, std::uint64_t stream);
// Uniform in [0, 1), from the top 53 bits (the same on every platform, unlike
// std::uniform_real_distribution).
double uniform01(Rng& rng);

// Draws an index 0..count-1: uniformly, or by Zipf's law with exponent `s` (rank k, 1-based, is
// drawn with probability proportional to 1/k^s), so index 0 is the most frequent name.
class NameSampler {
  public:
    NameSampler(std::size_t count, double zipf_exponent);
    std::size_t sample(Rng& rng) const;
    std::size_t count() const { return count_; }
    // The probability of index i (for tests and reports).
    double probability(std::size_t i) const;

  private:
    std::size_t count_;
    std::vector<double> cdf_;  // Zipf only: cdf_[i] = P(index <= i)
};

// When the k-th connection (0-based) may start under `rate` connections per second, counted
// from the start of the run; zero for every k when rate <= 0 (no limit).
std::chrono::nanoseconds pacing_offset(std::uint64_t k, double rate);

}  // namespace snibind::load
