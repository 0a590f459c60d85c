#include "load/server_cpu.h"

#include <time.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

namespace snibind::load {

std::optional<ProcStat> parse_proc_stat(std::string_view stat) {
    const auto close = stat.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = stat.substr(close + 1);
    ProcStat out;
    // After the ')' come field 3 (state), 4 (ppid), ...
    for (int field = 3; field <= 17; ++field) {
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        const auto end = rest.find(' ');
        std::string_view value = rest.substr(0, end);
        if (value.empty()) return std::nullopt;
        if (field == 4 || field >= 14) {
            std::uint64_t v = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec != std::errc() || p != value.data() + value.size()) return std::nullopt;
            switch (field) {
                case 4:
                    out.ppid = static_cast<pid_t>(v);
                    break;
                case 14:
                    out.utime = v;
                    break;
                case 15:
                    out.stime = v;
                    break;
                case 16:
                    out.cutime = v;
                    break;
                case 17:
                    out.cstime = v;
                    break;
            }
        }
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    }
    return out;
}

std::optional<std::uint64_t> parse_proc_stat_ticks(std::string_view stat) {
    auto fields = parse_proc_stat(stat);
    if (!fields) return std::nullopt;
    return fields->utime + fields->stime;
}

std::vector<pid_t> descendants(pid_t root, const std::vector<std::pair<pid_t, pid_t>>& parents) {
    std::multimap<pid_t, pid_t> children;
    bool exists = false;
    for (const auto& [pid, ppid] : parents) {
        children.emplace(ppid, pid);
        exists = exists || pid == root;
    }
    if (!exists) return {};
    std::vector<pid_t> out{root};
    // Breadth first; a pid is never its own ancestor, so this ends.
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto [first, last] = children.equal_range(out[i]);
        for (auto it = first; it != last; ++it)
            if (it->second != out[i]) out.push_back(it->second);
    }
    return out;
}

namespace {

std::optional<std::string> read_proc(pid_t pid, const char* file) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
    if (!in) return std::nullopt;
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::chrono::nanoseconds ticks_to_ns(std::uint64_t ticks) {
    const long per_second = sysconf(_SC_CLK_TCK);
    if (per_second <= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(ticks * (1'000'000'000 / per_second)));
}

}  // namespace

std::vector<pid_t> process_tree(pid_t root) {
    std::vector<std::pair<pid_t, pid_t>> parents;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename().string();
        pid_t pid = 0;
        auto [p, err] = std::from_chars(name.data(), name.data() + name.size(), pid);
        if (err != std::errc() || p != name.data() + name.size()) continue;
        // A process may end between the listing and the read: it is then not in the tree.
        if (auto text = read_proc(pid, "stat"))
            if (auto stat = parse_proc_stat(*text)) parents.emplace_back(pid, stat->ppid);
    }
    return descendants(root, parents);
}

std::optional<ServerSample> sample_server(pid_t root) {
    const std::vector<pid_t> tree = process_tree(root);
    if (tree.empty()) return std::nullopt;
    ServerSample out;
    for (pid_t pid : tree) {
        auto cpu = process_cpu_time(pid);
        auto text = read_proc(pid, "stat");
        auto stat = text ? parse_proc_stat(*text) : std::nullopt;
        if (!cpu || !stat) continue;  // it has just ended
        out.cpu += *cpu + ticks_to_ns(stat->cutime + stat->cstime);
        out.rss_bytes += process_rss_bytes(pid).value_or(0);
        ++out.processes;
    }
    return out;
}

std::optional<std::uint64_t> parse_status_rss_bytes(std::string_view status) {
    constexpr std::string_view kKey = "\nVmRSS:";
    const auto at = status.find(kKey);
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view rest = status.substr(at + kKey.size());
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    std::uint64_t kib = 0;
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kib);
    if (ec != std::errc() || std::string_view(p, rest.data() + rest.size()).substr(0, 3) != " kB")
        return std::nullopt;
    return kib * 1024;
}

std::optional<std::uint64_t> process_rss_bytes(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    if (!in) return std::nullopt;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_status_rss_bytes(text);
}

std::optional<std::chrono::nanoseconds> process_cpu_time(pid_t pid) {
    clockid_t clock;
    timespec ts{};
    if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &ts) == 0)
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    if (!in) return std::nullopt;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto ticks = parse_proc_stat_ticks(text);
    const long per_second = sysconf(_SC_CLK_TCK);
    if (!ticks || per_second <= 0) return std::nullopt;
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(*ticks * (1'000'000'000 / per_second)));
}

}  // namespace snibind::load
