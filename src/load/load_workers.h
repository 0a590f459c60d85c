#pragma once
// `snibind load` as worker processes: the parent starts N workers (this same binary, run again
// with a hidden flag that says which worker it is), each with its own event loops and its own
// TLS library state, starts them together, reads the server (--server-pid) at the edges of the
// measured interval, draws the progress line, passes on Ctrl-C and SIGTERM, and adds the
// workers' reports up exactly (worker_protocol.h says what travels).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "load/load_options.h"
#include "load/load_report.h"

namespace snibind::load {

class ExpectationTable;

// The parent: runs options.workers workers, worker i started as `worker_command(i, n)` (argv,
// argv[0] included; the executable is /proc/self/exe). Returns the report, which lists every
// worker and says when one of them did not report (complete() is false); nullopt with `error`
// when the run could not start (a worker could not be started, or ended before the start).
std::optional<LoadReport> run_workers(
    const LoadOptions& options,
    const std::function<std::vector<std::string>(unsigned index, unsigned count)>& worker_command,
    std::string& error);

// A worker's main: runs `options` (its share, from worker_options()) speaking the protocol on
// standard input and output. Returns the process's exit status.
int run_worker_process(const LoadOptions& options, const ExpectationTable* expect);

}  // namespace snibind::load
