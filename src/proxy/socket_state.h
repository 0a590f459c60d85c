#pragma once
// Sockets whose state snibind knows better than Asio does. Asio learns that a descriptor is
// non-blocking with an ioctl on its first operation, and treats any descriptor it did not open
// itself as possibly duplicated, so it takes it out of epoll with an epoll_ctl before closing it.
// A system call costs about 1.5 µs on the (virtual) machine measured, a sizeable part of what a
// forwarded connection costs, and these ones tell the kernel nothing it does not know. So the
// state Asio keeps for the socket is set directly (Asio's socket_ops state bits, stable since
// Boost 1.4x).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>

namespace snibind::proxy {

// Checked against Boost 1.81's socket_ops state bits (Debian 12's Boost): another Boost must be
// read again before this builds.
static_assert(BOOST_VERSION / 100 == 1081, "socket_state.h relies on Boost 1.81 Asio internals");

class SocketState : boost::asio::ip::tcp::socket {
  public:
    SocketState() = delete;

    // For a descriptor snibind accepted or opened itself and never duplicates: closing it takes
    // it out of epoll, as for the sockets Asio opens.
    static void mark_not_shared(boost::asio::ip::tcp::socket& s) {
        state(s) &= ~boost::asio::detail::socket_ops::possible_dup;
    }

    // Opens a socket the kernel makes non-blocking (SOCK_NONBLOCK) into `s`.
    static void open_non_blocking(boost::asio::ip::tcp::socket& s,
                                  const boost::asio::ip::tcp& protocol,
                                  boost::system::error_code& ec) {
        int fd = ::socket(protocol.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          protocol.protocol());
        if (fd < 0) {
            ec.assign(errno, boost::asio::error::get_system_category());
            return;
        }
        s.assign(protocol, fd, ec);
        if (ec) {
            ::close(fd);
            return;
        }
        state(s) |= boost::asio::detail::socket_ops::internal_non_blocking;
        mark_not_shared(s);
    }

  private:
    static boost::asio::detail::socket_ops::state_type& state(boost::asio::ip::tcp::socket& s) {
        return (s.*(&SocketState::impl_)).get_implementation().state_;
    }
};

}  // namespace snibind::proxy
