// The backend of bench/compare.sh: the same server behind snibind, HAProxy, nginx and sniproxy,
// cheap enough never to be what is measured. One thread, one event loop.
//
//   bench_backend ADDR:PORT reply [BYTES]   read what arrives, answer BYTES (64) bytes, close:
//                                           scenario 1, a legacy server behind a forwarder
//   bench_backend ADDR:PORT http [BYTES]    HTTP/1.1 keep-alive: a 200 with a BYTES-byte body
//                                           per request (requests without bodies)
//   bench_backend ADDR:PORT silent          read and discard, never answer, never close: the
//                                           far side of idle forwarded connections
#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

enum class Mode { reply, http, silent };

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(tcp::socket socket, Mode mode, const std::string& answer)
        : socket_(std::move(socket)), mode_(mode), answer_(answer) {}

    void start() { read(); }

  private:
    void read() {
        socket_.async_read_some(asio::buffer(buffer_),
                                [self = shared_from_this()](error_code ec, std::size_t n) {
                                    if (!ec) self->received(n);
                                });
    }

    void received(std::size_t n) {
        switch (mode_) {
            case Mode::silent:
                return read();
            case Mode::reply:
                return write([](Connection& c) {
                    error_code ignored;
                    c.socket_.shutdown(tcp::socket::shutdown_both, ignored);
                });
            case Mode::http:
                break;
        }
        // Count the ends of request heads ("\r\n\r\n", possibly split across reads): one
        // response each, written together when several were pipelined.
        std::size_t requests = 0;
        for (char c : std::string_view(buffer_.data(), n)) {
            matched_ = (c == "\r\n\r\n"[matched_]) ? matched_ + 1 : (c == '\r' ? 1 : 0);
            if (matched_ == 4) {
                ++requests;
                matched_ = 0;
            }
        }
        if (requests == 0) return read();
        out_.clear();
        for (std::size_t i = 0; i < requests; ++i) out_ += answer_;
        write([](Connection& c) { c.read(); });
    }

    template <class Then>
    void write(Then then) {
        const std::string& bytes = mode_ == Mode::http ? out_ : answer_;
        asio::async_write(socket_, asio::buffer(bytes),
                          [self = shared_from_this(), then](error_code ec, std::size_t) {
                              if (!ec) then(*self);
                          });
    }

    tcp::socket socket_;
    Mode mode_;
    const std::string& answer_;
    std::array<char, 16 * 1024> buffer_;
    std::string out_;
    std::size_t matched_ = 0;  // bytes of "\r\n\r\n" seen at the end of the last read
};

void accept(tcp::acceptor& acceptor, Mode mode, const std::string& answer) {
    acceptor.async_accept([&acceptor, mode, &answer](error_code ec, tcp::socket socket) {
        if (!ec) {
            socket.set_option(tcp::no_delay(true), ec);
            std::make_shared<Connection>(std::move(socket), mode, answer)->start();
        }
        if (ec != asio::error::operation_aborted) accept(acceptor, mode, answer);
    });
}

int usage() {
    std::fputs("usage: bench_backend ADDR:PORT reply|http|silent [BYTES]\n", stderr);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) return usage();
    const std::string_view where = argv[1], mode_name = argv[2];
    const auto colon = where.rfind(':');
    if (colon == std::string_view::npos) return usage();
    error_code ec;
    const auto address = asio::ip::make_address(std::string(where.substr(0, colon)), ec);
    const int port = std::atoi(std::string(where.substr(colon + 1)).c_str());
    if (ec || port <= 0 || port > 65535) return usage();
    Mode mode;
    if (mode_name == "reply")
        mode = Mode::reply;
    else if (mode_name == "http")
        mode = Mode::http;
    else if (mode_name == "silent")
        mode = Mode::silent;
    else
        return usage();
    const long bytes = argc == 4 ? std::atol(argv[3]) : 64;
    if (bytes < 0 || bytes > 1 << 20) return usage();

    std::string answer(static_cast<std::size_t>(bytes), 'x');
    if (mode == Mode::http)
        answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                 std::to_string(bytes) + "\r\n\r\n" + answer;

    asio::io_context io(1);
    tcp::acceptor acceptor(io);
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint, ec);
    if (ec) {
        std::fprintf(stderr, "bench_backend: cannot listen on %.*s: %s\n",
                     static_cast<int>(where.size()), where.data(), ec.message().c_str());
        return 1;
    }
    acceptor.listen(4096);
    accept(acceptor, mode, answer);
    asio::signal_set stop(io, SIGINT, SIGTERM);
    stop.async_wait([&](error_code, int) { io.stop(); });
    io.run();
    return 0;
}
