#include "proxy/event_loop.h"

#include <unistd.h>

#include <array>
#include <cerrno>

#include <boost/asio/post.hpp>

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
    wait();
}

EventLoop::~EventLoop() {
    // The connections first: their descriptors leave this epoll instance as they close.
    adopted_.clear();
    released_.clear();
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
    dispatching_ = false;
    released_.clear();
}

}  // namespace snibind::proxy
