#include "proxy/tls_session.h"

#include <cctype>

#include <fmt/format.h>
#include <openssl/err.h>

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "proxy/tcp_progress.h"
#include "proxy/tls_policy.h"
#include "report/json_output.h"
#include "tlsstack/tls_stack.h"

namespace snibind::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

std::string tls_error_text(const error_code& ec) {
    if (ec.category() == asio::error::get_ssl_category()) {
        char buf[256];
        ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
        return buf;
    }
    return ec.message();
}

// The TLS bytes of what the connection read: [hello_offset, size) (a PROXY header may precede
// them), moved to the front of the same buffer.
std::vector<std::uint8_t> tls_bytes(std::vector<std::uint8_t> received, std::size_t size,
                                    std::size_t hello_offset) {
    received.resize(size);
    received.erase(received.begin(), received.begin() + static_cast<std::ptrdiff_t>(hello_offset));
    return received;
}

}  // namespace

TlsSession::TlsSession(Worker& worker, asio::ip::tcp::socket socket,
                       std::vector<std::uint8_t> received, std::size_t size,
                       std::size_t hello_offset, ConnectionTrace trace,
                       std::shared_ptr<const Runtime> runtime, const Decision& decision,
                       std::shared_ptr<const certs::Certificate> certificate, SSL_CTX* context,
                       const ClientHello& hello)
    : worker_(worker),
      stream_(std::move(socket), context, transport::TlsStream::Side::server,
              tls_bytes(std::move(received), size, hello_offset)),
      timer_(worker.io()),
      runtime_(std::move(runtime)),
      trace_(std::move(trace)),
      decision_(decision),
      certificate_(std::move(certificate)),
      issue_tickets_(issues_tickets(hello.versions(), decision.flags, tlsstack::kBoringSsl)) {
    if (runtime_->model->lab_responder)
        for (std::size_t i = 0; i < hello.alpn_count(); ++i)
            alpn_offered_.emplace_back(report::printable(hello.alpn(i)));
}

void TlsSession::start() {
    // L7: the record's flags bound what this connection may negotiate.
    SSL* ssl = stream_.native_handle();
    VersionRange range = allowed_versions(decision_.flags);
    SSL_set_min_proto_version(ssl, range.min);
    SSL_set_max_proto_version(ssl, range.max);
    if (decision_.flags & kNegotiateClientCert) {
        // Ask for a certificate, accept whatever comes: a lab shows that one was requested.
        SSL_set_verify(ssl, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    }
    if (!issue_tickets_) SSL_set_options(ssl, SSL_OP_NO_TICKET);
    // OpenSSL frees its 17 KB record buffers after every record with SSL_MODE_RELEASE_BUFFERS and
    // allocates them again for the next: during a handshake, a dozen large allocations that also
    // make glibc consolidate its heap. They are kept until the handshake is done; on_handshake
    // turns the mode back on for the idle keep-alive time.
    SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);

    last_activity_ = handshake_started_ = std::chrono::steady_clock::now();
    timer_.expires_after(runtime_->config().limits.handshake_timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec) return;
        self->shut_down(ConnectionResult::handshake_timeout,
                        "the TLS handshake did not finish in time");
    });
    stream_.async_handshake(
        [self = shared_from_this()](const error_code& ec) { self->on_handshake(ec); });
}

void TlsSession::on_handshake(const error_code& ec) {
    timer_.cancel();
    if (ec) {
        if (!closing_) shut_down(ConnectionResult::tls_error, tls_error_text(ec));
        return;
    }
    SSL_set_mode(stream_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    stream_.release_buffers();  // the handshake's, which the mode frees only after a record
    ++worker_.stats().handshakes;
    worker_.stats().handshake_seconds.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - handshake_started_)
            .count());
    watching_ = true;
    watch_idle();
    read_request();
}

void TlsSession::read_request() {
    if (in_begin_ == in_end_) {
        in_begin_ = in_end_ = 0;
        if (phase_ == Phase::head) {
            wait_request();
            return;
        }
    }
    read_request_bytes();
}

void TlsSession::read_request_bytes() {
    if (!in_) in_ = worker_.buffers().get();
    if (in_end_ == in_.size()) {
        // Unparsed bytes fill the buffer: move them to the front to make room.
        std::copy(in_.data() + in_begin_, in_.data() + in_end_, in_.data());
        in_end_ -= in_begin_;
        in_begin_ = 0;
    }
    wait_for(Waiting::client_read);
    stream_.async_read_some(
        asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
        [self = shared_from_this()](const error_code& ec, std::size_t n) {
            if (ec) {
                if (self->phase_ == Phase::head && transport::closed_by_peer(ec))
                    self->shut_down(ConnectionResult::closed, {});
                else if (ec != asio::error::operation_aborted)
                    self->shut_down(transport::closed_by_peer(ec) ? ConnectionResult::client_closed
                                                                  : ConnectionResult::client_error,
                                    transport::closed_by_peer(ec)
                                        ? "the client closed in the middle of a request"
                                        : tls_error_text(ec));
                return;
            }
            self->last_activity_ = std::chrono::steady_clock::now();
            self->trace_.log.bytes_in += n;
            self->in_end_ += n;
            self->parse_request();
        });
}

// Between requests (and before the first), with nothing left to parse: wait for the client on
// the socket itself, holding no HTTP buffer (nor, with SSL_MODE_RELEASE_BUFFERS, a TLS record
// buffer), unless the stream already has bytes of the next request.
void TlsSession::wait_request() {
    in_.release();
    if (stream_.input_pending()) {
        read_request_bytes();
        return;
    }
    wait_for(Waiting::client_read);
    stream_.next_layer().async_wait(
        asio::socket_base::wait_read, [self = shared_from_this()](const error_code& ec) {
            if (self->closing_) return;  // shut_down has the stream now
            if (ec) {
                if (ec != asio::error::operation_aborted)
                    self->shut_down(ConnectionResult::client_error, ec.message());
                return;
            }
            self->read_request_bytes();
        });
}

void TlsSession::parse_request() {
    // Right after a head the parser may complete a body-less message without another byte, so
    // it is asked even when the buffer is empty; otherwise an empty buffer means read.
    if (in_begin_ == in_end_ && !parse_empty_) {
        read_request();
        return;
    }
    parse_empty_ = false;
    auto p = request_.parse({in_.data() + in_begin_, in_end_ - in_begin_});
    const std::size_t start = in_begin_;
    in_begin_ += p.consumed;
    using Event = http::MessageParser::Event;
    switch (p.event) {
        case Event::error:
            trace_.end(ConnectionResult::bad_request, std::string(request_.error()));
            answer(
                http::simple_response(400, "Bad Request", "text/plain", "Bad Request\r\n", false),
                true);
            return;
        case Event::head_complete:
            on_request_head();
            return;
        case Event::need_more:
        case Event::message_complete: {
            bool complete = p.event == Event::message_complete;
            if (phase_ == Phase::body_to_backend) {
                // Forward exactly the body bytes this parse covered, then go on.
                in_begin_ = start;
                send_to_backend(p.consumed, complete);
                return;
            }
            if (complete)
                on_request_complete();
            else
                read_request();
            return;
        }
    }
}

void TlsSession::on_request_head() {
    const http::MessageHead& head = request_.head();
    ++worker_.stats().requests;
    request_keep_alive_ = head.keep_alive;
    response_started_ = false;
    parse_empty_ = true;
    if (runtime_->model->sites.empty()) {
        phase_ = Phase::body_discarded;
        parse_request();
        return;
    }
    auto route = runtime_->model->sites.route("https", head.header("host"), decision_.dst,
                                              decision_.port, head.path());
    if (!route.site) {
        // I5: no prefix matches: HTTP.sys answers itself and closes.
        trace_.end(ConnectionResult::invalid_hostname,
                   fmt::format("no site for Host '{}'", report::printable(head.header("host"))));
        answer(http::invalid_hostname_response(), true);
        return;
    }
    const http::BackendUrl* url = runtime_->model->backend_for(route.site);
    if (!url) {
        phase_ = Phase::body_discarded;
        parse_request();
        return;
    }
    if (client_ip_.empty()) client_ip_ = trace_.log.client.addr.to_string();
    head_out_ = http::backend_request_head(head, client_ip_, "https", true);
    const bool expect_continue = http::expects_continue(head);
    trace_.log.backend = url->to_string();
    phase_ = Phase::body_to_backend;
    response_.expect_no_body(head.method == "HEAD");

    auto go = [self = shared_from_this(), expect_continue] {
        if (expect_continue) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            self->wait_for(Waiting::client_write);
            asio::async_write(self->stream_, asio::buffer(kContinue.data(), kContinue.size()),
                              [self](const error_code& ec, std::size_t n) {
                                  self->trace_.log.bytes_out += n;
                                  if (ec)
                                      return self->shut_down(ConnectionResult::client_error,
                                                             ec.message());
                                  self->last_activity_ = std::chrono::steady_clock::now();
                                  self->send_to_backend(0, false);
                              });
            return;
        }
        self->send_to_backend(0, false);
    };
    backend_url_ = url;
    resend_.clear();
    if (auto idle = worker_.backend_pool().take(*url)) {
        backend_ = std::move(idle);
        backend_reused_ = true;
        acked_backend_ = 0;
        ++worker_.stats().backend_connections_reused;
        // A request without a body whose method is idempotent (RFC 9110 9.2.2) may be sent again
        // on a new connection when this reused one fails before any answer: the backend may have
        // closed it just as the request went out. Nothing else is ever sent twice.
        if (http::is_idempotent(head.method) && !request_.has_body()) resend_ = head_out_;
        go();
        return;
    }
    connect_backend(std::move(go));
}

// A new connection to backend_url_, then `go`; 502 when it cannot be had.
void TlsSession::connect_backend(std::function<void()> go) {
    backend_ = std::make_unique<BackendConnection>(worker_.io(), *runtime_, *backend_url_);
    backend_reused_ = false;
    acked_backend_ = 0;
    ++worker_.stats().backend_connections_new;
    auto started = std::chrono::steady_clock::now();
    wait_for(Waiting::backend_connect);
    backend_->async_connect(
        [self = shared_from_this(), go = std::move(go), started](const error_code& ec) {
            if (self->closing_ || self->waiting_ != Waiting::backend_connect) return;  // gave up
            self->last_activity_ = std::chrono::steady_clock::now();
            self->worker_.stats().backend_connect_seconds.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
            if (ec) {
                self->trace_.end(
                    ConnectionResult::backend_down,
                    fmt::format("connect to {}: {}", self->trace_.log.backend, tls_error_text(ec)));
                self->backend_.reset();
                self->answer(
                    http::simple_response(502, "Bad Gateway", "text/plain",
                                          "Bad Gateway: the site's backend is down\r\n", false),
                    true);
                return;
            }
            go();
        });
}

// Sends the pending rewritten head (if any) and the next `body_bytes` at in_begin_ to the
// backend, then reads on (or turns to the response when the request is complete).
void TlsSession::send_to_backend(std::size_t body_bytes, bool request_complete) {
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head_out_),
                                              asio::buffer(in_.data() + in_begin_, body_bytes)};
    wait_for(Waiting::backend_write);
    backend_->async_write(buffers, [self = shared_from_this(), body_bytes, request_complete](
                                       const error_code& ec, std::size_t) {
        if (self->closing_ || self->waiting_ != Waiting::backend_write) return;  // gave up
        if (ec) {
            self->backend_failed(ec, "taking the request");
            return;
        }
        self->last_activity_ = std::chrono::steady_clock::now();
        self->head_out_.clear();
        self->in_begin_ += body_bytes;
        if (request_complete) {
            self->phase_ = Phase::response;
            self->read_response();
        } else {
            self->parse_request();
        }
    });
}

void TlsSession::on_request_complete() {
    // Lab responder (or a site without a backend): answer with what was decided.
    const http::MessageHead& head = request_.head();
    auto accept = head.header("accept");
    bool json = accept.find("text/html") == std::string_view::npos;
    answer(http::simple_response(200, "OK", json ? "application/json" : "text/plain; charset=utf-8",
                                 lab_response_body(json), request_keep_alive_),
           !request_keep_alive_);
}

void TlsSession::read_response() {
    if (!out_) out_ = worker_.buffers().get();
    wait_for(Waiting::backend_read);
    backend_->async_read_some(
        asio::buffer(out_.data(), out_.size()),
        [self = shared_from_this()](const error_code& ec, std::size_t n) {
            if (self->closing_ || self->waiting_ != Waiting::backend_read) return;  // gave up
            if (ec) {
                if (transport::closed_by_peer(ec)) {
                    auto p = self->response_.finish();
                    if (p.event == http::MessageParser::Event::message_complete) {
                        self->end_exchange(false);
                        return;
                    }
                }
                if (ec == asio::error::operation_aborted) return;
                self->backend_failed(ec, "answering");
                return;
            }
            self->last_activity_ = std::chrono::steady_clock::now();
            self->on_response_data(n);
        });
}

void TlsSession::on_response_data(std::size_t n) {
    using Event = http::MessageParser::Event;
    std::size_t offset = 0;
    bool done = false;
    while (offset < n) {
        auto p = response_.parse({out_.data() + offset, n - offset});
        offset += p.consumed;
        if (p.event == Event::error) {
            // Nothing of this read went out: 502 if it held the answer's first bytes.
            give_up_backend(ConnectionResult::backend_error,
                            fmt::format("bad response: {}", response_.error()), 502, "Bad Gateway");
            return;
        }
        if (p.event == Event::message_complete) {
            int status = response_.head().status;
            if (status >= 100 && status < 200 && status != 101) {
                response_.next();  // an interim response; the real one follows
                continue;
            }
            done = true;
            break;
        }
        if (p.event == Event::need_more) break;
    }
    if (offset > 0) response_started_ = true;
    wait_for(Waiting::client_write);
    asio::async_write(stream_, asio::buffer(out_.data(), offset),
                      [self = shared_from_this(), done](const error_code& ec, std::size_t n) {
                          self->trace_.log.bytes_out += n;
                          if (ec) {
                              self->shut_down(ConnectionResult::client_error, tls_error_text(ec));
                              return;
                          }
                          self->last_activity_ = std::chrono::steady_clock::now();
                          if (done)
                              self->end_exchange(self->response_.head().keep_alive);
                          else
                              self->read_response();
                      });
}

void TlsSession::answer(std::string response, bool close_after) {
    head_out_ = std::move(response);
    wait_for(Waiting::client_write);
    asio::async_write(
        stream_, asio::buffer(head_out_),
        [self = shared_from_this(), close_after](const error_code& ec, std::size_t n) {
            self->trace_.log.bytes_out += n;
            std::string().swap(self->head_out_);  // a lab response: kilobytes, not kept idle
            if (ec) {
                self->shut_down(ConnectionResult::client_error, tls_error_text(ec));
                return;
            }
            self->last_activity_ = std::chrono::steady_clock::now();
            if (close_after) {
                self->shut_down(ConnectionResult::closed, {});
                return;
            }
            self->end_exchange(true);
        });
}

void TlsSession::end_exchange(bool backend_keep_alive) {
    ++trace_.log.requests;
    out_.release();
    if (backend_) {
        // Whole exchange (the request was whole before its answer was read), both ends keep the
        // connection: the next request to this backend, from any client, may use it.
        // A 101 turned the connection into something else.
        if (backend_keep_alive && phase_ == Phase::response && !worker_.draining() &&
            response_.head().status != 101) {
            worker_.backend_pool().give_back(runtime_, *backend_url_, std::move(backend_));
        } else {
            backend_->close();
        }
        backend_.reset();
    }
    if (!request_keep_alive_ || (phase_ == Phase::response && !backend_keep_alive) ||
        worker_.draining()) {
        shut_down(ConnectionResult::closed, {});
        return;
    }
    request_.next();
    response_.next();
    phase_ = Phase::head;
    parse_request();  // a pipelined request may already be in the buffer
}

void TlsSession::shut_down(ConnectionResult result, std::string why) {
    if (closing_) return;
    closing_ = true;
    trace_.end(result, std::move(why));
    if (backend_) backend_->close();
    // close_notify, then close; a peer that never answers is cut off by the timer.
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec) return;
        error_code ignored;
        self->stream_.next_layer().close(ignored);
    });
    stream_.async_shutdown([self = shared_from_this()](const error_code&) {
        error_code ignored;
        self->timer_.cancel();
        self->stream_.next_layer().close(ignored);
    });
}

// The backend failed (an error, or its EOF before the answer was whole): the client gets a 502 if
// no byte of an answer went out yet, as nginx and HAProxy answer; otherwise it can only be closed.
void TlsSession::backend_failed(const error_code& ec, std::string_view doing) {
    if (backend_reused_ && !response_started_ && !resend_.empty() &&
        ec != asio::error::operation_aborted) {
        // A kept-alive connection the backend closed as the request went out: once more on a
        // new connection (see resend_).
        backend_->close();
        head_out_ = std::move(resend_);
        resend_.clear();
        const bool request_complete = phase_ == Phase::response;
        connect_backend([self = shared_from_this(), request_complete] {
            self->send_to_backend(0, request_complete);
        });
        return;
    }
    if (transport::closed_by_peer(ec)) {
        give_up_backend(ConnectionResult::backend_error,
                        response_started_ ? "the backend ended its response early"
                                          : "the backend closed the connection before answering",
                        502, "Bad Gateway");
        return;
    }
    const bool reset = ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
    give_up_backend(reset ? ConnectionResult::backend_reset : ConnectionResult::backend_error,
                    fmt::format("the backend failed {}: {}", doing, tls_error_text(ec)), 502,
                    "Bad Gateway");
}

void TlsSession::give_up_backend(ConnectionResult result, std::string why, int status,
                                 std::string_view reason) {
    trace_.end(result, std::move(why));
    if (backend_)
        backend_->close();  // its handler, if one is pending, finds it is no longer awaited
    if (response_started_) {
        shut_down(result, {});
        return;
    }
    answer(http::simple_response(status, reason, "text/plain",
                                 fmt::format("{}: the site's backend did not answer\r\n", reason),
                                 false),
           true);
}

void TlsSession::wait_for(Waiting what) {
    waiting_ = what;
    // The timer runs to the deadline of the previous wait; bring it forward when this wait's limit
    // is shorter (backend_timeout and idle_timeout differ).
    if (watching_ && !closing_ && last_activity_ + wait_limit() < timer_.expiry()) watch_idle();
}

bool TlsSession::waiting_on_backend() const {
    return waiting_ == Waiting::backend_connect || waiting_ == Waiting::backend_write ||
           waiting_ == Waiting::backend_read;
}

std::chrono::milliseconds TlsSession::wait_limit() const {
    const auto& limits = runtime_->config().limits;
    return waiting_on_backend() ? limits.backend_timeout : limits.idle_timeout;
}

void TlsSession::watch_idle() {
    timer_.expires_at(last_activity_ + wait_limit());
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec || self->closing_) return;
        self->on_timer();
    });
}

void TlsSession::on_timer() {
    const auto now = std::chrono::steady_clock::now();
    const auto limit = wait_limit();
    if (now - last_activity_ >= limit) {
        // What the kernel moved that the session did not see counts too: bytes it wrote that a
        // slow peer acknowledged since the last look (tcp_progress.h). Waiting on the backend,
        // only the backend's count: a client's bytes do not make a silent backend any less so.
        auto note = [&](int fd, std::uint64_t& acked) {
            const auto at = tcp_acked_since(fd, acked, now);
            if (at && *at > last_activity_) last_activity_ = *at;
        };
        if (backend_) note(backend_->native_handle(), acked_backend_);
        if (!waiting_on_backend()) note(stream_.next_layer().native_handle(), acked_client_);
    }
    if (now - last_activity_ < limit) {
        watch_idle();
        return;
    }
    const auto ms = limit.count();
    switch (waiting_) {
        case Waiting::client_read:
        case Waiting::client_write:
            shut_down(ConnectionResult::idle_timeout,
                      fmt::format("no data either way for {} ms", ms));
            return;
        case Waiting::backend_connect:
            give_up_backend(ConnectionResult::backend_timeout,
                            fmt::format("no connection to the backend in {} ms", ms), 504,
                            "Gateway Timeout");
            return;
        case Waiting::backend_write:
            give_up_backend(ConnectionResult::backend_timeout,
                            fmt::format("the backend took no request bytes for {} ms", ms), 504,
                            "Gateway Timeout");
            return;
        case Waiting::backend_read:
            give_up_backend(ConnectionResult::backend_timeout,
                            response_started_
                                ? fmt::format("the backend sent nothing for {} ms", ms)
                                : fmt::format("no answer from the backend in {} ms", ms),
                            504, "Gateway Timeout");
            return;
    }
}

std::string TlsSession::lab_response_body(bool json) {
    SSL* ssl = stream_.native_handle();
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    const http::MessageHead& head = request_.head();
    const auto& info = certificate_->info();
    nlohmann::json j;
    j["sni"] = trace_.log.sni_sent ? nlohmann::json(report::printable(trace_.log.sni))
                                   : nlohmann::json(nullptr);
    j["client"] = trace_.log.client.to_string();
    j["destination"] = trace_.log.dst.to_string();
    j["step"] = std::string(trace_.log.step);
    j["record"] = trace_.log.record;
    j["certificate"] = {{"subject", info.subject},
                        {"thumbprint", info.thumbprint.hex()},
                        {"dns_names", info.dns_names}};
    j["tls"] = {
        {"version", SSL_get_version(ssl)},
        {"cipher", SSL_get_cipher_name(ssl)},
        {"alpn", alpn ? nlohmann::json(std::string(reinterpret_cast<const char*>(alpn), alpn_len))
                      : nlohmann::json(nullptr)},
        {"alpn_offered", alpn_offered_}};
    j["request"] = {{"method", head.method},
                    {"target", report::printable(head.target)},
                    {"host", report::printable(head.header("host"))}};
    {
        auto table = runtime_->model->table.read();  // the record as stored, like explain
        j["decision"] = report::decision_json(decision_, runtime_->config().selection,
                                              chosen_record(table, decision_));
    }
    if (json) return report::json_text(j) + "\n";
    std::string text = fmt::format(
        "snibind lab responder\n\nrequest:     {} {} (Host: {})\nclient:      {}\n"
        "certificate: {}\n             thumbprint {}\ntls:         {} {} alpn {}\n\n",
        head.method, j["request"]["target"].get<std::string>(),
        j["request"]["host"].get<std::string>(), trace_.log.client.to_string(), info.subject,
        info.thumbprint.hex(), SSL_get_version(ssl), SSL_get_cipher_name(ssl),
        alpn ? std::string(reinterpret_cast<const char*>(alpn), alpn_len) : "(none)");
    return text + report::decision_text(decision_, runtime_->config().selection,
                                        trace_.log.sni_sent, trace_.log.sni);
}

}  // namespace snibind::proxy
