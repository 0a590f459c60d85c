#pragma once
// accept(2) that fails for want of descriptors (EMFILE: the process's RLIMIT_NOFILE; ENFILE: the
// system's) or of kernel memory (ENOBUFS, ENOMEM) leaves the connection in the listen queue: the
// listening socket stays readable and accepting again at once fails again at once, a busy loop
// on a whole core until some descriptor closes. Instead the acceptor pauses for kAcceptBackoff
// (the queued connections wait in the kernel's backlog meanwhile), then tries again. Every such
// failure is counted (snibind_accept_fd_exhausted_total) and logged at most once a second.
// Shared by the proxy's acceptors and the admin console's.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

namespace snibind::net {

inline constexpr std::chrono::milliseconds kAcceptBackoff{100};
inline constexpr std::chrono::seconds kAcceptBackoffLogInterval{1};
// The name `snibind serve` registers its log under (spdlog::get), for the backoff messages.
inline constexpr const char* kServerLoggerName = "snibind";

// Accepts that failed so, on every listener of the process. A rare event on any thread: one
// relaxed atomic, read by /metrics.
inline std::atomic<std::uint64_t> accept_fd_exhausted_total{0};

inline bool accept_needs_backoff(const boost::system::error_code& ec) {
    namespace errc = boost::system::errc;
    return ec == errc::too_many_files_open || ec == errc::too_many_files_open_in_system ||
           ec == errc::no_buffer_space || ec == errc::not_enough_memory;
}

namespace detail {

// Counts one failure and logs: the first of an episode at once, then at most once per
// interval with the number of failures since the last line (all listeners, all threads).
inline void note_accept_backoff(const boost::system::error_code& ec, std::string_view listener) {
    accept_fd_exhausted_total.fetch_add(1, std::memory_order_relaxed);
    static std::mutex mutex;
    static std::chrono::steady_clock::time_point last_line;
    static std::uint64_t since_line = 0;
    std::lock_guard lock(mutex);
    ++since_line;
    auto now = std::chrono::steady_clock::now();
    auto elapsed = now - last_line;
    if (last_line != std::chrono::steady_clock::time_point{} && elapsed < kAcceptBackoffLogInterval)
        return;
    auto log = spdlog::get(kServerLoggerName);
    if (!log) log = spdlog::default_logger();
    // An episode that began long after the last line starts with the full explanation.
    if (last_line == std::chrono::steady_clock::time_point{} ||
        elapsed > 2 * kAcceptBackoffLogInterval) {
        rlimit limit{};
        getrlimit(RLIMIT_NOFILE, &limit);
        log->warn(
            "accept on {}: out of file descriptors ({}): pausing accepts for {} ms at a time "
            "until some close (open files limit {}: raise it, for example with ulimit -n, or "
            "lower limits.max_connections)",
            listener, ec.message(), kAcceptBackoff.count(), limit.rlim_cur);
    } else {
        log->warn("still out of file descriptors: {} failed accepts in the last {} ms (last on {})",
                  since_line,
                  std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), listener);
    }
    last_line = now;
    since_line = 0;
}

}  // namespace detail

// After a failed accept on `listener` ("127.0.0.1:8443"): when `ec` is one of the errors above,
// counts and logs it, calls `retry` after kAcceptBackoff on `executor` and returns true;
// otherwise returns false and the caller goes on as before. `retry` runs only if the wait
// completes (an io_context destroyed first never calls it); it checks itself whether its
// acceptor is still open (a drain closes it meanwhile).
template <typename Executor>
bool back_off_accept(const boost::system::error_code& ec, const Executor& executor,
                     std::string_view listener, std::function<void()> retry) {
    if (!accept_needs_backoff(ec)) return false;
    detail::note_accept_backoff(ec, listener);
    // Owned by its own handler. A unique_ptr, not make_shared: the sanitizer build's UBSan checks
    // a type it has not met before (here the shared_ptr's control block) with pipe(2), which
    // fails out of descriptors and makes it report a bad vptr and abort.
    auto timer = std::make_unique<boost::asio::steady_timer>(executor, kAcceptBackoff);
    auto& t = *timer;
    t.async_wait(
        [timer = std::move(timer), retry = std::move(retry)](const boost::system::error_code& e) {
            if (!e) retry();
        });
    return true;
}

}  // namespace snibind::net
