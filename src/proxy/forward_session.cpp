#include "proxy/forward_session.h"

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include "proxy/asio_endpoint.h"

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
      upstream_{&client_, &backend_, {}, false, &trace_.log.bytes_in},
      downstream_{&backend_, &client_, {}, false, &trace_.log.bytes_out} {
    trace_.log.backend = entry_.backend->to_string();
}

void ForwardSession::start() {
    // Connecting shares the hello deadline: a dead backend must not hold the client forever.
    timer_.expires_after(runtime_->config.limits.hello_timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (ec || self->connected_) return;
        self->finish("backend_timeout", "no connection to the backend in time");
    });
    connect_started_ = std::chrono::steady_clock::now();
    backend_.async_connect(
        to_asio(*entry_.backend),
        [self = shared_from_this()](const error_code& ec) { self->on_connect(ec); });
}

void ForwardSession::on_connect(const error_code& ec) {
    if (ec) {
        if (ec != asio::error::operation_aborted) {
            finish("backend_down",
                   fmt::format("connect to {}: {}", trace_.log.backend, ec.message()));
        }
        return;
    }
    connected_ = true;
    timer_.cancel();
    worker_.stats().backend_connect_seconds.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_started_).count());
    if (entry_.proxy_protocol) {
        proxy_header_ =
            write_proxy_header(*entry_.proxy_protocol, trace_.log.client, trace_.log.dst);
    }
    // The PROXY header (if any), then exactly the bytes the client sent after its own header.
    std::array<asio::const_buffer, 2> first{
        asio::buffer(proxy_header_.span().data(), proxy_header_.span().size()),
        asio::buffer(received_.data() + replay_from_, replay_to_ - replay_from_)};
    asio::async_write(
        backend_, first, [self = shared_from_this()](const error_code& ec, std::size_t) {
            if (ec) {
                self->finish("backend_error", fmt::format("write: {}", ec.message()));
                return;
            }
            self->received_ = {};  // the replay is done; the relay uses the pipes' buffers
            self->last_activity_ = std::chrono::steady_clock::now();
            self->watch_idle();
            self->relay(self->upstream_);
            self->relay(self->downstream_);
        });
}

void ForwardSession::relay(Pipe& pipe) {
    pipe.from->async_read_some(asio::buffer(pipe.buffer), [self = shared_from_this(), &pipe](
                                                              const error_code& ec, std::size_t n) {
        if (ec) {
            if (ec == asio::error::eof) {
                // Half-close: pass the EOF on; the other direction keeps flowing.
                pipe.done = true;
                error_code ignored;
                pipe.to->shutdown(asio::socket_base::shutdown_send, ignored);
                if (self->upstream_.done && self->downstream_.done) self->finish("closed", {});
            } else if (ec != asio::error::operation_aborted) {
                bool from_client = pipe.from == &self->client_;
                self->finish(
                    from_client ? "client_reset" : "backend_reset",
                    fmt::format("{}: {}", from_client ? "client" : "backend", ec.message()));
            }
            return;
        }
        self->last_activity_ = std::chrono::steady_clock::now();
        asio::async_write(*pipe.to, asio::buffer(pipe.buffer.data(), n),
                          [self, &pipe](const error_code& ec, std::size_t n) {
                              *pipe.counter += n;
                              if (ec) {
                                  if (ec != asio::error::operation_aborted)
                                      self->finish("write_error", ec.message());
                                  return;
                              }
                              self->relay(pipe);
                          });
    });
}

void ForwardSession::watch_idle() {
    auto idle = runtime_->config.limits.idle_timeout;
    timer_.expires_at(last_activity_ + idle);
    timer_.async_wait([self = shared_from_this(), idle](const error_code& ec) {
        if (ec) return;
        if (std::chrono::steady_clock::now() - self->last_activity_ >= idle) {
            self->finish("idle_timeout", fmt::format("no data either way for {} ms", idle.count()));
            return;
        }
        self->watch_idle();
    });
}

void ForwardSession::finish(std::string_view result, std::string why) {
    trace_.end(result, std::move(why));
    error_code ignored;
    timer_.cancel();
    client_.close(ignored);
    backend_.close(ignored);
}

}  // namespace snibind::proxy
