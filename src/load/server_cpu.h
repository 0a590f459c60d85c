#pragma once
// The CPU time another process has used (user + system, all its threads, living or exited),
// read before and after a measured interval to charge the server per connection; and its
// resident memory, read before and while connections are held open (--hold). A server is a
// process and every process descended from it, so a multi-process server (nginx's master and
// its workers) is charged for all of them.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace snibind::load {

// From the process's CPU-time clock (nanosecond resolution) when the kernel lets us read it,
// else from utime + stime in /proc/PID/stat (clock ticks, usually 10 ms). nullopt when the
// process does not exist.
std::optional<std::chrono::nanoseconds> process_cpu_time(pid_t pid);

// utime + stime (fields 14 and 15, in clock ticks) from the text of /proc/PID/stat. The command
// name (field 2) may hold spaces and parentheses, so fields are counted from the last ')'.
std::optional<std::uint64_t> parse_proc_stat_ticks(std::string_view stat);

// The fields of /proc/PID/stat that charging a process tree needs (times in clock ticks).
struct ProcStat {
    pid_t ppid = 0;                        // field 4
    std::uint64_t utime = 0, stime = 0;    // fields 14, 15: this process, all its threads
    std::uint64_t cutime = 0, cstime = 0;  // fields 16, 17: its children it has waited for
};
std::optional<ProcStat> parse_proc_stat(std::string_view stat);

// `root` and every process descended from it, root first, from (pid, parent pid) pairs. Pure.
std::vector<pid_t> descendants(pid_t root, const std::vector<std::pair<pid_t, pid_t>>& parents);
// The same over the processes alive now (/proc/*/stat); empty when `root` does not exist.
std::vector<pid_t> process_tree(pid_t root);

// What a server (a process and its descendants) has used so far.
struct ServerSample {
    // CPU of every process in the tree, plus what those processes' exited children had used
    // once waited for (cutime + cstime): a worker that exits during the run and is reaped by
    // its master moves its CPU there rather than losing it.
    std::chrono::nanoseconds cpu{0};
    std::uint64_t rss_bytes = 0;  // the sum of VmRSS (pages shared between them count twice)
    std::size_t processes = 0;
};
// nullopt when `root` does not exist.
std::optional<ServerSample> sample_server(pid_t root);

// The resident set size in bytes (VmRSS of /proc/PID/status); nullopt when the process does not
// exist.
std::optional<std::uint64_t> process_rss_bytes(pid_t pid);
// VmRSS ("VmRSS:     1234 kB") from the text of /proc/PID/status, in bytes.
std::optional<std::uint64_t> parse_status_rss_bytes(std::string_view status);

}  // namespace snibind::load
