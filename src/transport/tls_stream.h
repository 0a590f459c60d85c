#pragma once
// A TLS connection that snibind drives itself over a TCP socket, as HAProxy's ssl_sock.c does:
// OpenSSL reads and writes the socket directly through a small BIO of ours, which first serves
// the bytes the proxy read before TLS began (the ClientHello that selection needed), then the
// socket. No BIO pair and no engine buffers between OpenSSL and the socket (asio::ssl::stream
// copies every record through both, and keeps four 17 KiB buffers for a connection's whole
// life), no non-blocking mode to set (MSG_DONTWAIT), nothing of Asio's private state: the
// socket is only waited on (async_wait), which Asio's public API offers. An idle connection
// holds no record buffer (SSL_MODE_RELEASE_BUFFERS) and no buffer of ours.
//
// The operations have Asio's shapes (async_read_some and async_write_some make it an
// AsyncRead/WriteStream, so asio::async_write works on it) and report Asio's error codes:
// asio::error::eof for a close_notify, ssl::error::stream_truncated for an EOF without one,
// ssl category codes (ERR_get_error) for TLS errors, system codes for socket errors. A handler
// never runs inside the call that starts its operation. One read and one write may be under
// way at a time (a handshake or shutdown counts as both).
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>

namespace snibind::transport {

// Whether `ec` from a TlsStream says the peer ended the connection (close_notify, or an EOF
// without one) rather than that something failed.
inline bool closed_by_peer(const boost::system::error_code& ec) {
    return ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
}

class TlsStream {
  public:
    using executor_type = boost::asio::ip::tcp::socket::executor_type;
    using Handler = std::function<void(const boost::system::error_code&, std::size_t)>;
    enum class Side { client, server };

    // A new SSL of `context` (the caller keeps the context alive as long as the stream).
    // `prefix`: bytes already read from the socket, which the TLS connection reads first.
    TlsStream(boost::asio::ip::tcp::socket socket, SSL_CTX* context, Side side,
              std::vector<std::uint8_t> prefix = {});
    ~TlsStream();
    TlsStream(const TlsStream&) = delete;
    TlsStream& operator=(const TlsStream&) = delete;

    SSL* native_handle() { return ssl_.get(); }
    boost::asio::ip::tcp::socket& next_layer() { return socket_; }
    executor_type get_executor() { return socket_.get_executor(); }
    // Whether a read would return bytes without the socket: the rest of a record OpenSSL has,
    // or prefix bytes not yet read.
    bool input_pending() const;
    // Frees OpenSSL's record buffers when no record is half read or written: once the handshake
    // is done, for a connection that may wait idle. (SSL_MODE_RELEASE_BUFFERS frees them only
    // after a read or write, so the handshake's would stay.)
    void release_buffers();

    // A read that would wait for the socket completes with 0 bytes instead once `condition`
    // holds, as checked after each record OpenSSL took: a client waiting for something that is
    // not application data (the load generator for a TLS 1.3 ticket) needs the read to end.
    void end_reads_when(std::function<bool()> condition) { read_ends_ = std::move(condition); }

    // Every operation takes an Asio completion token: a handler, or asio::use_awaitable for a
    // coroutine (the load generator).
    template <typename Token>
    auto async_handshake(Token&& token) {
        return async_status(Op::handshake, std::forward<Token>(token));
    }
    // Sends close_notify and waits for the peer's (or its EOF): the caller bounds the wait.
    template <typename Token>
    auto async_shutdown(Token&& token) {
        return async_status(Op::shutdown, std::forward<Token>(token));
    }

    template <typename MutableBuffers, typename Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, boost::asio::mutable_buffer b) {
                start(Op::read, b.data(), b.size(), wrap(std::move(handler)));
            },
            token, first(buffers));
    }
    template <typename ConstBuffers, typename Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, boost::asio::const_buffer b) {
                start(Op::write, const_cast<void*>(b.data()), b.size(), wrap(std::move(handler)));
            },
            token, first(buffers));
    }

    struct Prefix;  // what the BIO reads from (tls_stream.cpp)

  private:
    enum class Op { handshake, read, write, shutdown };

    template <typename Buffers>
    static auto first(const Buffers& buffers) {
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers); ++it)
            if (it->size() != 0) return *it;
        return *boost::asio::buffer_sequence_begin(buffers);
    }
    // std::function needs a copyable target; Asio's composed handlers (async_write's) and
    // coroutine handlers are move-only, so they are held through a shared pointer (a copyable
    // one, such as a lambda holding the session, goes in as it is: no allocation). async_write's
    // handler wrapping a coroutine's declares a copy constructor that does not compile, which
    // std::is_copy_constructible cannot see: a coroutine writes with async_write_some.
    template <typename H>
    static Handler wrap(H&& handler) {
        if constexpr (std::is_copy_constructible_v<std::decay_t<H>>) {
            return Handler(std::forward<H>(handler));
        } else {
            auto held = std::make_shared<std::decay_t<H>>(std::forward<H>(handler));
            return [held](const boost::system::error_code& ec, std::size_t n) {
                std::move (*held)(ec, n);
            };
        }
    }
    // An operation that moves no bytes (handshake, shutdown): its handler takes the error only.
    template <typename Token>
    auto async_status(Op op, Token&& token) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
            [this, op](auto handler) {
                start(op, nullptr, 0,
                      wrap([handler = std::move(handler)](const boost::system::error_code& ec,
                                                          std::size_t) mutable {
                          std::move(handler)(ec);
                      }));
            },
            token);
    }

    // Runs `op` until it completes or needs the socket, waiting for the socket as OpenSSL asks.
    void start(Op op, void* data, std::size_t size, Handler done);
    void attempt(Op op, void* data, std::size_t size, Handler done, bool first);

    boost::asio::ip::tcp::socket socket_;
    std::unique_ptr<Prefix> prefix_;  // the BIO's: the socket, and bytes read before TLS began
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;  // first to go: its BIO reads prefix_
    std::function<bool()> read_ends_;                // end_reads_when
};

}  // namespace snibind::transport
