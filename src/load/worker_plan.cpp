#include "load/worker_plan.h"

#include <sched.h>

#include <algorithm>

#include "load/sampling.h"

namespace snibind::load {

std::uint64_t share_of(std::uint64_t total, unsigned parts, unsigned index) {
    if (parts == 0 || index >= parts) return 0;
    return total / parts + (index < total % parts ? 1 : 0);
}

unsigned default_workers(unsigned cores, bool threads_given) {
    if (threads_given) return 1;
    return std::max(1u, cores);
}

unsigned available_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

unsigned effective_workers(unsigned wanted, const LoadOptions& all) {
    std::uint64_t n = std::max(1u, wanted);
    n = std::min<std::uint64_t>(n, std::max<std::size_t>(1, all.concurrency));
    if (all.connections)
        n = std::min<std::uint64_t>(n, std::max<std::uint64_t>(1, *all.connections));
    return static_cast<unsigned>(n);
}

LoadOptions worker_options(const LoadOptions& all, unsigned index, unsigned count) {
    LoadOptions o = all;
    o.worker_index = index;
    o.worker_count = count;
    o.concurrency = static_cast<std::size_t>(share_of(all.concurrency, count, index));
    if (all.connections) o.connections = share_of(*all.connections, count, index);
    o.progress = false;
    return o;
}

std::chrono::nanoseconds worker_pacing_offset(std::uint64_t k, unsigned index, unsigned count,
                                              double rate) {
    return pacing_offset(k * std::max(1u, count) + index, rate);
}

}  // namespace snibind::load
