#include "proxy/forward_session.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>
#include <boost/asio/write.hpp>

#include "net/asio_endpoint.h"
#include "proxy/socket_state.h"
#include "proxy/tcp_progress.h"

namespace snibind::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

ForwardSession::ForwardSession(Worker& worker, asio::ip::tcp::socket client,
                               std::vector<std::uint8_t> received, std::size_t size,
                               std::size_t hello_offset, ConnectionTrace trace,
                               std::shared_ptr<const Runtime> runtime,
                               const config::RecordEntry& entry)
    : worker_(worker),
      client_(std::move(client)),
      backend_(worker.io()),
      timer_(worker.io()),
      runtime_(std::move(runtime)),
      entry_(entry),
      trace_(std::move(trace)),
      received_(std::move(received)),
      replay_from_(hello_offset),
      replay_to_(size),
      upstream_{&client_, &backend_, {}, false, &trace_.log.bytes_in, 0},
      downstream_{&backend_, &client_, {}, false, &trace_.log.bytes_out, 0} {
    trace_.log.backend = entry_.backend->to_string();
}

void ForwardSession::start() {
    connect_started_ = std::chrono::steady_clock::now();
    const auto endpoint = net::to_asio(*entry_.backend);
    error_code ec;
    SocketState::open_non_blocking(backend_, endpoint.protocol(), ec);
    if (!ec && ::connect(backend_.native_handle(), endpoint.data(), endpoint.size()) != 0 &&
        errno != EINPROGRESS)
        ec.assign(errno, asio::error::get_system_category());
    if (ec) {
        on_connect(ec);
        return;
    }
    if (entry_.proxy_protocol) {
        proxy_header_ =
            write_proxy_header(*entry_.proxy_protocol, trace_.log.client, trace_.log.dst);
    }
    // A backend on this host has completed the TCP handshake by the time connect() returns, so
    // the replay is sent at once: no wait for writability, no SO_ERROR query, no connect timer.
    // Still connecting, the socket refuses with EAGAIN and the connection is awaited as usual.
    const auto header = proxy_header_.span();
    std::array<iovec, 2> iov{iovec{const_cast<std::uint8_t*>(header.data()), header.size()},
                             iovec{received_.data() + replay_from_, replay_to_ - replay_from_}};
    msghdr message{};
    message.msg_iov = iov.data();
    message.msg_iovlen = iov.size();
    ssize_t sent = ::sendmsg(backend_.native_handle(), &message, MSG_NOSIGNAL);
    if (sent >= 0) {
        connected();
        replay(static_cast<std::size_t>(sent));
        return;
    }
    if (const int error = errno; error != EAGAIN && error != EWOULDBLOCK) {
        ec.assign(error, asio::error::get_system_category());
        if (error == EPIPE || error == ECONNRESET) {
            // Connected, then reset straight away: the write is what failed.
            connected();
            finish(ConnectionResult::backend_error, fmt::format("write: {}", ec.message()));
        } else {
            on_connect(ec);  // refused, unreachable: the connection never came up
        }
        return;
    }
    // Connecting shares the hello deadline: a dead backend must not hold the client forever.
    timer_.expires_after(runtime_->config().limits.connect_timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec || self->connected_) return;
        self->finish(ConnectionResult::backend_timeout, "no connection to the backend in time");
    });
    backend_.async_wait(asio::socket_base::wait_write,
                        [self = shared_from_this()](const error_code& ec) {
                            error_code result = ec;
                            if (!ec) {
                                int error = 0;
                                socklen_t length = sizeof error;
                                if (::getsockopt(self->backend_.native_handle(), SOL_SOCKET,
                                                 SO_ERROR, &error, &length) != 0)
                                    error = errno;
                                if (error) result.assign(error, asio::error::get_system_category());
                            }
                            self->on_connect(result);
                        });
}

void ForwardSession::connected() {
    connected_ = true;
    worker_.stats().backend_connect_seconds.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_started_).count());
}

void ForwardSession::on_connect(const error_code& ec) {
    if (ec) {
        if (ec != asio::error::operation_aborted) {
            finish(ConnectionResult::backend_down,
                   fmt::format("connect to {}: {}", trace_.log.backend, ec.message()));
        }
        return;
    }
    timer_.cancel();
    connected();
    replay(0);
}

// Writes the PROXY header (if any), then exactly the bytes the client sent after its own header,
// from `sent` on (what an earlier write already took), then starts the relay.
void ForwardSession::replay(std::size_t sent) {
    const auto header = proxy_header_.span();
    const std::size_t skip_header = std::min(sent, header.size());
    const std::size_t skip_hello = sent - skip_header;
    std::array<asio::const_buffer, 2> rest{
        asio::buffer(header.data() + skip_header, header.size() - skip_header),
        asio::buffer(received_.data() + replay_from_ + skip_hello,
                     replay_to_ - replay_from_ - skip_hello)};
    if (asio::buffer_size(rest) == 0) {
        start_relay();
        return;
    }
    asio::async_write(backend_, rest,
                      [self = shared_from_this()](const error_code& ec, std::size_t) {
                          if (ec) {
                              self->finish(ConnectionResult::backend_error,
                                           fmt::format("write: {}", ec.message()));
                              return;
                          }
                          self->start_relay();
                      });
}

void ForwardSession::start_relay() {
    received_ = {};  // the replay is done: an idle connection keeps no bytes
    last_activity_ = std::chrono::steady_clock::now();
    watch_idle();
    relay(upstream_);
    relay(downstream_);
}

// Waits until `pipe.from` has something to say (bytes, EOF or an error) without holding a buffer.
void ForwardSession::relay(Pipe& pipe) {
    pipe.from->async_wait(asio::socket_base::wait_read,
                          [self = shared_from_this(), &pipe](const error_code& ec) {
                              if (ec) {
                                  if (ec != asio::error::operation_aborted)
                                      self->read_failed(pipe, ec);
                                  return;
                              }
                              self->read(pipe);
                          });
}

// Moves what `pipe.from` has now to `pipe.to`, in a borrowed buffer that goes back to the pool
// once the write is done. Nothing more is read until then (back-pressure).
void ForwardSession::read(Pipe& pipe) {
    if (!pipe.buffer) pipe.buffer = worker_.buffers().get();
    // Both sockets are non-blocking (Asio made the client's so; the backend's was opened so).
    const ssize_t n =
        ::recv(pipe.from->native_handle(), pipe.buffer.data(), pipe.buffer.size(), MSG_DONTWAIT);
    if (n <= 0) {
        const int error = n < 0 ? errno : 0;
        pipe.buffer.release();
        if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) {
            relay(pipe);  // woken for nothing after all
        } else if (error == 0) {
            pipe.done = true;
            if (upstream_.done && downstream_.done) {
                // Both ends have sent their EOF and nothing is left unread: close() sends
                // the same FIN a shutdown would, one system call sooner.
                finish(ConnectionResult::closed, {});
                return;
            }
            // Half-close: pass the EOF on; the other direction keeps flowing.
            error_code ignored;
            pipe.to->shutdown(asio::socket_base::shutdown_send, ignored);
        } else {
            read_failed(pipe, error_code(error, asio::error::get_system_category()));
        }
        return;
    }
    last_activity_ = std::chrono::steady_clock::now();
    const bool full = static_cast<std::size_t>(n) == pipe.buffer.size();
    asio::async_write(
        *pipe.to, asio::buffer(pipe.buffer.data(), static_cast<std::size_t>(n)),
        [self = shared_from_this(), &pipe, full](const error_code& ec, std::size_t n) {
            *pipe.counter += n;
            if (ec) {
                if (ec != asio::error::operation_aborted)
                    self->finish(ConnectionResult::write_error, ec.message());
                return;
            }
            self->last_activity_ = std::chrono::steady_clock::now();
            // A full buffer means more is likely waiting: read it at once, as
            // Asio's speculative read would. Otherwise wait without the buffer.
            if (full) {
                self->read(pipe);
            } else {
                pipe.buffer.release();
                self->relay(pipe);
            }
        });
}

void ForwardSession::read_failed(Pipe& pipe, const error_code& ec) {
    const bool from_client = pipe.from == &client_;
    finish(from_client ? ConnectionResult::client_reset : ConnectionResult::backend_reset,
           fmt::format("{}: {}", from_client ? "client" : "backend", ec.message()));
}

void ForwardSession::watch_idle() {
    auto idle = runtime_->config().limits.idle_timeout;
    timer_.expires_at(last_activity_ + idle);
    timer_.async_wait([self = shared_from_this(), idle](const error_code& ec) {
        if (ec) return;
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
        const auto acked = tcp_acked_since(pipe->to->native_handle(), pipe->acked, now);
        if (acked && *acked > last_activity_) last_activity_ = *acked;
    }
}

void ForwardSession::finish(ConnectionResult result, std::string why) {
    trace_.end(result, std::move(why));
    error_code ignored;
    timer_.cancel();
    client_.close(ignored);
    backend_.close(ignored);
}

}  // namespace snibind::proxy
