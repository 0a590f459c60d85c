#pragma once
// A socket descriptor owned by one object at a time: closed when its owner goes, unless it was
// released to another (an Asio socket, for a TLS session).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

namespace snibind::proxy {

class SocketFd {
  public:
    SocketFd() = default;
    explicit SocketFd(int fd) : fd_(fd) {}
    SocketFd(SocketFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    SocketFd& operator=(SocketFd&& other) noexcept {
        if (this != &other) {
            close();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    ~SocketFd() { close(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    // Closing also ends the descriptor's epoll registration.
    void close() {
        if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    }
    // Closes with a TCP reset instead of a FIN (SO_LINGER 0): a refused or rejected connection.
    void close_with_reset() {
        const linger abort{.l_onoff = 1, .l_linger = 0};
        if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        close();
    }

  private:
    int fd_ = -1;
};

// A non-blocking socket's "nothing now, epoll will say when": not an error.
inline bool would_block(int error) {
    return error == EAGAIN || error == EWOULDBLOCK;
}

// errno as the access log's `why` says it.
inline std::string error_text(int error) {
    return std::error_code(error, std::system_category()).message();
}

}  // namespace snibind::proxy
