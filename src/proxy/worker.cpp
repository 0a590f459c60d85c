#include "proxy/worker.h"

#include <malloc.h>

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include "net/accept_backoff.h"
#include "net/asio_endpoint.h"
#include "proxy/client_connection.h"
#include "proxy/socket_state.h"

namespace snibind::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

struct Worker::Acceptor {
    Acceptor(asio::io_context& io, bool accept_proxy) : acceptor(io), accept_proxy(accept_proxy) {}
    asio::ip::tcp::acceptor acceptor;
    bool accept_proxy;
    std::string name;  // the configured address, for messages
    // The bound address: every connection's local address, unless it is a wildcard.
    std::optional<Endpoint> local;
    asio::ip::tcp::endpoint peer;  // filled by accept(2) itself, which saves a getpeername
};

Worker::Worker(AccessLog& log, std::shared_ptr<const Runtime> runtime, ConnectionLimit& limit)
    : log_(log),
      runtime_(std::move(runtime)),
      limit_(limit),
      work_(std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
          io_->get_executor())) {}

Worker::~Worker() {
    stop();
    join();
    work_.reset();
    acceptors_.clear();
    tick_.reset();
    backend_pool_.clear();
    io_.reset();
}

namespace {

error_code set_reuseport(asio::ip::tcp::acceptor& acceptor) {
    int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        return error_code(errno, boost::system::system_category());
    return {};
}

// Why `endpoint` cannot be listened on, for the operator.
std::runtime_error listen_error(const Endpoint& endpoint, const error_code& ec) {
    if (ec != asio::error::address_in_use)
        return std::runtime_error(
            fmt::format("cannot listen on {}: {}", endpoint.to_string(), ec.message()));
    std::string overlapping =
        endpoint.addr.is_unspecified()
            ? fmt::format("on any {} address with port {}", endpoint.addr.v6 ? "IPv6" : "IPv4",
                          endpoint.port)
            : fmt::format("on {}:{}", endpoint.addr.v6 ? "[::]" : "0.0.0.0", endpoint.port);
    return std::runtime_error(
        fmt::format("cannot listen on {}: the address is in use: another process listens on it "
                    "or {}; a second snibind serve cannot share it",
                    endpoint.to_string(), overlapping));
}

}  // namespace

void Worker::listen(bool first) {
    // Wildcards first: a wildcard's exclusive bind (below) would fail on this server's own
    // socket for an address it covers; bound after it, that one needs no check of its own.
    const auto& config = runtime_->config().listen;
    std::vector<const config::Listener*> order;
    for (const auto& l : config)
        if (l.endpoint.addr.is_unspecified()) order.push_back(&l);
    for (const auto& l : config)
        if (!l.endpoint.addr.is_unspecified()) order.push_back(&l);
    auto covered = [&](const Endpoint& e) {
        return std::any_of(config.begin(), config.end(), [&](const config::Listener& w) {
            return w.endpoint.addr.is_unspecified() && !e.addr.is_unspecified() &&
                   w.endpoint.addr.v6 == e.addr.v6 && w.endpoint.port == e.port;
        });
    };
    for (const config::Listener* listener : order) {
        const config::Listener& l = *listener;
        const bool exclusive = first && !covered(l.endpoint);
        auto a = std::make_unique<Acceptor>(*io_, l.accept_proxy);
        a->name = l.endpoint.to_string();
        auto endpoint = net::to_asio(l.endpoint);
        auto& acceptor = a->acceptor;
        error_code ec;
        auto check = [&] {
            if (ec) throw listen_error(l.endpoint, ec);
        };
        acceptor.open(endpoint.protocol(), ec);
        check();
        acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        check();
        if (endpoint.address().is_v6()) {
            acceptor.set_option(asio::ip::v6_only(true), ec);
            check();
        }
        // Accepted sockets inherit TCP_NODELAY: one setsockopt here, none per connection.
        acceptor.set_option(asio::ip::tcp::no_delay(true), ec);
        check();
        // Every worker binds the same address with SO_REUSEPORT and the kernel spreads
        // connections over them. SO_REUSEPORT would also let any other process of this user join
        // (a second `snibind serve` with the same listen: took half the connections), and let
        // this one join whatever listens there already. So the first worker binds without it:
        // its bind, or the listen() after it, fails when any socket listens on the address or on
        // one that overlaps it. It sets SO_REUSEPORT between the two, before listen() forms the
        // group the other workers join. A later server's first socket finds this one listening
        // and fails the same way; of two racing ones, one listen() fails.
        if (!exclusive) {
            ec = set_reuseport(acceptor);
            check();
        }
        acceptor.bind(endpoint, ec);
        check();
        if (exclusive) {
            ec = set_reuseport(acceptor);
            check();
        }
        acceptor.listen(asio::socket_base::max_listen_connections, ec);
        check();
        auto bound = acceptor.local_endpoint(ec);
        check();
        if (!bound.address().is_unspecified()) a->local = net::to_endpoint(bound);
        acceptors_.push_back(std::move(a));
    }
    for (auto& a : acceptors_) accept(*a);
}

void Worker::accept(Acceptor& a) {
    a.acceptor.async_accept(a.peer, [this, &a](const error_code& ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !a.acceptor.is_open()) return;
        if (ec && net::back_off_accept(ec, io_->get_executor(), a.name, [this, &a] {
                if (a.acceptor.is_open()) accept(a);
            }))
            return;  // out of descriptors: accepting again at once would spin
        if (!ec) {
            ++stats_.accepted;
            // Over the limit: refuse with a reset rather than queue without bound.
            if (limit_.open.fetch_add(1, std::memory_order_relaxed) >=
                limit_.max.load(std::memory_order_relaxed)) {
                limit_.open.fetch_sub(1, std::memory_order_relaxed);
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
                    dst = net::to_endpoint(socket.local_endpoint(ignored));
                }
                std::make_shared<ClientConnection>(*this, std::move(socket), a.accept_proxy,
                                                   net::to_endpoint(a.peer), dst)
                    ->start();
            }
        }
        accept(a);
    });
}

stats::Stats Worker::stats_snapshot() const {
    stats::Stats copy = stats_;
    copy.open = live_;
    return copy;
}

void Worker::connection_ended(const ConnectionLog& entry) {
    stats_.count_end(entry.result, entry.action);
    if (!entry.record.empty()) ++stats_.record_hits[entry.record];
    log_.write(entry);
    connection_closed();
}

void Worker::connection_closed() {
    --live_;
    limit_.open.fetch_sub(1, std::memory_order_relaxed);
    if (draining_ && live_ == 0) work_.reset();
}

void Worker::start() {
    tick();
    thread_ = std::thread([this] { io_->run(); });
}

void Worker::tick() {
    tick_->expires_after(std::chrono::seconds(1));
    tick_->async_wait([this](const error_code& ec) {
        if (ec || draining_) return;
        backend_pool_.sweep(runtime_.get(), BackendPool::Clock::now());
        give_back_heap();
        tick();
    });
}

// The server keeps freed heap (M_TRIM_THRESHOLD, server.cpp) so that waves of handshakes do not
// fault pages in again and again; but after a burst of connections that then sit idle, that heap
// (some 150 KB per handshake that was in flight) would stay resident for good. So after a second
// with no new connection on this worker, once per quiet spell, the heap goes back to the kernel:
// an idle terminated connection then costs what it holds, not the burst it came in with.
void Worker::give_back_heap() {
    if (stats_.accepted != accepted_at_last_tick_) {
        accepted_at_last_tick_ = stats_.accepted;
        heap_given_back_ = false;
        return;
    }
    if (heap_given_back_) return;
    malloc_trim(0);
    heap_given_back_ = true;
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
        backend_pool_.clear();
        error_code ignored;
        for (auto& a : acceptors_) a->acceptor.close(ignored);
        if (live_ == 0) work_.reset();
    });
}

void Worker::stop() {
    io_->stop();
}

}  // namespace snibind::proxy
