#pragma once
// A plain TCP (or TLS) backend for integration tests, and the real ClientHello captures as bytes.
// The backend runs on its own thread on 127.0.0.1:0 and is joined by its destructor.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

namespace snibind::test {

// A real capture from tests/data/clienthello (see manifest.tsv), as the bytes on the wire.
std::string hello_fixture(const std::string& file);

// A listening TCP socket on 127.0.0.1 with a port the kernel picks (returned in `port`).
// Throws std::runtime_error when it cannot listen.
int listen_on_loopback(std::uint16_t& port, int backlog = 16);

// A blocking backend on 127.0.0.1:0, on its own thread. It serves connections one after the
// other: sends `greeting` on accept, records every byte until the peer's EOF, then sends
// `answer` and closes. With a TLS context: the handshake, one line received, `answer`, close.
struct BackendOptions {
    std::string greeting, answer;
    SSL_CTX* tls;  // borrowed, must outlive the backend; nullptr for plain TCP
};

class TestBackend {
  public:
    TestBackend() : TestBackend(BackendOptions{"", "", nullptr}) {}
    TestBackend(std::string greeting, std::string answer)
        : TestBackend(BackendOptions{std::move(greeting), std::move(answer), nullptr}) {}
    explicit TestBackend(BackendOptions options) : options_(std::move(options)) {
        listen_fd_ = listen_on_loopback(port_, 16);
        thread_ = std::thread([this] { serve(); });
    }
    ~TestBackend() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            if (active_fd_ >= 0) shutdown(active_fd_, SHUT_RDWR);
        }
        shutdown(listen_fd_, SHUT_RDWR);  // wakes the blocked accept()
        thread_.join();
        close(listen_fd_);
    }
    TestBackend(const TestBackend&) = delete;
    TestBackend& operator=(const TestBackend&) = delete;

    std::uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

    // Waits until `n` connections have ended and returns what each one received, in order.
    std::vector<std::string> wait_for(std::size_t n) {
        std::unique_lock lock(mutex_);
        // Bounded only as a safety net against a hung test.
        changed_.wait_for(lock, std::chrono::seconds(30), [&] { return received_.size() >= n; });
        return received_;
    }
    std::size_t accepted() const {
        std::lock_guard lock(mutex_);
        return accepted_;
    }

  private:
    void serve() {
        for (;;) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            {
                std::lock_guard lock(mutex_);
                if (stopping_) {
                    close(fd);
                    return;
                }
                ++accepted_;
                active_fd_ = fd;
            }
            timeval tv{30, 0};  // a safety net, never a synchronisation
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string got = options_.tls ? converse_tls(fd) : converse(fd);
            std::lock_guard lock(mutex_);
            active_fd_ = -1;
            close(fd);
            received_.push_back(std::move(got));
            changed_.notify_all();
        }
    }

    std::string converse(int fd) {
        send_all(fd, options_.greeting);
        std::string got;
        char buf[4096];
        ssize_t n;
        while ((n = recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
        send_all(fd, options_.answer);
        return got;
    }

    std::string converse_tls(int fd) {
        std::string got;
        SSL* ssl = SSL_new(options_.tls);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            char buf[4096];
            int n;
            // One line, then the answer: s_client keeps its side open until the server closes.
            while (got.find('\n') == std::string::npos && (n = SSL_read(ssl, buf, sizeof buf)) > 0)
                got.append(buf, static_cast<size_t>(n));
            if (!options_.answer.empty())
                SSL_write(ssl, options_.answer.data(), static_cast<int>(options_.answer.size()));
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        return got;
    }

    static void send_all(int fd, std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    BackendOptions options_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> received_;
    std::size_t accepted_ = 0;
    int active_fd_ = -1;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace snibind::test
