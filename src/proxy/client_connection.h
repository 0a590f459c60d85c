#pragma once
// The first phase of every connection: read the (optional) PROXY header and the ClientHello,
// ask select_certificate, and hand the socket to a ForwardSession or a TlsSession, or drop the
// connection as HTTP.sys would (L5, L8, L9).
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/connection_trace.h"
#include "proxy_protocol/proxy_header.h"
#include "tls/client_hello_reader.h"

namespace snibind::proxy {

class ClientConnection : public std::enable_shared_from_this<ClientConnection> {
  public:
    // `client` and `dst`: the socket's peer and local addresses, which the worker already knows.
    ClientConnection(Worker& worker, boost::asio::ip::tcp::socket socket, bool accept_proxy,
                     const Endpoint& client, const Endpoint& dst);
    void start();

  private:
    void read_more();
    void on_read(const boost::system::error_code& ec, std::size_t n);
    void on_hello_done(HelloResult result);
    void dispatch();
    // Ends the connection without routing it. `reset` sends a TCP RST (HTTP.sys's way to refuse).
    void drop(ConnectionResult result, std::string why, bool reset);
    // Sends a fatal TLS alert (RFC 8446 6.2) and closes.
    void alert_and_close(std::uint8_t description, ConnectionResult result, std::string why);

    Worker& worker_;
    boost::asio::ip::tcp::socket socket_;
    boost::asio::steady_timer deadline_;
    std::shared_ptr<const Runtime> runtime_;
    ConnectionTrace trace_;
    bool accept_proxy_;
    bool proxy_done_ = false;
    bool timed_out_ = false;
    std::size_t hello_offset_ = 0;  // where the hello starts (after a PROXY header)
    std::vector<std::uint8_t> buffer_;
    std::size_t size_ = 0;
    std::size_t max_buffer_;
    std::array<std::uint8_t, 7> alert_{};  // a TLS alert record, while it is being written
    ProxyHeaderReader proxy_reader_;
    ClientHelloReader reader_;
};

}  // namespace snibind::proxy
