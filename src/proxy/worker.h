#pragma once
// One thread of `snibind serve`: its own io_context, its own acceptors on every listen address
// (SO_REUSEPORT, so the kernel spreads connections over threads), its own counters. A connection
// lives its whole life on the worker that accepted it; workers share only the runtime
// (model and TLS contexts), the access log and the connection limit.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/access_log.h"
#include "proxy/backend_pool.h"
#include "proxy/buffer_pool.h"
#include "proxy/event_loop.h"
#include "proxy/runtime.h"
#include "stats/stats.h"

namespace snibind::proxy {

// limits.max_connections for the whole server: every worker counts its connections here, so the
// limit holds however the kernel spreads connections over the workers. One atomic add and one
// subtract per connection; `max` changes on reload.
struct ConnectionLimit {
    explicit ConnectionLimit(std::size_t max) : max(max) {}
    std::atomic<std::size_t> open{0};
    std::atomic<std::size_t> max;
};

class Worker {
  public:
    Worker(AccessLog& log, std::shared_ptr<const Runtime> runtime, ConnectionLimit& limit);
    ~Worker();

    // Opens an acceptor per listen address of the runtime's config. Throws on failure (the
    // address is in use, not local, ...), with the address in the message. The server's first
    // worker passes `first`: its sockets claim the addresses for this process (see listen()).
    void listen(bool first);
    void start();  // runs the io_context on a new thread
    void join();

    // From any thread: use this runtime for new connections from now on.
    void set_runtime(std::shared_ptr<const Runtime> runtime);
    // From any thread: stop accepting; the thread ends when its last connection ends.
    void drain();
    // From any thread: stop now, closing whatever is still open.
    void stop();

    // For connections (worker thread only).
    boost::asio::io_context& io() { return *io_; }
    // The raw sockets' epoll instance: listeners, hello phases, forwarded connections.
    EventLoop& loop() { return *loop_; }
    // This worker's counters: written by its thread only. Other threads get a copy through
    // the io_context (see Server), or read them after join().
    stats::Stats& stats() { return stats_; }
    // A copy of stats() with the gauge of open connections filled in (worker thread only).
    stats::Stats stats_snapshot() const;
    // I/O buffers for this worker's connections, borrowed while bytes move (worker thread only).
    BufferPool& buffers() { return buffers_; }
    // Idle keep-alive connections to sites' backends, for this worker's requests.
    BackendPool& backend_pool() { return backend_pool_; }
    // Counts and logs a connection that ended (ConnectionTrace calls it), and frees its slot.
    void connection_ended(const ConnectionLog& log);
    const std::shared_ptr<const Runtime>& runtime() const { return runtime_; }
    bool draining() const { return draining_; }

  private:
    struct Acceptor;
    void accept(Acceptor& a);
    void pause(Acceptor& a, int error);
    void connection_closed();
    void run_out();
    void tick();
    void give_back_heap();

    // Destroyed explicitly first in ~Worker, so that connections still pending in it end while
    // the rest of the worker (counters, log) is alive.
    std::unique_ptr<boost::asio::io_context> io_ = std::make_unique<boost::asio::io_context>(1);
    // Nested in io_; destroyed in ~Worker just before it, with the connections it still holds.
    std::unique_ptr<EventLoop> loop_ = std::make_unique<EventLoop>(*io_);
    AccessLog& log_;
    std::shared_ptr<const Runtime> runtime_;
    ConnectionLimit& limit_;
    std::size_t live_ = 0;                     // this worker's share of limit_.open
    std::uint64_t accepted_at_last_tick_ = 0;  // give_back_heap(): quiet since the last tick?
    bool heap_given_back_ = true;
    bool draining_ = false;
    std::vector<std::unique_ptr<Acceptor>> acceptors_;
    // Fires every second while the worker accepts, and does nothing. Asio reprograms its timerfd
    // (a system call) whenever a new timer expires before every other one: without this, that
    // is every connection's hello deadline. With a timer always due within a second, a
    // deadline seconds away never comes first.
    // Destroyed in ~Worker before io_, like the acceptors.
    std::optional<boost::asio::steady_timer> tick_{std::in_place, *io_};
    std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::thread thread_;
    stats::Stats stats_;
    BufferPool buffers_;        // outlives the connections: they end with io_, in ~Worker
    BackendPool backend_pool_;  // emptied in ~Worker before io_ goes: its sockets use io_
};

}  // namespace snibind::proxy
