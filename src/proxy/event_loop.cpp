#include "proxy/event_loop.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <string_view>

#include <boost/asio/post.hpp>

#include "proxy/socket_fd.h"

namespace snibind::proxy {

namespace {

// Events taken per epoll_wait. A batch that fills it leaves the rest ready, and Asio reports
// the epoll descriptor again at once.
constexpr int kBatch = 64;

std::error_code control(int epoll_fd, int op, int fd, std::uint32_t events, EventHandler* handler) {
    epoll_event event{};
    event.events = events;
    event.data.ptr = handler;
    if (::epoll_ctl(epoll_fd, op, fd, &event) != 0) return {errno, std::system_category()};
    return {};
}

constexpr std::uint32_t kConnectionEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

int create_epoll() {
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
    return fd;
}

}  // namespace

EventLoop::EventLoop(boost::asio::io_context& io)
    : epoll_fd_(create_epoll()), descriptor_(io, epoll_fd_) {
    const char* setting = std::getenv("SNIBIND_IO_URING");
    if (setting && std::string_view(setting) == "0") {
        batching_ = "off (SNIBIND_IO_URING=0)";
    } else if (const int error = io_uring_queue_init(kRingEntries, &ring_, 0); error < 0) {
        batching_ = "off (io_uring_queue_init: " + error_text(-error) + ")";
    } else if (!(ring_.features & IORING_FEAT_CQE_SKIP)) {
        io_uring_queue_exit(&ring_);
        batching_ = "off (the kernel cannot skip completions: 5.17 or later needed)";
    } else {
        ring_ready_ = true;
        batching_ = "io_uring";
    }
    wait();
}

EventLoop::~EventLoop() {
    // The connections first: their descriptors leave this epoll instance as they close.
    adopted_.clear();
    released_.clear();
    if (ring_ready_) io_uring_queue_exit(&ring_);
}

std::error_code EventLoop::watch(int fd, EventHandler& handler) {
    return control(epoll_fd_, EPOLL_CTL_ADD, fd, kConnectionEvents, &handler);
}

std::error_code EventLoop::watch_listener(int fd, EventHandler& handler) {
    return control(epoll_fd_, EPOLL_CTL_ADD, fd, EPOLLIN, &handler);
}

std::error_code EventLoop::rewatch(int fd, EventHandler& handler) {
    return control(epoll_fd_, EPOLL_CTL_MOD, fd, kConnectionEvents, &handler);
}

void EventLoop::unwatch(int fd) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

io_uring_sqe* EventLoop::queue() {
    if (!ring_ready_ || !dispatching_ || queued_ == kRingEntries) return nullptr;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe) ++queued_;
    return sqe;
}

void EventLoop::watch_in_batch(int fd, EventHandler& handler) {
    io_uring_sqe* sqe = queue();
    if (!sqe) {
        if (const auto ec = watch(fd, handler)) handler.on_watch_failed(ec.value());
        return;
    }
    epoll_event& event = queued_events_[queued_watches_++];
    event.events = kConnectionEvents;
    event.data.ptr = &handler;
    io_uring_prep_epoll_ctl(sqe, epoll_fd_, fd, EPOLL_CTL_ADD, &event);
    io_uring_sqe_set_data(sqe, &handler);
}

void EventLoop::close_in_batch(int fd) {
    io_uring_sqe* sqe = queue();
    if (!sqe) {
        ::close(fd);
        return;
    }
    io_uring_prep_close(sqe, fd);
    // Nothing to learn from a close: no completion, unless it fails, and then it is dropped.
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data(sqe, nullptr);
}

// One io_uring_enter for the batch's queued calls. It waits for every registration's completion
// (the kernel makes them during the call, so this costs no wait): a failure then reaches its
// handler while the batch's handlers are all alive, never later.
// A handler told of a failure may queue its closes: they go in a submission of their own.
void EventLoop::submit_batch() {
    while (queued_ > 0) {
        const unsigned watches = queued_watches_;
        int submitted = io_uring_submit_and_wait(&ring_, watches);
        while (submitted == -EINTR) submitted = io_uring_submit_and_wait(&ring_, watches);
        queued_ = queued_watches_ = 0;
        io_uring_cqe* cqe = nullptr;
        while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
            auto* handler = static_cast<EventHandler*>(io_uring_cqe_get_data(cqe));
            const int result = cqe->res;
            io_uring_cqe_seen(&ring_, cqe);
            if (handler && result < 0) handler->on_watch_failed(-result);
        }
    }
}

EventLoop::Adopted EventLoop::adopt(std::shared_ptr<void> object) {
    adopted_.push_front(std::move(object));
    return adopted_.begin();
}

void EventLoop::release(Adopted adopted) {
    const bool first = released_.empty();
    released_.splice(released_.end(), adopted_, adopted);
    // Released outside a batch (a timer ended the connection): the caller is still running in
    // it, so it goes once the caller is done. Its log line is written then, not at the next
    // event, which on a quiet server may be long after.
    if (first && !dispatching_)
        boost::asio::post(descriptor_.get_executor(), [this] { released_.clear(); });
}

void EventLoop::stop_waiting() {
    boost::system::error_code ignored;
    descriptor_.cancel(ignored);
}

// Asio's wait on a descriptor re-arms its registration (an epoll_ctl) each time: one per batch,
// not one per socket operation as before.
void EventLoop::wait() {
    descriptor_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                           [this](const boost::system::error_code& ec) {
                               if (ec) return;  // the loop is going away
                               dispatch();
                               wait();
                           });
}

void EventLoop::dispatch() {
    std::array<epoll_event, kBatch> events;
    const int n = ::epoll_wait(epoll_fd_, events.data(), kBatch, 0);
    dispatching_ = true;
    for (int i = 0; i < n; ++i)
        static_cast<EventHandler*>(events[i].data.ptr)->on_events(events[i].events);
    submit_batch();
    dispatching_ = false;
    released_.clear();
}

}  // namespace snibind::proxy
