#pragma once
// A connection to a site's backend after termination: plain TCP for http://, TLS for https://
// (a legacy server: no SNI unless backend_sni is set, verification as configured).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "http/backend_url.h"
#include "proxy/runtime.h"

namespace snibind::proxy {

using http::BackendUrl;

class BackendConnection {
  public:
    using Handler = std::function<void(const boost::system::error_code&, std::size_t)>;

    BackendConnection(boost::asio::io_context& io, const Runtime& runtime, BackendUrl url);

    // Resolves, connects and (https) handshakes.
    void async_connect(std::function<void(const boost::system::error_code&)> done);
    void async_read_some(boost::asio::mutable_buffer buffer, Handler done);
    void async_write(boost::asio::const_buffer buffer, Handler done);
    // async_write of two buffers (a rewritten head and the start of the body).
    void async_write(std::array<boost::asio::const_buffer, 2> buffers, Handler done);
    void close();

    const BackendUrl& url() const { return url_; }
    bool is_open() const;

  private:
    using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
    boost::asio::ip::tcp::socket& socket();

    boost::asio::io_context& io_;
    const Runtime& runtime_;
    BackendUrl url_;
    std::variant<boost::asio::ip::tcp::socket, TlsStream> stream_;
    boost::asio::ip::tcp::resolver resolver_;
};

}  // namespace snibind::proxy
