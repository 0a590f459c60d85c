#pragma once
// What a `snibind load` worker process and its parent say to each other: one JSON object a line
// on the worker's standard output, one command a line on its standard input.
//
//   worker → parent   {"ready":true}      set up (sockets, TLS context), waiting for "go"
//                     {"progress":{...}}  once a second: connections, errors, held so far
//                     {"report":{...}}    at the end: every counter and both latency
//                                         histograms bucket by bucket, so the parent's sum is
//                                         exact (the same as one process recording everything)
//   parent → worker   go NS               start at NS, steady-clock nanoseconds: the clock is
//                                         the machine's (CLOCK_MONOTONIC), so every worker
//                                         starts and measures over the same interval
//                     stop                end now (Ctrl-C, SIGTERM); with --hold, once the
//                                         measured interval is over, close the held
//                                         connections. End of input means the same.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "load/load_report.h"

namespace snibind::load {

struct Progress {
    std::uint64_t connections = 0, errors = 0, held = 0;
};

// Each message is one line, '\n' included.
std::string ready_message();
std::string progress_message(const Progress& p);
// `names` are the run's --name/--names: certificates travel by name index, so a name that is
// not valid UTF-8 arrives byte for byte.
std::string report_message(const LoadReport& r, const std::vector<std::string>& names);

struct WorkerMessage {
    enum class Kind { ready, progress, report } kind = Kind::ready;
    Progress progress;
    LoadReport report;
};
// One line from a worker (without its '\n'); nullopt with `error` when it is not a message.
std::optional<WorkerMessage> parse_worker_message(std::string_view line,
                                                  const std::vector<std::string>& names,
                                                  std::string& error);

std::string go_command(std::chrono::steady_clock::time_point start);
inline constexpr std::string_view kStopCommand = "stop\n";
// "go NS" (without '\n') to its start time; nullopt for anything else.
std::optional<std::chrono::steady_clock::time_point> parse_go_command(std::string_view line);

// Adds a worker's report to the totals: every counter, error kind, HTTP status, certificate and
// both histograms; the measured seconds are the longest; CPU adds up.
void merge_report(LoadReport& total, const LoadReport& part);

}  // namespace snibind::load
