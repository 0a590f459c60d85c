#include "transport/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <boost/asio/ssl/error.hpp>

#include "tlsstack/tls_stack.h"

namespace snibind::transport {

namespace asio = boost::asio;
using boost::system::error_code;

// What the BIO reads from: the prefix first, then the socket.
struct TlsStream::Prefix {
    int fd = -1;
    std::vector<std::uint8_t> bytes;
    std::size_t read = 0;  // bytes of `bytes` OpenSSL has taken
};

namespace {

using Prefix = TlsStream::Prefix;

int bio_read(BIO* bio, char* out, int size) {
    auto* source = static_cast<Prefix*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (size <= 0) return 0;
    if (source->read < source->bytes.size()) {
        const std::size_t n =
            std::min(static_cast<std::size_t>(size), source->bytes.size() - source->read);
        std::memcpy(out, source->bytes.data() + source->read, n);
        source->read += n;
        if (source->read == source->bytes.size()) {
            std::vector<std::uint8_t>().swap(source->bytes);  // the hello's buffer goes now
            source->read = 0;
        }
        return static_cast<int>(n);
    }
    const ssize_t n = ::recv(source->fd, out, static_cast<std::size_t>(size), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(bio);
    return static_cast<int>(n);
}

int bio_write(BIO* bio, const char* in, int size) {
    auto* source = static_cast<Prefix*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const ssize_t n =
        ::send(source->fd, in, static_cast<std::size_t>(size), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(bio);
    return static_cast<int>(n);
}

long bio_ctrl(BIO* bio, int command, long, void*) {
    auto* source = static_cast<Prefix*>(BIO_get_data(bio));
    switch (command) {
        case BIO_CTRL_FLUSH:  // every write went to the socket already
            return 1;
        case BIO_CTRL_PENDING:
            return static_cast<long>(source->bytes.size() - source->read);
        default:
            return 0;
    }
}

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

// One method for every stream, made once (OpenSSL's BIO_meth_* is the public way to own a BIO).
const BIO_METHOD* socket_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "snibind socket");
        BIO_meth_set_read(m, bio_read);
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_ctrl(m, bio_ctrl);
        BIO_meth_set_create(m, bio_create);
        return m;
    }();
    return method;
}

// Asio's mapping (asio::ssl::detail::engine), so callers tell a close_notify (eof) from an EOF
// without one (stream_truncated) the same way for both stacks of streams.
error_code error_of(int ssl_error, int saved_errno) {
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
    if (ssl_error == SSL_ERROR_SYSCALL) {
        if (saved_errno != 0) return error_code(saved_errno, boost::system::system_category());
        return asio::ssl::error::stream_truncated;  // EOF with no close_notify
    }
    const unsigned long e = ERR_get_error();
    if (tlsstack::is_unexpected_eof(e)) return asio::ssl::error::stream_truncated;
    if (e == 0) return asio::ssl::error::unspecified_system_error;
    return error_code(static_cast<int>(e), asio::error::get_ssl_category());
}

}  // namespace

TlsStream::TlsStream(asio::ip::tcp::socket socket, SSL_CTX* context, Side side,
                     std::vector<std::uint8_t> prefix)
    : socket_(std::move(socket)),
      prefix_(std::make_unique<Prefix>(Prefix{socket_.native_handle(), std::move(prefix), 0})),
      ssl_(SSL_new(context), &SSL_free) {
    if (!ssl_) throw std::bad_alloc();
    BIO* bio = BIO_new(socket_method());
    if (!bio) throw std::bad_alloc();
    BIO_set_data(bio, prefix_.get());
    SSL_set_bio(ssl_.get(), bio, bio);
    // As asio::ssl::stream sets them: SSL_write returns once a record went out (the caller
    // writes the rest), and the buffer may move between retries. Record buffers are freed while
    // no record is half read or written.
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS);
    if (side == Side::server) {
        SSL_set_accept_state(ssl_.get());
    } else {
        SSL_set_connect_state(ssl_.get());
    }
}

TlsStream::~TlsStream() = default;

bool TlsStream::input_pending() const {
    return SSL_has_pending(ssl_.get()) != 0 || prefix_->read < prefix_->bytes.size();
}

void TlsStream::release_buffers() {
    tlsstack::release_buffers(ssl_.get());
}

void TlsStream::start(Op op, void* data, std::size_t size, Handler done) {
    if (size == 0 && (op == Op::read || op == Op::write)) {
        // Nothing to move (Asio's rule for a read or write of an empty buffer).
        asio::post(socket_.get_executor(), [done = std::move(done)] { done({}, 0); });
        return;
    }
    attempt(op, data, size, std::move(done), true);
}

void TlsStream::attempt(Op op, void* data, std::size_t size, Handler done, bool first) {
    if (!socket_.is_open()) {
        // Closed: its descriptor number may already be another connection's, so OpenSSL must not
        // reach the socket through the BIO again.
        asio::post(socket_.get_executor(),
                   [done = std::move(done)] { done(asio::error::bad_descriptor, 0); });
        return;
    }
    SSL* ssl = ssl_.get();
    ERR_clear_error();
    errno = 0;
    int r = 0;
    const int length = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
    switch (op) {
        case Op::handshake:
            r = SSL_do_handshake(ssl);
            break;
        case Op::read:
            r = SSL_read(ssl, data, length);
            break;
        case Op::write:
            r = SSL_write(ssl, data, length);
            break;
        case Op::shutdown:
            r = SSL_shutdown(ssl);  // 0: ours sent, the peer's not read yet
            if (r == 0) r = SSL_shutdown(ssl);
            break;
    }
    const int saved_errno = errno;
    error_code ec;
    std::size_t n = 0;
    if (r > 0) {
        n = op == Op::read || op == Op::write ? static_cast<std::size_t>(r) : 0;
        // The tickets go out now, as OpenSSL sends them: a client may close, or wait for them,
        // before it sends anything the server answers.
        if (op == Op::handshake && SSL_is_server(ssl)) tlsstack::flush_tickets(ssl);
    } else {
        const int ssl_error = SSL_get_error(ssl, r);
        const bool ends_early =
            op == Op::read && ssl_error == SSL_ERROR_WANT_READ && read_ends_ && read_ends_();
        if (ends_early) {
            // What the caller waited for came in a record that held no data: 0 bytes, no error.
        } else if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
            socket_.async_wait(
                ssl_error == SSL_ERROR_WANT_READ ? asio::ip::tcp::socket::wait_read
                                                 : asio::ip::tcp::socket::wait_write,
                [this, op, data, size, done = std::move(done)](const error_code& waited) mutable {
                    if (waited) return done(waited, 0);
                    attempt(op, data, size, std::move(done), false);
                });
            return;
        } else {
            ec = error_of(ssl_error, saved_errno);
        }
    }
    if (first) {
        // Done without waiting: the handler still runs after this call returns, as Asio's do.
        asio::post(socket_.get_executor(), [done = std::move(done), ec, n] { done(ec, n); });
        return;
    }
    done(ec, n);
}

}  // namespace snibind::transport
