#pragma once
// How `snibind load` divides one run between worker processes. Pure: the parent and every
// worker compute the same shares from the same options, so nothing but the worker's index and
// the count has to be passed down.
//
// Why processes and not threads: OpenSSL 3.0's threads contend on its global locks (algorithm
// fetches, property queries: openssl/openssl issues 17064, 20286), and a TLS client does more
// crypto than the server (an ECDSA verify, X25519), so eight threads of one process stop at
// about 3 600 handshakes/s whatever the server. Processes share no library state.
#include <chrono>
#include <cstdint>
#include <optional>

#include "load/load_options.h"

namespace snibind::load {

// Part `index` of `total` split into `parts` as evenly as possible: the first total % parts
// parts get one more. The parts always add up to `total`.
std::uint64_t share_of(std::uint64_t total, unsigned parts, unsigned index);

// The number of workers when --workers is not given: one per core this process may run on
// (`cores`, from its CPU affinity), or one when --threads is given (the user asked for threads
// in one process). `cores` of 0 counts as 1.
unsigned default_workers(unsigned cores, bool threads_given);

// The CPUs this process may run on (sched_getaffinity: taskset, cpusets); 1 when unknown.
unsigned available_cores();

// `wanted` workers, but never more than the connections in flight or than --connections: a
// worker always has at least one connection to run.
unsigned effective_workers(unsigned wanted, const LoadOptions& all);

// What worker `index` of `count` runs: its share of the concurrency and of --connections, the
// same rate schedule interleaved (it takes every count-th start of the whole run's schedule,
// from start `index`, so the starts of all workers together are the schedule of --rate), and
// its own random streams for the name draw.
LoadOptions worker_options(const LoadOptions& all, unsigned index, unsigned count);

// When start `k` (0-based) of worker `index` of `count` may begin under `rate` starts per
// second for the whole run, counted from the start of the run.
std::chrono::nanoseconds worker_pacing_offset(std::uint64_t k, unsigned index, unsigned count,
                                              double rate);

}  // namespace snibind::load
