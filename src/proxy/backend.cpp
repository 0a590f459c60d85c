#include "proxy/backend.h"

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include "net/asio_endpoint.h"

namespace snibind::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

BackendConnection::BackendConnection(asio::io_context& io, const Runtime& runtime,
                                     const BackendUrl& url)
    : runtime_(runtime), url_(url), socket_(io), resolver_(io) {}

asio::ip::tcp::socket& BackendConnection::socket() {
    return tls_ ? tls_->next_layer() : socket_;
}

bool BackendConnection::is_open() const {
    auto& s = const_cast<BackendConnection*>(this)->socket();
    if (!s.is_open()) return false;
    // A kept-alive connection the backend has since closed (its own keep-alive timeout) is still
    // open on our side; reusing it would fail the next request with no response at all. Nothing
    // reads between requests, so ask the kernel whether the peer hung up.
    pollfd p{s.native_handle(), POLLRDHUP, 0};
    return ::poll(&p, 1, 0) == 0 || !(p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void BackendConnection::async_connect(std::function<void(const error_code&)> done) {
    if (url_.address) {
        // An address needs no resolver (whose first use starts a thread).
        socket().async_connect(net::to_asio(Endpoint{*url_.address, url_.port}),
                               [this, done = std::move(done)](const error_code& ec) mutable {
                                   on_connected(ec, std::move(done));
                               });
        return;
    }
    resolver_.async_resolve(
        url_.host, std::to_string(url_.port),
        [this, done = std::move(done)](const error_code& ec,
                                       asio::ip::tcp::resolver::results_type results) mutable {
            if (ec) return done(ec);
            asio::async_connect(socket(), results,
                                [this, done = std::move(done)](
                                    const error_code& ec, const asio::ip::tcp::endpoint&) mutable {
                                    on_connected(ec, std::move(done));
                                });
        });
}

void BackendConnection::on_connected(const error_code& ec,
                                     std::function<void(const error_code&)> done) {
    if (ec) return done(ec);
    error_code ignored;
    socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    if (!url_.tls) return done(ec);
    tls_ = std::make_unique<transport::TlsStream>(
        std::move(socket_), runtime_.backend_context.get(), transport::TlsStream::Side::client);
    // A legacy server: no SNI unless backend_sni names one; verified only when asked.
    const std::string& sni = runtime_.config().backend_sni;
    if (!sni.empty()) SSL_set_tlsext_host_name(tls_->native_handle(), sni.c_str());
    if (runtime_.config().backend_verify)
        SSL_set1_host(tls_->native_handle(), (sni.empty() ? url_.host : sni).c_str());
    tls_->async_handshake(std::move(done));
}

void BackendConnection::close() {
    resolver_.cancel();
    error_code ignored;
    socket().close(ignored);
}

}  // namespace snibind::proxy
