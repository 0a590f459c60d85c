#include "proxy/worker.h"

#include <optional>

#include <fmt/format.h>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include "proxy/asio_endpoint.h"
#include "proxy/client_connection.h"
#include "proxy/socket_state.h"

namespace snibind::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

struct Worker::Acceptor {
    Acceptor(asio::io_context& io, bool accept_proxy) : acceptor(io), accept_proxy(accept_proxy) {}
    asio::ip::tcp::acceptor acceptor;
    bool accept_proxy;
    // The bound address: every connection's local address, unless it is a wildcard.
    std::optional<Endpoint> local;
    asio::ip::tcp::endpoint peer;  // filled by accept(2) itself, which saves a getpeername
};

Worker::Worker(BindingTable& table, AccessLog& log, std::shared_ptr<const Runtime> runtime,
               std::size_t max_connections)
    : table_(table),
      log_(log),
      runtime_(std::move(runtime)),
      max_connections_(max_connections),
      work_(std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
          io_->get_executor())) {}

Worker::~Worker() {
    stop();
    join();
    work_.reset();
    acceptors_.clear();
    tick_.reset();
    io_.reset();
}

void Worker::listen() {
    for (const config::Listener& l : runtime_->config.listen) {
        auto a = std::make_unique<Acceptor>(*io_, l.accept_proxy);
        auto endpoint = to_asio(l.endpoint);
        try {
            a->acceptor.open(endpoint.protocol());
            a->acceptor.set_option(asio::socket_base::reuse_address(true));
            // Every worker binds the same address; the kernel spreads connections over them.
            int one = 1;
            if (::setsockopt(a->acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one,
                             sizeof one) != 0)
                throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
            if (endpoint.address().is_v6()) a->acceptor.set_option(asio::ip::v6_only(true));
            // Accepted sockets inherit TCP_NODELAY: one setsockopt here, none per connection.
            a->acceptor.set_option(asio::ip::tcp::no_delay(true));
            a->acceptor.bind(endpoint);
            a->acceptor.listen(asio::socket_base::max_listen_connections);
            auto bound = a->acceptor.local_endpoint();
            if (!bound.address().is_unspecified()) a->local = to_endpoint(bound);
        } catch (const std::exception& e) {
            throw std::runtime_error(
                fmt::format("cannot listen on {}: {}", l.endpoint.to_string(), e.what()));
        }
        acceptors_.push_back(std::move(a));
    }
    for (auto& a : acceptors_) accept(*a);
}

void Worker::accept(Acceptor& a) {
    a.acceptor.async_accept(a.peer, [this, &a](const error_code& ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !a.acceptor.is_open()) return;
        if (!ec) {
            ++stats_.accepted;
            if (live_ >= max_connections_) {
                // Over the limit: refuse with a reset rather than queue without bound.
                ++stats_.refused;
                error_code ignored;
                socket.set_option(asio::socket_base::linger(true, 0), ignored);
                socket.close(ignored);
            } else {
                ++live_;
                SocketState::mark_not_shared(socket);
                Endpoint dst;
                if (a.local) {
                    dst = *a.local;
                } else {
                    error_code ignored;  // a client gone already is found out by the first read
                    dst = to_endpoint(socket.local_endpoint(ignored));
                }
                std::make_shared<ClientConnection>(*this, std::move(socket), a.accept_proxy,
                                                   to_endpoint(a.peer), dst)
                    ->start();
            }
        }
        accept(a);
    });
}

void Worker::connection_ended(const ConnectionLog& entry) {
    stats_.count_end(entry.result, entry.action);
    if (!entry.record.empty()) ++stats_.record_hits[entry.record];
    log_.write(entry);
    connection_closed();
}

void Worker::connection_closed() {
    --live_;
    if (draining_ && live_ == 0) work_.reset();
}

void Worker::start() {
    tick();
    thread_ = std::thread([this] { io_->run(); });
}

void Worker::tick() {
    tick_->expires_after(std::chrono::seconds(1));
    tick_->async_wait([this](const error_code& ec) {
        if (!ec && !draining_) tick();
    });
}

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

void Worker::set_runtime(std::shared_ptr<const Runtime> runtime) {
    asio::post(*io_,
               [this, runtime = std::move(runtime)]() mutable { runtime_ = std::move(runtime); });
}

void Worker::drain() {
    asio::post(*io_, [this] {
        draining_ = true;
        tick_->cancel();  // a pending timer would keep the io_context, and the thread, alive
        error_code ignored;
        for (auto& a : acceptors_) a->acceptor.close(ignored);
        if (live_ == 0) work_.reset();
    });
}

void Worker::stop() {
    io_->stop();
}

}  // namespace snibind::proxy
