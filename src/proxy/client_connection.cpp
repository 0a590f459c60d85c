#include "proxy/client_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

#include <fmt/format.h>
#include <boost/asio/ip/tcp.hpp>

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

ClientConnection::ClientConnection(Worker& worker, SocketFd socket, bool accept_proxy,
                                   const Endpoint& client, const Endpoint& dst)
    : worker_(worker),
      socket_(std::move(socket)),
      v6_(dst.addr.v6),
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
    trace_.log.dst = dst;
    trace_.log.client = client;
}

// The first read, into a buffer borrowed from the worker: the listener deferred the accept until
// the client spoke, so this usually finds the whole hello, and the connection is routed from the
// borrowed bytes without a buffer of its own. Only a hello that is not whole yet is copied to
// buffer_, where the rest joins it.
void ClientConnection::start() {
    first_ = worker_.buffers().get();
    const std::size_t room = std::min(first_.size(), max_buffer_);
    ssize_t n;
    do {
        n = ::recv(socket_.get(), first_.data(), room, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        const int error = errno;
        first_.release();
        on_read_error(error);
        return;
    }
    if (n == 0) {
        first_.release();
        on_hello_done(reader_.finish());
        return;
    }
    size_ = static_cast<std::size_t>(n);
    trace_.log.bytes_in = size_;
    if (!on_bytes()) return;  // routed (or dropped) from the borrowed bytes
    buffer_.assign(first_.data(), first_.data() + size_);
    first_.release();
    if (size_ < room)
        wait();  // the socket is empty for now (see ForwardSession::pump)
    else
        read();
}

void ClientConnection::on_events(std::uint32_t) {
    if (!phase_over_) read();
}

// Reads until the hello is complete or the socket has nothing more for now.
void ClientConnection::read() {
    for (;;) {
        if (size_ == buffer_.size()) {
            if (buffer_.size() >= max_buffer_) {
                drop(ConnectionResult::hello_too_large,
                     fmt::format("no complete hello within {} bytes", size_), false);
                return;
            }
            buffer_.resize(std::min(std::max(buffer_.size() * 2, kInitialBuffer), max_buffer_));
        }
        const std::size_t room = buffer_.size() - size_;
        const ssize_t n = ::recv(socket_.get(), buffer_.data() + size_, room, 0);
        if (n < 0) {
            const int error = errno;
            if (error == EINTR) continue;
            on_read_error(error);
            return;
        }
        if (n == 0) {
            on_hello_done(reader_.finish());
            return;
        }
        size_ += static_cast<std::size_t>(n);
        trace_.log.bytes_in = size_;
        if (!on_bytes()) return;
        // Less than there was room for: the socket is empty for now (see ForwardSession::pump).
        if (static_cast<std::size_t>(n) < room) {
            wait();
            return;
        }
    }
}

// A read that found nothing for now waits for the next edge; any other error ends the connection.
void ClientConnection::on_read_error(int error) {
    if (would_block(error))
        wait();
    else
        drop(ConnectionResult::client_error, error_text(error), false);
}

// The hello is not whole yet: wait for the rest, at most until the hello deadline. The deadline
// closes the connection; it never routes it to a default (src/tls/README.md).
void ClientConnection::wait() {
    if (registered_) return;  // the next edge comes by itself
    if (auto ec = worker_.loop().watch(socket_.get(), *this)) {
        drop(ConnectionResult::client_error, fmt::format("epoll: {}", ec.message()), false);
        return;
    }
    registered_ = true;
    adopted_ = worker_.loop().adopt(shared_from_this());
    deadline_.expires_after(runtime_->config().limits.hello_timeout);
    deadline_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec || self->phase_over_) return;
        self->reader_.finish();
        self->drop(ConnectionResult::hello_timeout,
                   fmt::format("no complete hello within {} ms ({} bytes)",
                               self->runtime_->config().limits.hello_timeout.count(), self->size_),
                   false);
    });
}

// What has come so far: a PROXY header first if the listener expects one, then the hello.
bool ClientConnection::on_bytes() {
    const std::span<const std::uint8_t> received = this->received();
    if (accept_proxy_ && !proxy_done_) {
        switch (proxy_reader_.read(received)) {
            case ProxyHeaderResult::need_more:
                return true;
            case ProxyHeaderResult::invalid:
                drop(ConnectionResult::bad_proxy_header, std::string(proxy_reader_.error()), false);
                return false;
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
    if (r == HelloResult::need_more) return true;
    on_hello_done(r);
    return false;
}

std::span<const std::uint8_t> ClientConnection::received() const {
    if (first_) return {reinterpret_cast<const std::uint8_t*>(first_.data()), size_};
    return {buffer_.data(), size_};
}

// The phase ends, whichever way: the deadline and the loop's hold on this object go.
void ClientConnection::end_phase() {
    phase_over_ = true;
    first_.release();
    if (!registered_) return;
    deadline_.cancel();
    if (adopted_) worker_.loop().release(*adopted_);
}

void ClientConnection::on_hello_done(HelloResult result) {
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
        const RecordName record = decision.record_name(*decision.step);
        worker_.stats().count_record_hit(record.view());
        trace_.log.record = record.view();
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
        std::make_shared<ForwardSession>(worker_, std::move(socket_), registered_,
                                         received().subspan(hello_offset_), std::move(trace_),
                                         runtime_, entry)
            ->start();
        end_phase();
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
    // The TLS session runs on Asio's sockets: the descriptor leaves this loop for Asio's.
    if (registered_) worker_.loop().unwatch(socket_.get());
    asio::ip::tcp::socket socket(worker_.io());
    error_code ec;
    socket.assign(v6_ ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), socket_.get(), ec);
    if (ec) {
        drop(ConnectionResult::client_error, fmt::format("asio: {}", ec.message()), false);
        return;
    }
    socket_.release();
    if (first_) buffer_.assign(received().begin(), received().end());  // TLS keeps its own copy
    std::make_shared<TlsSession>(worker_, std::move(socket), std::move(buffer_), size_,
                                 hello_offset_, std::move(trace_), runtime_, decision,
                                 std::move(cert), context, hello)
        ->start();
    end_phase();
}

void ClientConnection::drop(ConnectionResult result, std::string why, bool reset) {
    trace_.end(result, std::move(why));
    if (reset)
        socket_.close_with_reset();
    else
        socket_.close();
    end_phase();
}

void ClientConnection::alert_and_close(std::uint8_t description, ConnectionResult result,
                                       std::string why) {
    trace_.end(result, std::move(why));
    // An alert record (0x15, TLS 1.2 framing, 2 bytes): level 2 (fatal), then the description.
    const std::array<std::uint8_t, 7> alert{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description};
    // Nothing was ever written to this socket: its send buffer takes the 7 bytes at once.
    const ssize_t n = ::send(socket_.get(), alert.data(), alert.size(), MSG_NOSIGNAL);
    if (n > 0) trace_.log.bytes_out += static_cast<std::uint64_t>(n);
    ::shutdown(socket_.get(), SHUT_WR);
    socket_.close();
    end_phase();
}

}  // namespace snibind::proxy
