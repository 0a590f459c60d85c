// transport::TlsStream against a real OpenSSL client over loopback TCP: the bytes read before
// TLS began are served first, then the socket; a close_notify reads as eof, an EOF without one
// as stream_truncated (what the proxy's access log tells apart), and asio::async_write works.
#include "transport/tls_stream.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include "test_backend.h"
#include "test_pki.h"

namespace snibind {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using transport::TlsStream;

class TlsStreamTest : public ::testing::Test {
  protected:
    TlsStreamTest() : pki_(dir_.path()) {
        auto issued = pki_.issue("server", "stream.test", {"stream.test"});
        server_ctx_ = SSL_CTX_new(TLS_server_method());
        EXPECT_EQ(SSL_CTX_use_certificate_chain_file(server_ctx_, issued.pem.c_str()), 1);
        EXPECT_EQ(SSL_CTX_use_PrivateKey_file(server_ctx_, issued.pem.c_str(), SSL_FILETYPE_PEM),
                  1);
        client_ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_load_verify_locations(client_ctx_, pki_.ca_pem().c_str(), nullptr);
        SSL_CTX_set_verify(client_ctx_, SSL_VERIFY_PEER, nullptr);
        listen_fd_ = test::listen_on_loopback(port_);
    }
    ~TlsStreamTest() override {
        if (client_.joinable()) client_.join();
        ::close(listen_fd_);
        SSL_CTX_free(server_ctx_);
        SSL_CTX_free(client_ctx_);
    }

    // A blocking client on its own thread: handshake, send "ping", read "pong", then end the
    // connection with a close_notify (or, `truncate`, with a bare TCP close).
    void start_client(bool truncate) {
        client_ = std::thread([this, truncate] {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in to{};
            to.sin_family = AF_INET;
            to.sin_port = htons(port_);
            to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return;
            SSL* ssl = SSL_new(client_ctx_);
            SSL_set_tlsext_host_name(ssl, "stream.test");
            SSL_set1_host(ssl, "stream.test");
            SSL_set_fd(ssl, fd);
            if (SSL_connect(ssl) == 1 && SSL_write(ssl, "ping", 4) == 4) {
                char buf[4];
                if (SSL_read(ssl, buf, 4) == 4) client_read_ = std::string(buf, 4);
                if (!truncate) SSL_shutdown(ssl);
            }
            SSL_free(ssl);
            ::close(fd);
        });
    }

    // Accepts the client and reads its first bytes (part of its ClientHello) as the proxy does
    // before TLS begins; returns the socket and those bytes.
    asio::ip::tcp::socket accept_with_prefix(std::vector<std::uint8_t>& prefix) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        EXPECT_GE(fd, 0);
        prefix.resize(7);  // the record header and a little of the handshake
        EXPECT_EQ(::recv(fd, prefix.data(), prefix.size(), MSG_WAITALL), 7);
        return asio::ip::tcp::socket(io_, asio::ip::tcp::v4(), fd);
    }

    test::TempDir dir_;
    test::TestPki pki_;
    SSL_CTX* server_ctx_ = nullptr;
    SSL_CTX* client_ctx_ = nullptr;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread client_;
    std::string client_read_;
    asio::io_context io_;
};

// Handshake over the prefix and the socket, a read, asio::async_write, then the peer's
// close_notify: eof.
TEST_F(TlsStreamTest, PrefixThenSocketThenCloseNotifyIsEof) {
    start_client(false);
    std::vector<std::uint8_t> prefix;
    auto socket = accept_with_prefix(prefix);
    TlsStream stream(std::move(socket), server_ctx_, TlsStream::Side::server, prefix);
    EXPECT_TRUE(stream.input_pending());  // the prefix is not read yet
    char buf[16];
    std::string got;
    error_code handshake_error, write_error, end;
    bool handshake_done = false;
    stream.async_handshake([&](const error_code& ec) {
        handshake_done = true;
        handshake_error = ec;
        if (ec) return;
        stream.async_read_some(asio::buffer(buf), [&](const error_code& ec, std::size_t n) {
            if (ec) return;
            got.assign(buf, n);
            asio::async_write(stream, asio::buffer(std::string_view("pong")),
                              [&](const error_code& ec, std::size_t) {
                                  write_error = ec;
                                  stream.async_read_some(
                                      asio::buffer(buf),
                                      [&](const error_code& ec, std::size_t) { end = ec; });
                              });
        });
    });
    EXPECT_FALSE(handshake_done);  // never inside the call that starts it
    io_.run();
    client_.join();
    EXPECT_FALSE(handshake_error) << handshake_error.message();
    EXPECT_EQ(got, "ping");
    EXPECT_FALSE(write_error) << write_error.message();
    EXPECT_EQ(client_read_, "pong");
    EXPECT_EQ(end, asio::error::eof) << end.message();
    EXPECT_FALSE(stream.input_pending());
}

// The peer goes without a close_notify: stream_truncated, not eof.
TEST_F(TlsStreamTest, EofWithoutCloseNotifyIsStreamTruncated) {
    start_client(true);
    std::vector<std::uint8_t> prefix;
    auto socket = accept_with_prefix(prefix);
    TlsStream stream(std::move(socket), server_ctx_, TlsStream::Side::server, prefix);
    char buf[16];
    error_code end;
    stream.async_handshake([&](const error_code& ec) {
        ASSERT_FALSE(ec) << ec.message();
        stream.async_read_some(asio::buffer(buf), [&](const error_code& ec, std::size_t) {
            ASSERT_FALSE(ec) << ec.message();
            asio::async_write(stream, asio::buffer(std::string_view("pong")),
                              [&](const error_code&, std::size_t) {
                                  stream.async_read_some(
                                      asio::buffer(buf),
                                      [&](const error_code& ec, std::size_t) { end = ec; });
                              });
        });
    });
    io_.run();
    client_.join();
    EXPECT_EQ(end, asio::ssl::error::stream_truncated) << end.message();
}

// Bytes that are not TLS: a TLS error in OpenSSL's category, and the operation after a close
// never reaches the (possibly reused) descriptor.
TEST_F(TlsStreamTest, GarbageIsATlsErrorAndAClosedStreamReadsNothing) {
    std::thread sender([this] {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port_);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0)
            (void)!::write(fd, "GET / HTTP/1.1\r\n\r\n", 18);
        char buf[64];
        while (::read(fd, buf, sizeof buf) > 0) {
        }
        ::close(fd);
    });
    std::vector<std::uint8_t> prefix;
    auto socket = accept_with_prefix(prefix);
    TlsStream stream(std::move(socket), server_ctx_, TlsStream::Side::server, prefix);
    error_code handshake_error, after_close;
    stream.async_handshake([&](const error_code& ec) {
        handshake_error = ec;
        stream.next_layer().close();
        char buf[4];
        stream.async_read_some(asio::buffer(buf),
                               [&](const error_code& ec, std::size_t) { after_close = ec; });
    });
    io_.run();
    sender.join();
    EXPECT_EQ(handshake_error.category(), asio::error::get_ssl_category())
        << handshake_error.message();
    EXPECT_EQ(after_close, asio::error::bad_descriptor);
}

}  // namespace
}  // namespace snibind
