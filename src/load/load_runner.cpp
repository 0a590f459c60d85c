#include "load/load_runner.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/format.h>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "http/http_message.h"
#include "load/expectations.h"
#include "load/hello_template.h"
#include "load/sampling.h"
#include "load/server_cpu.h"
#include "load/worker_plan.h"
#include "net/asio_endpoint.h"
#include "tlsstack/tls_stack.h"
#include "transport/tls_stream.h"

namespace snibind::load {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

using tlsstack::SslCtxPtr;

std::uint64_t micros(Clock::duration d) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// The error kinds of the report, named for what the server did.
std::string socket_error_kind(const error_code& ec) {
    if (ec == asio::error::connection_refused) return "refused";
    if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) return "reset";
    if (ec == asio::error::timed_out) return "timeout";
    if (ec == asio::error::eof) return "closed";
    return ec.message();
}

// Everything the threads share: read-only during the run apart from the atomics.
struct Plan {
    Plan(const LoadOptions& o, const ExpectationTable* e)
        : options(o), expect(e), sampler(o.names.size(), o.zipf) {}

    const LoadOptions& options;
    const ExpectationTable* expect = nullptr;
    std::vector<tcp::endpoint> endpoints;
    std::vector<std::string> endpoint_hosts;  // the Host header when there is no SNI
    const HelloTemplate* hello = nullptr;
    NameSampler sampler;
    SSL_CTX* ssl_ctx = nullptr;
    Clock::time_point start, measure_start;
    std::optional<Clock::time_point> measure_end;
    // When a stop command ended the run early (Ctrl-C): nothing that ends later is counted.
    std::atomic<Clock::rep> stopped_at{Clock::time_point::max().time_since_epoch().count()};
    Clock::time_point stop_time() const {
        return Clock::time_point(Clock::duration(stopped_at.load(std::memory_order_acquire)));
    }
    std::atomic<std::uint64_t> tickets{0};  // measured connections started (--connections)
    std::atomic<std::uint64_t> paced{0};    // connections started (--rate)

    std::size_t no_sni_index() const { return options.names.size(); }
    const std::string* name(std::size_t index) const {
        return index < options.names.size() ? &options.names[index] : nullptr;
    }
};

// One connection from start to end.
struct Attempt {
    std::size_t name = 0;  // Plan::no_sni_index() for none
    std::size_t destination = 0;
    bool measured = false;
    Clock::time_point started;
    // --rate: when the schedule wanted it to start. Latency counts from here, so a server that
    // stalls is charged for the connections it kept from starting on time (coordinated
    // omission, as wrk2 corrects it); without a rate, the same as `started`.
    Clock::time_point due;
    std::optional<Clock::duration> connect_latency;
    std::string error;  // the first error, as a report kind; empty: none
    bool replied = false, closed_without_reply = false;
    bool handshake = false, resumed = false;
    bool held = false;  // --hold: left open until the run ends
    std::optional<Thumbprint> served;
};

struct ThreadStats {
    std::uint64_t connections = 0, completed = 0, errors = 0;
    std::uint64_t replied = 0, closed_without_reply = 0, handshakes = 0, resumed = 0, requests = 0;
    std::uint64_t expect_checked = 0, expect_mismatches = 0;
    std::map<std::string, std::uint64_t> errors_by_kind;
    std::map<int, std::uint64_t> http_status;
    std::unordered_map<std::size_t, std::vector<std::pair<Thumbprint, std::uint64_t>>> served;
    LatencyHistogram connect_latency, request_latency;
    Clock::time_point last_completion{};
};

class Loop;

// One connection at a time, over and over: its socket, timers and reusable buffers.
struct Slot {
    explicit Slot(asio::io_context& io, Loop& w) : socket(io), watchdog(io), pacer(io), loop(w) {}
    tcp::socket socket;  // before TLS begins; then the stream holds it
    std::optional<transport::TlsStream> tls;
    asio::steady_timer watchdog, pacer;
    Loop& loop;
    std::uint64_t generation = 0;  // tells a stale watchdog from the current one
    bool timed_out = false;
    const char* alert = nullptr;  // the last alert the server sent (info callback)
    std::uint64_t session_key = 0;
    bool got_session = false;  // the server's session (ticket) of this connection arrived
    Bytes hello;
    std::vector<std::size_t> writes;
    std::array<char, 16 * 1024> buffer;
    std::vector<std::pair<int, Clock::duration>> responses;  // status, latency

    // The connection's socket, wherever it is now.
    tcp::socket& current_socket() { return tls ? tls->next_layer() : socket; }
    // Ends the connection: the TLS object first (its BIO names the descriptor), then the socket.
    void close() {
        error_code ignored;
        current_socket().close(ignored);
        tls.reset();
    }
};

struct TlsStatus {
    enum State { ok, closed, failed } state = ok;
    std::string error;
};

class Loop {
  public:
    // `stream` is unique over every thread of every worker process of the run: it picks this
    // thread's random stream for the name draw and where its destinations start.
    Loop(Plan& plan, std::uint64_t stream, std::size_t slots)
        : plan_(plan),
          rng_(make_rng(plan.options.seed, stream)),
          next_destination_(stream),
          end_timer_(io_) {
        for (std::size_t i = 0; i < slots; ++i)
            slots_.push_back(std::make_unique<Slot>(io_, *this));
    }
    ~Loop() {
        for (auto& [key, kept] : sessions_)
            for (SSL_SESSION* session : kept) SSL_SESSION_free(session);
    }
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    void run();
    const ThreadStats& stats() const { return stats_; }
    std::uint64_t live_connections() const {
        return live_connections_.load(std::memory_order_relaxed);
    }
    std::uint64_t live_errors() const { return live_errors_.load(std::memory_order_relaxed); }
    std::uint64_t held() const { return held_.load(std::memory_order_relaxed); }
    // Ends the run from another thread (--hold: the supervisor, once it has read the server).
    void stop() {
        asio::post(io_, [this] { stop_all(); });
    }

    // Keeps a session the server offered (a TLS 1.3 ticket, or a TLS 1.2 session id or ticket).
    void store_session(std::uint64_t key, SSL_SESSION* session) {
        std::vector<SSL_SESSION*>& kept = sessions_[key];
        if (kept.size() == kMaxSessionsPerKey) {
            SSL_SESSION_free(kept.front());
            kept.erase(kept.begin());
        }
        kept.push_back(session);
    }
    // Offers the newest kept session to `ssl`. RFC 8446 C.4: a TLS 1.3 ticket is used once (and
    // a server with stateful tickets, as snibind without enablesessionticket, accepts it only
    // once), so it is handed over; a TLS 1.2 session stays for the next connection.
    void offer_session(std::uint64_t key, SSL* ssl) {
        auto it = sessions_.find(key);
        if (it == sessions_.end() || it->second.empty()) return;
        SSL_SESSION* session = it->second.back();
        SSL_set_session(ssl, session);
        if (SSL_SESSION_get_protocol_version(session) == TLS1_3_VERSION) {
            SSL_SESSION_free(session);
            it->second.pop_back();
        }
    }

  private:
    asio::awaitable<void> slot_loop(Slot& s);
    asio::awaitable<bool> next_start(Slot& s, Attempt& a);
    asio::awaitable<void> connection(Slot& s, Attempt& a);
    asio::awaitable<std::string> hello_exchange(Slot& s, Attempt& a);
    asio::awaitable<std::string> tls_exchange(Slot& s, Attempt& a);
    asio::awaitable<std::string> requests(Slot& s, Attempt& a);
    asio::awaitable<std::string> close_tls(Slot& s);
    asio::awaitable<std::string> await_ticket(Slot& s);
    asio::awaitable<void> hold(Slot& s);
    TlsStatus tls_status(Slot& s, error_code ec) const;
    error_code settle(Slot& s, error_code ec) const;
    void stop_all();
    void record(Slot& s, Attempt& a);

    Plan& plan_;
    asio::io_context io_{1};
    Rng rng_;
    std::uint64_t next_destination_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::size_t running_slots_ = 0;
    asio::steady_timer end_timer_;
    bool stopping_ = false;
    ThreadStats stats_;
    std::atomic<std::uint64_t> live_connections_{0}, live_errors_{0}, held_{0};
    static constexpr std::size_t kMaxSessionsPerKey = 16;
    std::unordered_map<std::uint64_t, std::vector<SSL_SESSION*>> sessions_;  // oldest first
};

// OpenSSL callbacks: SSL app data is the Slot.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* s = static_cast<Slot*>(SSL_get_app_data(ssl));
    s->loop.store_session(s->session_key, session);
    s->got_session = true;
    return 1;  // the loop keeps the reference
}

void on_info(const SSL* ssl, int where, int value) {
    if ((where & SSL_CB_READ_ALERT) == 0 || (value & 0xff) == SSL_AD_CLOSE_NOTIFY) return;
    if (auto* s = static_cast<Slot*>(SSL_get_app_data(ssl)))
        s->alert = SSL_alert_desc_string_long(value);
}

void Loop::run() {
    running_slots_ = slots_.size();
    for (auto& slot : slots_)
        asio::co_spawn(io_, slot_loop(*slot), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);  // out of io_.run(), to the thread's catch
        });
    // With --hold the supervisor ends the run, after reading the server's memory.
    if (plan_.measure_end && !plan_.options.hold) {
        end_timer_.expires_at(*plan_.measure_end);
        end_timer_.async_wait([this](error_code ec) {
            if (!ec) stop_all();
        });
    }
    io_.run();
}

// The measured interval is over: connections still open end now and are not counted.
void Loop::stop_all() {
    stopping_ = true;
    for (auto& s : slots_) {
        error_code ignored;
        s->current_socket().cancel(ignored);
        s->pacer.cancel();
        s->watchdog.cancel();
    }
}

error_code Loop::settle(Slot& s, error_code ec) const {
    if (stopping_) return asio::error::operation_aborted;
    if (s.timed_out) return asio::error::timed_out;
    return ec;
}

asio::awaitable<void> Loop::slot_loop(Slot& s) {
    Attempt a;
    while (co_await next_start(s, a)) {
        co_await connection(s, a);
        record(s, a);
        if (a.held) co_await hold(s);
    }
    if (--running_slots_ == 0) end_timer_.cancel();  // nothing left: let io_.run() return
}

asio::awaitable<bool> Loop::next_start(Slot& s, Attempt& a) {
    const LoadOptions& o = plan_.options;
    if (stopping_) co_return false;
    std::optional<Clock::time_point> due;
    if (o.rate > 0) {
        const auto at = plan_.start + worker_pacing_offset(plan_.paced.fetch_add(1), o.worker_index,
                                                           o.worker_count, o.rate);
        due = at;
        if (at > Clock::now()) {
            s.pacer.expires_at(at);
            co_await s.pacer.async_wait(kAwait);
            if (stopping_) co_return false;
        }
    }
    const auto now = Clock::now();
    if (plan_.measure_end && now >= *plan_.measure_end) co_return false;
    a = Attempt{};
    a.due = due.value_or(now);
    a.measured = now >= plan_.measure_start;
    if (o.connections && a.measured && plan_.tickets.fetch_add(1) >= *o.connections)
        co_return false;
    if (o.names.empty() || (o.no_sni > 0 && uniform01(rng_) < o.no_sni))
        a.name = plan_.no_sni_index();
    else
        a.name = plan_.sampler.sample(rng_);
    a.destination = next_destination_++ % plan_.endpoints.size();
    co_return true;
}

asio::awaitable<void> Loop::connection(Slot& s, Attempt& a) {
    s.timed_out = false;
    s.alert = nullptr;
    s.got_session = false;
    s.responses.clear();
    const std::uint64_t generation = ++s.generation;
    s.watchdog.expires_after(plan_.options.timeout);
    s.watchdog.async_wait([&s, generation](error_code ec) {
        if (ec || generation != s.generation) return;
        s.timed_out = true;
        error_code ignored;
        s.current_socket().cancel(ignored);  // not close(): OpenSSL may still hold it
    });

    a.started = Clock::now();
    if (plan_.options.rate <= 0) a.due = a.started;
    const tcp::endpoint& endpoint = plan_.endpoints[a.destination];
    error_code ec;
    s.socket.open(endpoint.protocol(), ec);
    if (!ec) s.socket.set_option(tcp::no_delay(true), ec);
    if (!ec) {
        auto [connected] = co_await s.socket.async_connect(endpoint, kAwait);
        ec = settle(s, connected);
    }
    if (ec) {
        a.error = socket_error_kind(ec);
    } else if (plan_.options.mode == Mode::hello) {
        a.error = co_await hello_exchange(s, a);
    } else {
        a.error = co_await tls_exchange(s, a);
    }

    ++s.generation;
    s.watchdog.cancel();
    a.held = plan_.options.hold && a.error.empty() && !stopping_;
    if (a.held) co_return;
    s.close();
}

// An idle connection, as a browser's spare one: nothing is sent or read until stop_all().
asio::awaitable<void> Loop::hold(Slot& s) {
    held_.fetch_add(1, std::memory_order_relaxed);
    s.pacer.expires_at(Clock::time_point::max());
    co_await s.pacer.async_wait(kAwait);
    held_.fetch_sub(1, std::memory_order_relaxed);
    s.close();
}

asio::awaitable<std::string> Loop::hello_exchange(Slot& s, Attempt& a) {
    const LoadOptions& o = plan_.options;
    const std::string* name = plan_.name(a.name);
    plan_.hello->build(name ? std::optional<std::string_view>(*name) : std::nullopt,
                       o.split_records, s.hello);
    s.writes = split_sizes(s.hello.size(), o.one_byte_writes ? s.hello.size() : o.split_writes);
    std::size_t at = 0;
    for (std::size_t n : s.writes) {
        auto [written, bytes] =
            co_await asio::async_write(s.socket, asio::buffer(s.hello.data() + at, n), kAwait);
        if (auto ec = settle(s, written)) co_return socket_error_kind(ec);
        at += n;
    }
    if (o.hold) {  // held connections wait for nothing; latency is until the hello is written
        a.connect_latency = Clock::now() - a.due;
        co_return std::string();
    }
    auto [read, bytes] = co_await s.socket.async_read_some(asio::buffer(s.buffer), kAwait);
    a.connect_latency = Clock::now() - a.due;
    const error_code ec = settle(s, read);
    if (ec == asio::error::eof) {
        a.closed_without_reply = true;
        co_return std::string();
    }
    if (ec) co_return socket_error_kind(ec);
    a.replied = true;
    // Read what has already arrived, so closing does not answer unread data with a reset.
    error_code drained;
    while (s.socket.available(drained) > 0 && !drained)
        s.socket.read_some(asio::buffer(s.buffer), drained);
    co_return std::string();
}

// What a TLS operation's outcome means for the report (transport/tls_stream.h's error codes).
TlsStatus Loop::tls_status(Slot& s, error_code ec) const {
    ec = settle(s, ec);
    if (!ec) return {};
    if (transport::closed_by_peer(ec)) return {TlsStatus::closed, "closed"};
    if (ec.category() == asio::error::get_ssl_category()) {
        if (s.alert) return {TlsStatus::failed, std::string("tls alert: ") + s.alert};
        const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
        return {TlsStatus::failed, std::string("tls error: ") + (reason ? reason : "unknown")};
    }
    return {TlsStatus::failed, socket_error_kind(ec)};
}

asio::awaitable<std::string> Loop::tls_exchange(Slot& s, Attempt& a) {
    const LoadOptions& o = plan_.options;
    // The same transport as the proxy's (one TLS code path): the socket moves into it.
    s.tls.emplace(std::move(s.socket), plan_.ssl_ctx, transport::TlsStream::Side::client);
    SSL* ssl = s.tls->native_handle();
    SSL_set_app_data(ssl, &s);
    if (const std::string* name = plan_.name(a.name)) SSL_set_tlsext_host_name(ssl, name->c_str());
    if (o.resumes()) {
        s.session_key = a.destination * (plan_.no_sni_index() + 1) + a.name;
        offer_session(s.session_key, ssl);
    }

    auto [handshake] = co_await s.tls->async_handshake(kAwait);
    if (TlsStatus st = tls_status(s, handshake); st.state != TlsStatus::ok) co_return st.error;
    a.connect_latency = Clock::now() - a.due;
    a.handshake = true;
    a.resumed = SSL_session_reused(ssl) == 1;
    if (X509* peer = SSL_get_peer_certificate(ssl)) {  // a reference of our own
        Thumbprint t;
        unsigned length = static_cast<unsigned>(t.bytes.size());
        if (X509_digest(peer, EVP_sha1(), t.bytes.data(), &length) == 1) a.served = t;
        X509_free(peer);
    }
    std::string error;
    if (o.mode == Mode::request) error = co_await requests(s, a);
    if (tlsstack::kBoringSsl && error.empty() && o.mode != Mode::request && o.resumes() &&
        !o.hold && SSL_version(ssl) == TLS1_3_VERSION)
        error = co_await await_ticket(s);
    if (error.empty() && !o.hold) error = co_await close_tls(s);
    co_return error;
}

asio::awaitable<std::string> Loop::requests(Slot& s, Attempt& a) {
    const LoadOptions& o = plan_.options;
    const std::string* name = plan_.name(a.name);
    const std::string& host = name ? *name : plan_.endpoint_hosts[a.destination];
    http::MessageParser parser(http::MessageParser::Kind::response);
    std::size_t begin = 0, end = 0;  // response bytes in s.buffer not yet parsed
    for (std::size_t i = 0; i < o.keepalive; ++i) {
        const bool last = i + 1 == o.keepalive;
        // The last request asks the server to close, as a client that is done would.
        const std::string request =
            fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: snibind-load\r\n{}\r\n", o.path,
                        host, last ? "Connection: close\r\n" : "");
        const auto sent_at = Clock::now();
        // async_write_some until all is sent, not asio::async_write: its composed handler claims
        // a copy constructor that a coroutine's handler cannot honour (TlsStream::wrap).
        for (std::size_t at = 0; at < request.size();) {
            auto [written, n] = co_await s.tls->async_write_some(
                asio::buffer(request.data() + at, request.size() - at), kAwait);
            if (TlsStatus st = tls_status(s, written); st.state != TlsStatus::ok)
                co_return st.error;
            at += n;
        }
        for (bool complete = false; !complete;) {
            if (begin == end) {
                auto [read, n] = co_await s.tls->async_read_some(asio::buffer(s.buffer), kAwait);
                TlsStatus st = tls_status(s, read);
                if (st.state == TlsStatus::failed) co_return st.error;
                if (st.state == TlsStatus::closed) {
                    if (parser.finish().event == http::MessageParser::Event::message_complete)
                        break;
                    co_return "closed";
                }
                begin = 0;
                end = n;
            }
            auto progress = parser.parse({s.buffer.data() + begin, end - begin});
            begin += progress.consumed;
            if (progress.event == http::MessageParser::Event::error)
                co_return "http error: " + std::string(parser.error());
            complete = progress.event == http::MessageParser::Event::message_complete;
        }
        s.responses.emplace_back(parser.head().status, Clock::now() - sent_at);
        const bool keep_alive = parser.head().keep_alive;
        parser.next();
        if (!last && !keep_alive) co_return "closed keep-alive";
    }
    co_return std::string();
}

// TLS 1.3 sends the session after the handshake, and BoringSSL drops a ticket that arrives once
// its own close_notify went out (OpenSSL keeps it, so its builds close at once). So on
// BoringSSL a client that wants to resume and has nothing to ask waits for its ticket before
// closing, as a browser that stays connected gets it; against a server that issues no TLS 1.3
// ticket that wait ends at --timeout. Unasked-for application data ends the wait too.
asio::awaitable<std::string> Loop::await_ticket(Slot& s) {
    s.tls->end_reads_when([&s] { return s.got_session; });
    auto [read, n] = co_await s.tls->async_read_some(asio::buffer(s.buffer), kAwait);
    s.tls->end_reads_when(nullptr);
    TlsStatus st = tls_status(s, read);
    co_return st.state == TlsStatus::failed ? st.error : std::string();
}

// Sends close_notify and reads the server's, then waits for the server to close the socket.
// Reading drains what the server sent after the handshake (TLS 1.3 session tickets, which
// on_new_session keeps in resume mode), so the close is an orderly FIN rather than a reset for
// unread data, and lets the server close first.
asio::awaitable<std::string> Loop::close_tls(Slot& s) {
    auto [shut] = co_await s.tls->async_shutdown(kAwait);
    TlsStatus st = tls_status(s, shut);
    for (error_code ec; st.state == TlsStatus::ok && !ec;) {
        auto [read, n] =
            co_await s.tls->next_layer().async_read_some(asio::buffer(s.buffer), kAwait);
        ec = read;
        if (ec && ec != asio::error::eof) st = tls_status(s, ec);
    }
    // A server that never closes is worth reporting; one that resets at the end is not.
    co_return st.state == TlsStatus::failed&& st.error == "timeout" ? st.error : std::string();
}

void Loop::record(Slot& s, Attempt& a) {
    const auto now = Clock::now();
    if (stopping_ || !a.measured || (plan_.measure_end && now > *plan_.measure_end) ||
        now > plan_.stop_time())
        return;
    ThreadStats& st = stats_;
    if (plan_.expect && a.served) {
        ++st.expect_checked;
        if (!plan_.expect->at(a.destination, a.name).accepts(*a.served)) {
            ++st.expect_mismatches;
            if (a.error.empty()) a.error = "unexpected certificate";
        }
    }
    ++st.connections;
    if (a.error.empty()) {
        ++st.completed;
    } else {
        ++st.errors;
        ++st.errors_by_kind[a.error];
        live_errors_.fetch_add(1, std::memory_order_relaxed);
    }
    if (a.connect_latency) st.connect_latency.record(micros(*a.connect_latency));
    st.replied += a.replied;
    st.closed_without_reply += a.closed_without_reply;
    st.handshakes += a.handshake;
    st.resumed += a.resumed;
    if (a.served) {
        auto& counts = st.served[a.name];
        auto it = std::find_if(counts.begin(), counts.end(),
                               [&](const auto& c) { return c.first == *a.served; });
        if (it == counts.end())
            counts.emplace_back(*a.served, 1);
        else
            ++it->second;
    }
    for (const auto& [status, latency] : s.responses) {
        ++st.requests;
        ++st.http_status[status];
        st.request_latency.record(micros(latency));
    }
    st.last_completion = now;
    live_connections_.fetch_add(1, std::memory_order_relaxed);
}

SslCtxPtr make_client_context(const LoadOptions& o, std::string& error) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        error = "cannot create an OpenSSL client context";
        return nullptr;
    }
    // A load generator measures the server; it does not judge its certificate (--expect does).
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    if (o.tls_version != TlsVersion::any) {
        const int v = o.tls_version == TlsVersion::tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
        SSL_CTX_set_min_proto_version(ctx.get(), v);
        SSL_CTX_set_max_proto_version(ctx.get(), v);
    }
    if (o.resumes()) {
        SSL_CTX_set_session_cache_mode(ctx.get(),
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx.get(), on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    }
    if (o.mode == Mode::request) {
        static const unsigned char kHttp11[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(ctx.get(), kHttp11, sizeof kHttp11 - 1);
    }
    SSL_CTX_set_info_callback(ctx.get(), on_info);
    // One read() for whatever has arrived rather than two per record (header, then body).
    SSL_CTX_set_read_ahead(ctx.get(), 1);
    return ctx;
}

// Waits for the event loops, reads this process's CPU clock at the edges of the measured
// interval, reports progress once a second and carries out a stop command.
class Supervisor {
  public:
    Supervisor(Plan& plan, std::vector<std::unique_ptr<Loop>>& loops)
        : plan_(plan), loops_(loops) {}

    void set_progress(std::function<void(const Progress&)> progress) {
        progress_ = std::move(progress);
    }

    void loop_done() {
        std::lock_guard lock(mutex_);
        ++finished_;
        changed_.notify_all();
    }

    // From any thread, at any time.
    void request_stop() {
        std::lock_guard lock(mutex_);
        stop_requested_ = true;
        changed_.notify_all();
    }

    // Before the loops start: without warmup, measuring (and our CPU clock) starts now.
    void begin() {
        std::lock_guard lock(mutex_);
        at_edges(Clock::now());
    }

    // Returns when every loop has finished.
    void watch() {
        auto next_tick = plan_.start + std::chrono::seconds(1);
        std::unique_lock lock(mutex_);
        for (;;) {
            auto wake = next_tick;
            if (!before_read_) wake = std::min(wake, plan_.measure_start);
            if (plan_.measure_end && !after_read_) wake = std::min(wake, *plan_.measure_end);
            changed_.wait_until(lock, wake, [&] {
                return finished_ == loops_.size() || (stop_requested_ && !stop_handled_);
            });
            if (finished_ == loops_.size()) break;
            const auto now = Clock::now();
            at_edges(now);
            if (stop_requested_ && !stop_handled_) stop(now);
            if (now >= next_tick) {
                if (progress_) progress_(counts());
                next_tick += std::chrono::seconds(1);
            }
        }
        if (!before_read_) {  // ended before the measured interval began (a stop, or nothing to do)
            cpu_before = process_cpu_time(getpid());
            before_read_ = true;
        }
        if (!after_read_) read_end();
    }

    std::optional<std::chrono::nanoseconds> cpu_before, cpu_after;
    std::uint64_t held = 0;
    bool stopped_early = false;

  private:
    // Reads the CPU clock when the measured interval has started or ended since the last call.
    // At the end of a --hold run the held connections stay open until the stop command: the
    // parent reads the server's memory first.
    void at_edges(Clock::time_point now) {
        if (!before_read_ && now >= plan_.measure_start) {
            cpu_before = process_cpu_time(getpid());
            before_read_ = true;
        }
        if (plan_.measure_end && !after_read_ && now >= *plan_.measure_end) read_end();
    }

    // Ctrl-C or SIGTERM in the parent, or --hold's end: nothing that ends from now on counts.
    void stop(Clock::time_point now) {
        stop_handled_ = true;
        plan_.stopped_at.store(now.time_since_epoch().count(), std::memory_order_release);
        stopped_early = !after_read_;
        if (!before_read_) {
            cpu_before = process_cpu_time(getpid());
            before_read_ = true;
        }
        if (!after_read_) read_end();
        for (auto& l : loops_) l->stop();
    }

    void read_end() {
        cpu_after = process_cpu_time(getpid());
        for (const auto& l : loops_) held += l->held();
        after_read_ = true;
    }

    Progress counts() const {
        Progress p;
        for (const auto& l : loops_) {
            p.connections += l->live_connections();
            p.errors += l->live_errors();
            p.held += l->held();
        }
        return p;
    }

    Plan& plan_;
    std::vector<std::unique_ptr<Loop>>& loops_;
    std::function<void(const Progress&)> progress_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::size_t finished_ = 0;
    bool before_read_ = false, after_read_ = false;
    bool stop_requested_ = false, stop_handled_ = false;
};

void merge(LoadReport& r, const ThreadStats& st, const Plan& plan) {
    r.connections += st.connections;
    r.completed += st.completed;
    r.errors += st.errors;
    r.replied += st.replied;
    r.closed_without_reply += st.closed_without_reply;
    r.handshakes += st.handshakes;
    r.resumed += st.resumed;
    r.requests += st.requests;
    r.expect_checked += st.expect_checked;
    r.expect_mismatches += st.expect_mismatches;
    for (const auto& [kind, n] : st.errors_by_kind) r.errors_by_kind[kind] += n;
    for (const auto& [status, n] : st.http_status) r.http_status[status] += n;
    for (const auto& [name, counts] : st.served) {
        const std::string* text = plan.name(name);
        auto& per_name = r.certificates[text ? *text : std::string(kNoSniName)];
        for (const auto& [thumbprint, n] : counts) per_name[thumbprint.hex()] += n;
    }
    r.connect_latency.merge(st.connect_latency);
    r.request_latency.merge(st.request_latency);
}

}  // namespace

struct LoadRun::Impl {
    Impl(const LoadOptions& o, const ExpectationTable* e) : options(o), plan(options, e) {}
    LoadOptions options;
    Plan plan;
    SslCtxPtr ssl_ctx;
    std::vector<std::unique_ptr<Loop>> loops;
    std::unique_ptr<Supervisor> supervisor;
};

LoadRun::LoadRun() = default;
LoadRun::~LoadRun() = default;

std::unique_ptr<LoadRun> LoadRun::create(const LoadOptions& options, const ExpectationTable* expect,
                                         std::string& error) {
    std::unique_ptr<LoadRun> run(new LoadRun);
    run->impl_ = std::make_unique<Impl>(options, expect);
    Impl& r = *run->impl_;
    Plan& plan = r.plan;
    for (const IpAddress& a : options.destination_addresses()) {
        const Endpoint endpoint{a, options.target.port};
        plan.endpoints.push_back(net::to_asio(endpoint));
        plan.endpoint_hosts.push_back(endpoint.to_string());
    }
    if (options.mode == Mode::hello) {
        plan.hello = HelloTemplate::builtin(options.hello_template);
        if (!plan.hello) {
            error = "unknown hello template '" + options.hello_template + "'";
            return nullptr;
        }
    } else {
        r.ssl_ctx = make_client_context(options, error);
        if (!r.ssl_ctx) return nullptr;
        plan.ssl_ctx = r.ssl_ctx.get();
    }

    const std::size_t concurrency = std::max<std::size_t>(1, options.concurrency);
    const unsigned threads =
        static_cast<unsigned>(std::clamp<std::size_t>(options.threads, 1, concurrency));
    // Streams are numbered as if every worker had options.threads loops, so they never overlap.
    const std::uint64_t first_stream =
        std::uint64_t{options.worker_index} * std::max(1u, options.threads);
    for (unsigned i = 0; i < threads; ++i)
        r.loops.push_back(std::make_unique<Loop>(
            plan, first_stream + i, concurrency / threads + (i < concurrency % threads)));
    r.supervisor = std::make_unique<Supervisor>(plan, r.loops);
    return run;
}

void LoadRun::stop() {
    impl_->supervisor->request_stop();
}

std::optional<LoadReport> LoadRun::run(Clock::time_point start,
                                       std::function<void(const Progress&)> progress,
                                       std::string& error) {
    Impl& r = *impl_;
    Plan& plan = r.plan;
    const LoadOptions& options = r.options;
    plan.start = start;
    plan.measure_start = plan.start + options.warmup;
    if (options.duration) plan.measure_end = plan.measure_start + *options.duration;

    Supervisor& supervisor = *r.supervisor;
    supervisor.set_progress(std::move(progress));
    supervisor.begin();
    std::mutex failure_mutex;
    std::string failure;
    std::vector<std::thread> pool;
    for (auto& l : r.loops) {
        pool.emplace_back([&, loop = l.get()] {
            try {
                loop->run();
            } catch (const std::exception& e) {
                std::lock_guard lock(failure_mutex);
                failure = e.what();
            }
            supervisor.loop_done();
        });
    }
    supervisor.watch();
    for (auto& t : pool) t.join();
    if (!failure.empty()) {
        error = "a load thread failed: " + failure;
        return std::nullopt;
    }

    LoadReport report;
    report.mode = options.mode;
    report.target = options.target.to_string();
    report.threads = static_cast<unsigned>(r.loops.size());
    report.concurrency = options.concurrency;
    report.expect = plan.expect != nullptr;
    Clock::time_point last = plan.measure_start;
    for (const auto& l : r.loops) {
        merge(report, l->stats(), plan);
        last = std::max(last, l->stats().last_completion);
    }
    const Clock::time_point end =
        plan.measure_end ? std::min(*plan.measure_end, plan.stop_time()) : last;
    report.seconds =
        std::chrono::duration<double>(std::max(end, plan.measure_start) - plan.measure_start)
            .count();
    report.hold = options.hold;
    report.held = supervisor.held;
    report.latency_from_intended_start = options.rate > 0;
    report.stopped_early = supervisor.stopped_early;
    if (supervisor.cpu_before && supervisor.cpu_after)
        report.load_cpu = *supervisor.cpu_after - *supervisor.cpu_before;
    return report;
}

}  // namespace snibind::load
