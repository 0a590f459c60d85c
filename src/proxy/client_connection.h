#pragma once
// The first phase of every connection: read the (optional) PROXY header and the ClientHello,
// ask select_certificate, and hand the socket to a ForwardSession or a TlsSession, or drop the
// connection as HTTP.sys would (L5, L8, L9).
//
// On the raw socket: listeners defer the accept until the client has sent something
// (TCP_DEFER_ACCEPT, Worker::listen), so the hello is usually whole at the first read and the
// connection is routed without ever waiting, from a buffer borrowed from the worker for that
// one read. Only a hello that is not complete gets a buffer of its own, registers the socket with
// the worker's EventLoop and starts the hello deadline.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "proxy/buffer_pool.h"
#include "proxy/connection_trace.h"
#include "proxy/event_loop.h"
#include "proxy/socket_fd.h"
#include "proxy_protocol/proxy_header.h"
#include "tls/client_hello_reader.h"

namespace snibind::proxy {

class ClientConnection final : public EventHandler,
                               public std::enable_shared_from_this<ClientConnection> {
  public:
    // `socket`: accepted, non-blocking. `client` and `dst`: its peer and local addresses, which
    // the worker already knows.
    ClientConnection(Worker& worker, SocketFd socket, bool accept_proxy, const Endpoint& client,
                     const Endpoint& dst);
    void start();
    void on_events(std::uint32_t events) override;

  private:
    void read();
    void on_read_error(int error);
    void wait();
    bool on_bytes();                                 // false: the hello phase is over
    std::span<const std::uint8_t> received() const;  // everything read so far
    void on_hello_done(HelloResult result);
    void end_phase();
    void dispatch();
    // Ends the connection without routing it. `reset` sends a TCP RST (HTTP.sys's way to refuse).
    void drop(ConnectionResult result, std::string why, bool reset);
    // Sends a fatal TLS alert (RFC 8446 6.2) and closes.
    void alert_and_close(std::uint8_t description, ConnectionResult result, std::string why);

    Worker& worker_;
    SocketFd socket_;
    bool v6_;                  // the socket's family, for the TLS session's Asio socket
    bool registered_ = false;  // with the EventLoop: the hello did not come whole
    bool phase_over_ = false;
    std::optional<EventLoop::Adopted> adopted_;
    boost::asio::steady_timer deadline_;
    std::shared_ptr<const Runtime> runtime_;
    ConnectionTrace trace_;
    bool accept_proxy_;
    bool proxy_done_ = false;
    std::size_t hello_offset_ = 0;      // where the hello starts (after a PROXY header)
    BufferPool::Buffer first_;          // the first read's, while its bytes are all there is
    std::vector<std::uint8_t> buffer_;  // once the hello has to wait for more
    std::size_t size_ = 0;
    std::size_t max_buffer_;
    ProxyHeaderReader proxy_reader_;
    ClientHelloReader reader_;
};

}  // namespace snibind::proxy
