#pragma once
// The CPU time another process has used (user + system, all its threads, living or exited),
// read before and after a measured interval to charge the server per connection; and its
// resident memory, read before and while connections are held open (--hold).
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace snibind::load {

// From the process's CPU-time clock (nanosecond resolution) when the kernel lets us read it,
// else from utime + stime in /proc/PID/stat (clock ticks, usually 10 ms). nullopt when the
// process does not exist.
std::optional<std::chrono::nanoseconds> process_cpu_time(pid_t pid);

// utime + stime (fields 14 and 15, in clock ticks) from the text of /proc/PID/stat. The command
// name (field 2) may hold spaces and parentheses, so fields are counted from the last ')'.
std::optional<std::uint64_t> parse_proc_stat_ticks(std::string_view stat);

// The resident set size in bytes (VmRSS of /proc/PID/status); nullopt when the process does not
// exist.
std::optional<std::uint64_t> process_rss_bytes(pid_t pid);
// VmRSS ("VmRSS:     1234 kB") from the text of /proc/PID/status, in bytes.
std::optional<std::uint64_t> parse_status_rss_bytes(std::string_view status);

}  // namespace snibind::load
