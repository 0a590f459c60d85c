#include "load/server_cpu.h"

#include <time.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <string>

namespace snibind::load {

std::optional<std::uint64_t> parse_proc_stat_ticks(std::string_view stat) {
    const auto close = stat.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = stat.substr(close + 1);
    // After the ')' come field 3 (state), 4, ...; utime is field 14, stime field 15.
    std::uint64_t ticks = 0;
    for (int field = 3; field <= 15; ++field) {
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        const auto end = rest.find(' ');
        std::string_view value = rest.substr(0, end);
        if (value.empty()) return std::nullopt;
        if (field >= 14) {
            std::uint64_t v = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec != std::errc() || p != value.data() + value.size()) return std::nullopt;
            ticks += v;
        }
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    }
    return ticks;
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
