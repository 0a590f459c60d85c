#include "proxy/client_connection.h"

#include <array>

#include <fmt/format.h>
#include <boost/asio/write.hpp>

#include "net/asio_endpoint.h"
#include "proxy/forward_session.h"
#include "proxy/tls_policy.h"
#include "proxy/tls_session.h"
#include "report/json_output.h"

namespace snibind::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// The reader's verdict on a hello that did not come, as a connection result.
ConnectionResult hello_failure(HelloResult r) {
    switch (r) {
        case HelloResult::not_tls:
            return ConnectionResult::not_tls;
        case HelloResult::malformed:
            return ConnectionResult::malformed;
        case HelloResult::too_large:
            return ConnectionResult::too_large;
        case HelloResult::incomplete:
        case HelloResult::need_more:
        case HelloResult::client_hello:
            break;
    }
    return ConnectionResult::incomplete;
}

constexpr std::size_t kInitialBuffer = 4096;  // a 2 KB Chromium hello fits in one read
constexpr std::uint8_t kAlertHandshakeFailure = 40;
constexpr std::uint8_t kAlertProtocolVersion = 70;
constexpr std::uint8_t kAlertInternalError = 80;
constexpr std::uint8_t kAlertUnrecognizedName = 112;

}  // namespace

ClientConnection::ClientConnection(Worker& worker, asio::ip::tcp::socket socket, bool accept_proxy,
                                   const Endpoint& client, const Endpoint& dst)
    : worker_(worker),
      socket_(std::move(socket)),
      deadline_(worker.io()),
      runtime_(worker.runtime()),
      trace_(worker),
      accept_proxy_(accept_proxy),
      reader_(ReaderOptions{.max_hello_bytes = runtime_->config().limits.max_hello_bytes,
                            .trailing_dot = runtime_->config().selection.trailing_dot}) {
    // Room for the largest hello split into the most records (a 5-byte header each), behind the
    // largest PROXY header.
    max_buffer_ = runtime_->config().limits.max_hello_bytes + 5 * ReaderOptions{}.max_records + 16 +
                  ProxyHeaderReader::kMaxV2Length + 512;
    buffer_.resize(std::min(kInitialBuffer, max_buffer_));
    trace_.log.dst = dst;
    trace_.log.client = client;
}

void ClientConnection::start() {
    // The hello deadline closes the connection; it never routes it to a default
    // (src/tls/README.md).
    deadline_.expires_after(runtime_->config().limits.hello_timeout);
    deadline_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec) return;
        self->timed_out_ = true;
        error_code ignored;
        self->socket_.cancel(ignored);
    });
    read_more();
}

void ClientConnection::read_more() {
    if (size_ == buffer_.size()) {
        if (buffer_.size() >= max_buffer_) {
            drop(ConnectionResult::hello_too_large,
                 fmt::format("no complete hello within {} bytes", size_), false);
            return;
        }
        buffer_.resize(std::min(buffer_.size() * 2, max_buffer_));
    }
    socket_.async_read_some(
        asio::buffer(buffer_.data() + size_, buffer_.size() - size_),
        [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

void ClientConnection::on_read(const error_code& ec, std::size_t n) {
    size_ += n;
    trace_.log.bytes_in = size_;
    if (ec) {
        if (timed_out_) {
            reader_.finish();
            drop(ConnectionResult::hello_timeout,
                 fmt::format("no complete hello within {} ms ({} bytes)",
                             runtime_->config().limits.hello_timeout.count(), size_),
                 false);
        } else if (ec == asio::error::eof) {
            on_hello_done(reader_.finish());
        } else {
            drop(ConnectionResult::client_error, ec.message(), false);
        }
        return;
    }
    std::span<const std::uint8_t> received(buffer_.data(), size_);
    if (accept_proxy_ && !proxy_done_) {
        switch (proxy_reader_.read(received)) {
            case ProxyHeaderResult::need_more:
                read_more();
                return;
            case ProxyHeaderResult::invalid:
                drop(ConnectionResult::bad_proxy_header, std::string(proxy_reader_.error()), false);
                return;
            case ProxyHeaderResult::done:
                proxy_done_ = true;
                hello_offset_ = proxy_reader_.header().length;
                if (!proxy_reader_.header().local) {
                    trace_.log.client = proxy_reader_.header().src;
                    trace_.log.dst = proxy_reader_.header().dst;
                }
                break;
        }
    }
    HelloResult r = reader_.read(received.subspan(hello_offset_));
    if (r == HelloResult::need_more)
        read_more();
    else
        on_hello_done(r);
}

void ClientConnection::on_hello_done(HelloResult result) {
    deadline_.cancel();
    if (result == HelloResult::client_hello) {
        worker_.stats().hello_bytes.observe(static_cast<double>(reader_.hello_end()));
        worker_.stats().hello_reads.observe(static_cast<double>(reader_.reads()));
        dispatch();
        return;
    }
    std::string why = reader_.error();
    if (result == HelloResult::incomplete && size_ == hello_offset_) why = "closed before sending";
    drop(hello_failure(result), why, false);
}

void ClientConnection::dispatch() {
    const ClientHello& hello = reader_.hello();
    // The runtime of this moment, not of the accept (a reload in between applies). Its model
    // holds the table and the certificates together, so a record always finds its certificate.
    runtime_ = worker_.runtime();
    const config::Config& config = runtime_->config();
    trace_.log.sni_sent = hello.has_sni();
    trace_.log.sni = hello.sni();

    Connection conn{trace_.log.dst.addr, trace_.log.dst.port, hello.host(), hello.sni_problem(),
                    hello.has_sni()};
    Decision decision;
    {
        auto table = runtime_->model->table.read();
        decision =
            select_certificate(table, conn, config.selection, &runtime_->model->certificates);
    }
    ++worker_.stats().decisions_by_outcome[static_cast<std::size_t>(decision.outcome)];
    if (decision.step) {
        ++worker_.stats().decisions_by_step[static_cast<std::size_t>(*decision.step)];
        trace_.log.step = to_string(*decision.step);
        trace_.log.record = decision.key(*decision.step).display();
    }

    switch (decision.outcome) {
        case Outcome::no_match:
        case Outcome::rejected: {
            trace_.log.action = ConnectionAction::reject;
            std::string why = decision.outcome == Outcome::rejected
                                  ? "the record has reject set (L5)"
                                  : "no record matches (L8)";
            if (config.selection.on_reject == OnReject::alert)
                alert_and_close(kAlertUnrecognizedName, ConnectionResult::rejected, why);
            else
                drop(ConnectionResult::rejected, why, true);
            return;
        }
        case Outcome::failed:
            trace_.log.action = ConnectionAction::fail;
            alert_and_close(kAlertHandshakeFailure, ConnectionResult::unusable_key,
                            "the selected certificate's key cannot be used (L9)");
            return;
        case Outcome::selected:
            break;
    }

    if (decision.action == RecordAction::forward) {
        const config::RecordEntry& entry = *runtime_->model->action(decision.action_id);
        trace_.log.action = ConnectionAction::forward;
        if (!offers_allowed_version(hello.versions(), decision.flags)) {
            alert_and_close(kAlertProtocolVersion, ConnectionResult::version_refused,
                            "the record's flags allow no version the client offers (L7)");
            return;
        }
        std::make_shared<ForwardSession>(worker_, std::move(socket_), std::move(buffer_), size_,
                                         hello_offset_, std::move(trace_), runtime_, entry)
            ->start();
        return;
    }

    trace_.log.action = ConnectionAction::terminate;
    auto cert = runtime_->model->certificate_for(decision);
    auto* context = cert ? runtime_->server_context(cert.get()) : nullptr;
    if (!context) {
        alert_and_close(kAlertInternalError, ConnectionResult::no_certificate,
                        cert ? "the certificate's key cannot be used"
                             : "the record's certificate is not loaded");
        return;
    }
    std::make_shared<TlsSession>(worker_, std::move(socket_), std::move(buffer_), size_,
                                 hello_offset_, std::move(trace_), runtime_, decision,
                                 std::move(cert), context, hello)
        ->start();
}

void ClientConnection::drop(ConnectionResult result, std::string why, bool reset) {
    trace_.end(result, std::move(why));
    error_code ignored;
    if (reset) socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
}

void ClientConnection::alert_and_close(std::uint8_t description, ConnectionResult result,
                                       std::string why) {
    trace_.end(result, std::move(why));
    alert_ = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description};  // level 2: fatal
    asio::async_write(socket_, asio::buffer(alert_),
                      [self = shared_from_this()](const error_code&, std::size_t n) {
                          self->trace_.log.bytes_out += n;
                          error_code ignored;
                          self->socket_.shutdown(asio::socket_base::shutdown_send, ignored);
                          self->socket_.close(ignored);
                      });
}

}  // namespace snibind::proxy
