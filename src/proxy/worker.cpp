#include "proxy/worker.h"

#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include "net/accept_backoff.h"
#include "net/asio_endpoint.h"
#include "proxy/client_connection.h"

namespace snibind::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

// A listening socket on the worker's EventLoop (level-triggered): each event accepts a batch with
// accept4(2), which makes the sockets non-blocking as it creates them.
struct Worker::Acceptor final : EventHandler {
    Acceptor(Worker& worker, bool accept_proxy) : worker(worker), accept_proxy(accept_proxy) {}
    void on_events(std::uint32_t) override { worker.accept(*this); }
    Worker& worker;
    SocketFd fd;
    bool accept_proxy;
    bool v6 = false;
    std::string name;  // the configured address, for messages
    // The bound address: every connection's local address, unless it is a wildcard.
    std::optional<Endpoint> local;
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
    loop_.reset();
    io_.reset();
}

namespace {

error_code set_int_option(asio::ip::tcp::acceptor& acceptor, int level, int name, int value) {
    if (::setsockopt(acceptor.native_handle(), level, name, &value, sizeof value) != 0)
        return error_code(errno, boost::system::system_category());
    return {};
}

error_code set_reuseport(asio::ip::tcp::acceptor& acceptor) {
    return set_int_option(acceptor, SOL_SOCKET, SO_REUSEPORT, 1);
}

// Accepts taken per listener event: a burst is accepted without a round through epoll per
// connection, and one listener cannot starve the connections already open.
constexpr int kAcceptBatch = 32;

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
        auto a = std::make_unique<Acceptor>(*this, l.accept_proxy);
        a->name = l.endpoint.to_string();
        auto endpoint = net::to_asio(l.endpoint);
        a->v6 = endpoint.address().is_v6();
        // Opened, bound and checked with Asio (its errors name what failed), then released to
        // the EventLoop.
        asio::ip::tcp::acceptor acceptor(*io_);
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
        // The kernel completes the accept once the client has sent something (the PROXY header
        // or the hello: clients speak first here), so the first read finds the hello. A client
        // that sends nothing waits in the kernel, holding no descriptor and no slot of
        // max_connections, and is accepted after about a second (the first SYN-ACK
        // retransmission) if still there; its hello deadline starts then. HAProxy's
        // defer-accept, nginx's deferred.
        if (l.defer_accept) {
            ec = set_int_option(acceptor, IPPROTO_TCP, TCP_DEFER_ACCEPT, 1);
            check();
        }
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
        // accept4 loops until EAGAIN: the listener itself must not block.
        acceptor.non_blocking(true, ec);
        check();
        a->fd = SocketFd(acceptor.release(ec));
        check();
        acceptors_.push_back(std::move(a));
    }
    for (auto& a : acceptors_) {
        if (auto ec = loop_->watch_listener(a->fd.get(), *a))
            throw std::runtime_error(
                fmt::format("cannot listen on {}: epoll: {}", a->name, ec.message()));
    }
}

void Worker::accept(Acceptor& a) {
    for (int i = 0; i < kAcceptBatch && a.fd; ++i) {
        asio::ip::tcp::endpoint peer;  // filled by accept4 itself, which saves a getpeername
        socklen_t length = static_cast<socklen_t>(peer.capacity());
        SocketFd socket(::accept4(a.fd.get(), peer.data(), &length, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!socket) {
            const int error = errno;
            if (would_block(error)) return;
            if (net::accept_needs_backoff(error_code(error, boost::system::system_category()))) {
                pause(a, error);
                return;
            }
            // Otherwise the connection was lost before it was accepted (ECONNABORTED, a
            // firewall's EPERM, ...): the next one is unaffected.
            continue;
        }
        peer.resize(length);
        ++stats_.accepted;
        // Over the limit: refuse with a reset rather than queue without bound.
        if (limit_.open.fetch_add(1, std::memory_order_relaxed) >=
            limit_.max.load(std::memory_order_relaxed)) {
            limit_.open.fetch_sub(1, std::memory_order_relaxed);
            ++stats_.refused;
            socket.close_with_reset();
            continue;
        }
        ++live_;
        Endpoint dst;
        if (a.local) {
            dst = *a.local;
        } else {
            // A client gone already is found out by the first read.
            asio::ip::tcp::endpoint local;
            socklen_t local_length = static_cast<socklen_t>(local.capacity());
            if (::getsockname(socket.get(), local.data(), &local_length) == 0)
                local.resize(local_length);
            dst = net::to_endpoint(local);
        }
        std::make_shared<ClientConnection>(*this, std::move(socket), a.accept_proxy,
                                           net::to_endpoint(peer), dst)
            ->start();
    }
}

// Out of descriptors or kernel memory: the connection stays queued and the listener readable, so
// the listener leaves the loop until the back-off has passed (net/accept_backoff.h).
void Worker::pause(Acceptor& a, int error) {
    loop_->unwatch(a.fd.get());
    net::back_off_accept(error_code(error, boost::system::system_category()), io_->get_executor(),
                         a.name, [this, &a] {
                             if (a.fd) loop_->watch_listener(a.fd.get(), a);
                         });
}

stats::Stats Worker::stats_snapshot() const {
    stats::Stats copy = stats_;
    copy.open = live_;
    return copy;
}

void Worker::connection_ended(const ConnectionLog& entry) {
    stats_.count_end(entry.result, entry.action);
    log_.write(entry);
    connection_closed();
}

void Worker::connection_closed() {
    --live_;
    limit_.open.fetch_sub(1, std::memory_order_relaxed);
    if (draining_ && live_ == 0) run_out();
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
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // Under ASan or TSan the sanitizer's allocator serves every malloc and glibc's arenas were
    // never set up: two workers trimming them at once for the first time crashed in glibc
    // (mtrim, a null arena), so there is nothing to give back and nothing is called.
    malloc_trim(0);
#endif
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
        for (auto& a : acceptors_) a->fd.close();
        if (live_ == 0) run_out();
    });
}

// Drained and no connection left: nothing keeps the io_context running, and the thread ends.
void Worker::run_out() {
    work_.reset();
    loop_->stop_waiting();
}

void Worker::stop() {
    io_->stop();
}

}  // namespace snibind::proxy
