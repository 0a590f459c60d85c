#pragma once
// The forward path's own I/O (issue 13): raw non-blocking sockets, each registered once with an
// epoll instance of the worker's, edge-triggered, for its whole life. Asio's reactor adds a
// descriptor, then modifies its registration for every wait (epoll_ctl per operation), learns
// non-blocking mode with an ioctl and accepts with accept(2) instead of accept4(2): on a
// forwarded connection, whose cost is mostly kernel crossings, that was a quarter of the calls
// (bench/README.md, "System calls per forwarded connection").
//
// The worker's thread still runs its io_context (TLS sessions, timers, the admin requests), so
// this epoll instance is nested in Asio's: its descriptor is readable while any of its sockets
// has news, Asio reports that like any descriptor, and one handler then takes a batch of events
// with epoll_wait and dispatches them. Timers stay Asio's (they cost no system call: see
// Worker::tick_).
//
// Where the kernel has io_uring (5.17 or later: a completion may be skipped on success), the
// calls whose result is not needed at once (a forwarded connection's two registrations and two
// closes) are queued while a batch is dispatched and submitted together when it is done: one
// io_uring_enter for the batch instead of four calls a connection. Without io_uring, or with
// SNIBIND_IO_URING=0 in the environment, they are made one by one as before.
#include <liburing.h>
#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace snibind::proxy {

// What a registered descriptor calls when epoll reports it.
class EventHandler {
  public:
    // `events`: EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR as epoll reported them.
    virtual void on_events(std::uint32_t events) = 0;
    // A registration made with watch_in_batch() failed (errno `error`): no event will come.
    // Only handlers registered that way are told.
    virtual void on_watch_failed(int /*error*/) {}

  protected:
    ~EventHandler() = default;
};

class EventLoop {
  public:
    explicit EventLoop(boost::asio::io_context& io);  // throws std::system_error
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // Registers a connected socket for its whole life, edge-triggered, for reading, writing and
    // the peer's FIN (EPOLLRDHUP). Closing the descriptor ends the registration.
    std::error_code watch(int fd, EventHandler& handler);
    // A listening socket, level-triggered: its handler accepts a bounded batch per event.
    std::error_code watch_listener(int fd, EventHandler& handler);
    // Points an existing registration at another handler (a connection's next phase).
    std::error_code rewatch(int fd, EventHandler& handler);
    // Ends a registration whose descriptor stays open (handed to Asio, a paused listener).
    void unwatch(int fd);

    // watch() and close(), queued for the batch's one submission when the loop dispatches a
    // batch and has a ring, made at once otherwise. Only for a descriptor that nothing will
    // unwatch or rewatch: the queued calls run in order, after the batch's other calls. A
    // queued registration that fails is reported to its handler's on_watch_failed() before
    // the batch ends, while every handler of the batch is still alive.
    void watch_in_batch(int fd, EventHandler& handler);
    void close_in_batch(int fd);
    // "io_uring" or why not ("SNIBIND_IO_URING=0", "io_uring_queue_init: ..."), for the log.
    const std::string& batching() const { return batching_; }

    // The loop owns what its registrations point to: a connection is adopted when it starts
    // and released when it ends. A released one lives until the batch of events being
    // dispatched is done, since an event later in the batch may still name it (the other
    // socket of a connection that just ended). Whatever is still adopted when the loop goes
    // is destroyed with it. (The io_context must not run handlers after the loop is gone: the
    // worker destroys both together.)
    using Adopted = std::list<std::shared_ptr<void>>::iterator;
    Adopted adopt(std::shared_ptr<void> object);
    void release(Adopted adopted);

    // Stops waiting on the epoll instance, so that the io_context can run out of work (a
    // drained worker with no connection left). Registrations made later get no events.
    void stop_waiting();

  private:
    void wait();
    void dispatch();
    io_uring_sqe* queue();  // null: the calls are made at once
    void submit_batch();

    int epoll_fd_ = -1;
    // The ring, while ring_ready_; the registrations' epoll_event, read by the kernel only at
    // submission; how many of the queued calls are registrations (each answers with a
    // completion) and how many calls are queued in all.
    io_uring ring_{};
    bool ring_ready_ = false;
    std::string batching_;
    static constexpr unsigned kRingEntries = 256;
    std::array<epoll_event, kRingEntries> queued_events_{};
    unsigned queued_watches_ = 0;
    unsigned queued_ = 0;
    boost::asio::posix::stream_descriptor descriptor_;  // epoll_fd_, as Asio's reactor sees it
    std::list<std::shared_ptr<void>> adopted_;
    std::list<std::shared_ptr<void>> released_;  // until the end of the batch
    bool dispatching_ = false;
};

}  // namespace snibind::proxy
