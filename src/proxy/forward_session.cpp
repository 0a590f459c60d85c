#include "proxy/forward_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include "net/asio_endpoint.h"
#include "proxy/tcp_progress.h"

namespace snibind::proxy {

ForwardSession::ForwardSession(Worker& worker, SocketFd client, bool client_registered,
                               std::span<const std::uint8_t> client_bytes, ConnectionTrace trace,
                               std::shared_ptr<const Runtime> runtime,
                               const config::RecordEntry& entry)
    : worker_(worker),
      client_(*this, std::move(client)),
      backend_(*this, SocketFd{}),
      client_registered_(client_registered),
      timer_(worker.io()),
      runtime_(std::move(runtime)),
      entry_(entry),
      trace_(std::move(trace)),
      upstream_{&client_, &backend_, &trace_.log.bytes_in},
      downstream_{&backend_, &client_, &trace_.log.bytes_out} {
    trace_.log.backend = entry_.backend->to_string();
    // What the backend gets first: the PROXY header, then the client's bytes after its own
    // header, exactly as they came.
    if (entry_.proxy_protocol) {
        const auto header =
            write_proxy_header(*entry_.proxy_protocol, trace_.log.client, trace_.log.dst);
        const auto bytes = header.span();
        replay_.reserve(bytes.size() + client_bytes.size());
        replay_.assign(bytes.begin(), bytes.end());
        replay_.insert(replay_.end(), client_bytes.begin(), client_bytes.end());
        upstream_.pending = replay_.data();
        upstream_.pending_size = replay_.size();
    } else {
        upstream_.pending = client_bytes.data();
        upstream_.pending_size = client_bytes.size();
    }
}

void ForwardSession::start() {
    adopted_ = worker_.loop().adopt(shared_from_this());
    connect_started_ = std::chrono::steady_clock::now();
    const auto endpoint = net::to_asio(*entry_.backend);
    backend_.fd = SocketFd(::socket(endpoint.protocol().family(),
                                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
    if (!backend_.fd || (::connect(backend_.fd.get(), endpoint.data(), endpoint.size()) != 0 &&
                         errno != EINPROGRESS)) {
        finish(ConnectionResult::backend_down,
               fmt::format("connect to {}: {}", trace_.log.backend, error_text(errno)));
        return;
    }
    // A backend on this host has completed the TCP handshake by the time connect() returns, so
    // the replay is sent at once: no wait for writability, no SO_ERROR query. Still connecting,
    // the socket refuses with EAGAIN and the EPOLLOUT that ends the connect sends it.
    send_replay();
    if (finished_) return;
    if (upstream_.pending_size > 0 && replay_.empty()) {
        // The borrowed bytes go with the hello phase: keep what the backend has yet to take.
        replay_.assign(upstream_.pending, upstream_.pending + upstream_.pending_size);
        upstream_.pending = replay_.data();
    }
    // A registration that fails ends the session through Side::on_watch_failed.
    if (!client_registered_) {
        worker_.loop().watch_in_batch(client_.fd.get(), client_);
    } else if (auto ec = worker_.loop().rewatch(client_.fd.get(), client_)) {
        client_.on_watch_failed(ec.value());
    }
    if (!finished_) worker_.loop().watch_in_batch(backend_.fd.get(), backend_);
    if (finished_ || connected_) return;
    // Connecting shares the hello deadline: a dead backend must not hold the client forever.
    timer_.expires_after(runtime_->config().limits.connect_timeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->connected_ || self->finished_) return;
        self->finish(ConnectionResult::backend_timeout, "no connection to the backend in time");
    });
}

// Sends what is left of the replay. Before the connection is known to be up, a refusal is the
// connect's failure; after it, a reset is the write's.
void ForwardSession::send_replay() {
    while (upstream_.pending_size > 0 && backend_.writable) {
        const ssize_t n =
            ::send(backend_.fd.get(), upstream_.pending, upstream_.pending_size, MSG_NOSIGNAL);
        if (n < 0) {
            const int error = errno;
            if (error == EINTR) continue;
            if (would_block(error)) {
                backend_.writable = false;
                return;
            }
            if (!connected_ && error != EPIPE && error != ECONNRESET) {
                // Refused, unreachable: the connection never came up.
                finish(ConnectionResult::backend_down,
                       fmt::format("connect to {}: {}", trace_.log.backend, error_text(error)));
                return;
            }
            if (!connected_) connected();  // connected, then reset straight away
            finish(ConnectionResult::backend_error, fmt::format("write: {}", error_text(error)));
            return;
        }
        if (!connected_) connected();
        upstream_.pending += n;
        upstream_.pending_size -= static_cast<std::size_t>(n);
    }
    if (upstream_.pending_size == 0) {
        upstream_.pending = nullptr;
        replay_ = {};  // the replay is done: an idle connection keeps no bytes
        replaying_ = false;
    }
}

void ForwardSession::connected() {
    connected_ = true;
    const auto now = std::chrono::steady_clock::now();
    worker_.stats().backend_connect_seconds.observe(
        std::chrono::duration<double>(now - connect_started_).count());
    last_activity_ = now;
    watch_idle();  // replaces the connect deadline
}

void ForwardSession::Side::on_events(std::uint32_t events) {
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) readable = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable = true;
    // A FIN, not a reset (which sets EPOLLERR too): the bytes before it are all that will come.
    if ((events & EPOLLRDHUP) && !(events & EPOLLERR)) peer_closed = true;
    session.pump();
}

void ForwardSession::Side::on_watch_failed(int error) {
    session.finish(ConnectionResult::client_error, fmt::format("epoll: {}", error_text(error)));
}

void ForwardSession::pump() {
    if (finished_) return;  // an event for the other socket of a session that just ended
    if (replaying_) {
        send_replay();
        if (finished_ || replaying_) return;
    }
    if (pump(upstream_)) pump(downstream_);
}

// Moves what `pipe.from` has to `pipe.to` until one of them would block, in a buffer borrowed
// for as long as bytes wait in it. Nothing more is read while a chunk waits (back-pressure).
bool ForwardSession::pump(Pipe& pipe) {
    for (;;) {
        if (pipe.pending_size > 0) {
            if (!pipe.to->writable) return true;
            const ssize_t n =
                ::send(pipe.to->fd.get(), pipe.pending, pipe.pending_size, MSG_NOSIGNAL);
            if (n < 0) {
                const int error = errno;
                if (error == EINTR) continue;
                if (would_block(error)) {
                    pipe.to->writable = false;
                    return true;
                }
                finish(ConnectionResult::write_error, error_text(error));
                return false;
            }
            *pipe.counter += static_cast<std::uint64_t>(n);
            last_activity_ = std::chrono::steady_clock::now();
            pipe.pending += n;
            pipe.pending_size -= static_cast<std::size_t>(n);
            // A short write filled the socket's buffer: the next would be refused. Wait for
            // EPOLLOUT instead of asking.
            if (pipe.pending_size > 0) pipe.to->writable = false;
            continue;
        }
        if (pipe.eof) {
            if (pipe.done) return true;
            pipe.done = true;
            pipe.buffer.release();
            if (upstream_.done && downstream_.done) {
                // Both ends have sent their EOF and nothing is left unread: close() sends the
                // same FIN a shutdown would, one system call sooner.
                finish(ConnectionResult::closed, {});
                return false;
            }
            // Half-close: pass the EOF on; the other direction keeps flowing.
            ::shutdown(pipe.to->fd.get(), SHUT_WR);
            return true;
        }
        if (!pipe.from->readable) {
            pipe.buffer.release();  // wait without it
            return true;
        }
        if (!pipe.buffer) pipe.buffer = worker_.buffers().get();
        const ssize_t n = ::recv(pipe.from->fd.get(), pipe.buffer.data(), pipe.buffer.size(), 0);
        if (n > 0) {
            last_activity_ = std::chrono::steady_clock::now();
            pipe.pending = reinterpret_cast<const std::uint8_t*>(pipe.buffer.data());
            pipe.pending_size = static_cast<std::size_t>(n);
            if (static_cast<std::size_t>(n) < pipe.buffer.size()) {
                // Less than asked: the socket had no more, and epoll reports what comes later
                // (nginx reasons the same way). If the FIN had arrived before this read, the
                // bytes before it are all read now, and the EOF needs no read of its own.
                pipe.from->readable = false;
                if (pipe.from->peer_closed) pipe.eof = true;
            }
            continue;
        }
        if (n == 0) {
            pipe.eof = true;
            continue;
        }
        const int error = errno;
        if (error == EINTR) continue;
        if (would_block(error)) {
            pipe.from->readable = false;
            continue;
        }
        const bool from_client = pipe.from == &client_;
        finish(from_client ? ConnectionResult::client_reset : ConnectionResult::backend_reset,
               fmt::format("{}: {}", from_client ? "client" : "backend", error_text(error)));
        return false;
    }
}

void ForwardSession::watch_idle() {
    auto idle = runtime_->config().limits.idle_timeout;
    timer_.expires_at(last_activity_ + idle);
    timer_.async_wait([self = shared_from_this(), idle](const boost::system::error_code& ec) {
        if (ec || self->finished_) return;
        const auto now = std::chrono::steady_clock::now();
        if (now - self->last_activity_ >= idle) self->note_kernel_progress(now);
        if (now - self->last_activity_ < idle) {
            self->watch_idle();
            return;
        }
        self->finish(ConnectionResult::idle_timeout,
                     fmt::format("no data either way for {} ms", idle.count()));
    });
}

// Counts as activity what the kernel moved that the relay did not see: bytes it wrote that a slow
// peer acknowledged since the last look (tcp_progress.h).
void ForwardSession::note_kernel_progress(std::chrono::steady_clock::time_point now) {
    for (Pipe* pipe : {&upstream_, &downstream_}) {
        const auto acked = tcp_acked_since(pipe->to->fd.get(), pipe->acked, now);
        if (acked && *acked > last_activity_) last_activity_ = *acked;
    }
}

void ForwardSession::finish(ConnectionResult result, std::string why) {
    if (finished_) return;
    finished_ = true;
    trace_.end(result, std::move(why));
    timer_.cancel();
    if (client_.fd) worker_.loop().close_in_batch(client_.fd.release());
    if (backend_.fd) worker_.loop().close_in_batch(backend_.fd.release());
    upstream_.buffer.release();
    downstream_.buffer.release();
    // Last: the loop may let this session go once the current batch of events is done.
    worker_.loop().release(adopted_);
}

}  // namespace snibind::proxy
