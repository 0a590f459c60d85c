#pragma once
// A connection to a site's backend after termination: plain TCP for http://, TLS for https://
// (a legacy server: no SNI unless backend_sni is set, verification as configured).
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "http/backend_url.h"
#include "proxy/runtime.h"
#include "transport/tls_stream.h"

namespace snibind::proxy {

using http::BackendUrl;

class BackendConnection {
  public:
    // `url` belongs to the Runtime, which outlives every connection that uses it.
    BackendConnection(boost::asio::io_context& io, const Runtime& runtime, const BackendUrl& url);

    // Connects (resolving the host first unless it is an address) and, for https, handshakes.
    void async_connect(std::function<void(const boost::system::error_code&)> done);
    // The stream's own operations, whichever stream it is; the handler is passed through as is.
    template <typename Handler>
    void async_read_some(boost::asio::mutable_buffer buffer, Handler&& done) {
        if (tls_) return tls_->async_read_some(buffer, std::forward<Handler>(done));
        socket_.async_read_some(buffer, std::forward<Handler>(done));
    }
    template <typename Buffers, typename Handler>
    void async_write(const Buffers& buffers, Handler&& done) {
        if (tls_) return boost::asio::async_write(*tls_, buffers, std::forward<Handler>(done));
        boost::asio::async_write(socket_, buffers, std::forward<Handler>(done));
    }
    // Closes the socket and stops a name resolution in progress: every pending operation ends
    // with operation_aborted.
    void close();
    bool is_open() const;
    int native_handle() { return socket().native_handle(); }

  private:
    boost::asio::ip::tcp::socket& socket();
    void on_connected(const boost::system::error_code& ec,
                      std::function<void(const boost::system::error_code&)> done);

    const Runtime& runtime_;
    const BackendUrl& url_;
    boost::asio::ip::tcp::socket socket_;        // until an https:// handshake starts
    std::unique_ptr<transport::TlsStream> tls_;  // then the socket is the stream's
    boost::asio::ip::tcp::resolver resolver_;
};

}  // namespace snibind::proxy
