#pragma once
// Terminate mode: the TLS handshake with the selected certificate (fed the hello bytes already
// read, so the socket is never read twice), the record's flags applied (L7), then HTTP/1.1:
// each request is routed to a site by I5 and relayed to its backend, or answered by the built-in
// lab responder when the config has no sites.
#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/http_message.h"
#include "proxy/backend.h"
#include "proxy/buffer_pool.h"
#include "proxy/connection_trace.h"
#include "tls/client_hello_reader.h"
#include "transport/tls_stream.h"

namespace snibind::proxy {

class TlsSession : public std::enable_shared_from_this<TlsSession> {
  public:
    TlsSession(Worker& worker, boost::asio::ip::tcp::socket socket,
               std::vector<std::uint8_t> received, std::size_t size, std::size_t hello_offset,
               ConnectionTrace trace, std::shared_ptr<const Runtime> runtime,
               const Decision& decision, std::shared_ptr<const certs::Certificate> certificate,
               SSL_CTX* context, const ClientHello& hello);
    void start();

  private:
    enum class Phase {
        head,             // reading a request head
        body_to_backend,  // streaming the request body to the backend
        body_discarded,   // reading past a body nobody wants (lab responder, errors)
        response,         // relaying the backend's response
    };
    // The one operation in flight (there is never more than one after the handshake): the timer's
    // limit (idle_timeout for the client, backend_timeout for the backend) and what running out of
    // it means follow from it. A backend handler that finds another wait here is stale (the
    // session gave up on the backend) and does nothing.
    enum class Waiting : std::uint8_t {
        client_read,
        client_write,
        backend_connect,
        backend_write,
        backend_read,
    };

    void on_handshake(const boost::system::error_code& ec);
    void read_request();
    void read_request_bytes();
    void wait_request();
    void parse_request();
    void on_request_head();
    void on_request_complete();
    void connect_backend(std::function<void()> go);
    void send_to_backend(std::size_t body_bytes, bool request_complete);
    void read_response();
    void on_response_data(std::size_t n);
    void answer(std::string response, bool close_after);
    void end_exchange(bool backend_keep_alive);
    void shut_down(ConnectionResult result, std::string why);
    void backend_failed(const boost::system::error_code& ec, std::string_view doing);
    void give_up_backend(ConnectionResult result, std::string why, int status,
                         std::string_view reason);
    void wait_for(Waiting what);
    bool waiting_on_backend() const;
    std::chrono::milliseconds wait_limit() const;
    void watch_idle();
    void on_timer();
    std::string lab_response_body(bool json);

    Worker& worker_;
    transport::TlsStream stream_;
    boost::asio::steady_timer timer_;
    std::shared_ptr<const Runtime> runtime_;
    ConnectionTrace trace_;
    Decision decision_;
    std::shared_ptr<const certs::Certificate> certificate_;
    std::vector<std::string> alpn_offered_;  // for the lab responder only
    bool issue_tickets_;                     // L7 enable session ticket (tls_policy.h)

    Phase phase_ = Phase::head;
    // Borrowed from the worker only while there are bytes to hold: between requests, none.
    BufferPool::Buffer in_;  // client bytes; [in_begin_, in_end_) not yet parsed
    std::size_t in_begin_ = 0, in_end_ = 0;
    BufferPool::Buffer out_;  // backend bytes, while a response is relayed
    http::MessageParser request_{http::MessageParser::Kind::request};
    http::MessageParser response_{http::MessageParser::Kind::response};
    std::string client_ip_;  // for X-Forwarded-For and Forwarded, formatted once
    std::string head_out_;   // a rewritten request head, or a response we generated
    bool request_keep_alive_ = true;
    bool parse_empty_ = false;  // parse once more even without new bytes (just after a head)
    // The backend connection of the exchange in progress: taken from the worker's pool or
    // opened for it, given back (or closed) when the exchange ends.
    std::unique_ptr<BackendConnection> backend_;
    const http::BackendUrl* backend_url_ = nullptr;  // the current request's backend
    bool backend_reused_ = false;                    // backend_ came from the pool
    std::string resend_;  // the request's head, when it may be sent again (backend_failed)
    std::chrono::steady_clock::time_point last_activity_, handshake_started_;
    Waiting waiting_ = Waiting::client_read;
    bool watching_ = false;          // the timer watches for idleness (after the handshake)
    bool response_started_ = false;  // bytes of the backend's answer went to the client
    // The peers' acknowledged bytes when the timer last looked (tcp_progress.h).
    std::uint64_t acked_client_ = 0, acked_backend_ = 0;
    bool closing_ = false;
};

}  // namespace snibind::proxy
