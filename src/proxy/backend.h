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

#include "proxy/runtime.h"

namespace snibind::proxy {

// "http://127.0.0.1:9101" or "https://legacy.example:8443", as the config validated it.
struct BackendUrl {
    bool tls = false;
    std::string host;  // name or address, without brackets
    std::uint16_t port = 0;
    static std::optional<BackendUrl> parse(std::string_view url);
    std::string to_string() const;
};

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
