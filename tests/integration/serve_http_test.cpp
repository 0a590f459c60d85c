// snibind serve in terminate mode with `sites` (src/bindings/README.md I5): requests routed to real
// HTTP/1.1 backends (plain and TLS), keep-alive on both sides, chunked and Content-Length bodies,
// Expect: 100-continue, the forwarding headers, 502 for a dead backend, and the built-in lab
// responder when there are no sites. The clients are curl and openssl s_client on 127.0.0.0/8.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <span>
#include <sstream>
#include <thread>

#include <openssl/ssl.h>
#include <nlohmann/json.hpp>

#include "http/http_message.h"
#include "paced_reader.h"
#include "serve_process.h"
#include "test_backend.h"
#include "test_pki.h"
#include "text/ascii.h"

namespace snibind::test {
namespace {

// Bytes of every value, CR, LF and NUL included, so a body that is altered anywhere shows.
std::string pattern(std::size_t size) {
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
    return out;
}

// The chunked transfer coding (RFC 9112 7.1) removed; extensions and trailers are dropped.
std::string dechunk(std::string_view raw) {
    std::string body;
    for (;;) {
        auto line_end = raw.find("\r\n");
        if (line_end == std::string_view::npos) return body;
        std::size_t size = std::stoul(std::string(raw.substr(0, line_end)), nullptr, 16);
        raw.remove_prefix(line_end + 2);
        if (size == 0) return body;
        body.append(raw.substr(0, size));
        raw.remove_prefix(std::min(raw.size(), size + 2));
    }
}

// What the test backend answers: who it is and exactly what it received, then the body.
//   backend NAME / connection N / request M / sni NAME-or-"-" / method / target /
//   "header Name: value" per header, a blank line, the (de-chunked) body.
struct Echo {
    std::string backend, sni, method, target, body;
    int connection = 0, request = 0;
    std::vector<std::pair<std::string, std::string>> headers;

    std::string header(std::string_view name) const {
        for (const auto& [n, v] : headers)
            if (iequals(n, name)) return v;
        return "(absent)";
    }
    int header_count(std::string_view name) const {
        return static_cast<int>(std::count_if(
            headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); }));
    }
};

std::string echo_text(const std::string& backend, int connection, int request,
                      const std::string& sni, const http::MessageHead& head,
                      const std::string& body) {
    std::string out = "backend " + backend + "\nconnection " + std::to_string(connection) +
                      "\nrequest " + std::to_string(request) + "\nsni " + sni + "\nmethod " +
                      head.method + "\ntarget " + head.target + "\n";
    for (const auto& [name, value] : head.headers) out += "header " + name + ": " + value + "\n";
    return out + "\n" + body;
}

Echo parse_echo(std::string_view text) {
    Echo echo;
    auto end = text.find("\n\n");
    if (end == std::string_view::npos) return echo;
    echo.body = text.substr(end + 2);
    std::istringstream lines{std::string(text.substr(0, end))};
    for (std::string line; std::getline(lines, line);) {
        auto space = line.find(' ');
        std::string key = line.substr(0, space);
        std::string value = space == std::string::npos ? "" : line.substr(space + 1);
        if (key == "backend") echo.backend = value;
        if (key == "connection") echo.connection = std::stoi(value);
        if (key == "request") echo.request = std::stoi(value);
        if (key == "sni") echo.sni = value;
        if (key == "method") echo.method = value;
        if (key == "target") echo.target = value;
        if (key == "header") {
            auto colon = value.find(": ");
            echo.headers.emplace_back(value.substr(0, colon), value.substr(colon + 2));
        }
    }
    return echo;
}

// A small blocking HTTP/1.1 server on 127.0.0.1:0: a thread accepts, a thread per connection
// serves it (keep-alive, Expect: 100-continue), framing requests with the proxy's own parser.
// `/chunked` is answered with a chunked body: the echo followed by chunked_tail(); `/until-close`
// with a body that ends when the connection does; `/then-close` promises keep-alive and closes
// anyway, as a backend's idle timeout would. With a certificate it speaks TLS and records the SNI
// each connection sent.
class HttpBackend {
  public:
    static std::string chunked_tail() { return pattern(200000); }

    explicit HttpBackend(std::string name, const TestPki::Issued* certificate = nullptr)
        : name_(std::move(name)) {
        if (certificate) {
            tls_ = SSL_CTX_new(TLS_server_method());
            if (SSL_CTX_use_certificate_chain_file(tls_, certificate->pem.c_str()) != 1 ||
                SSL_CTX_use_PrivateKey_file(tls_, certificate->pem.c_str(), SSL_FILETYPE_PEM) != 1)
                throw std::runtime_error("test backend: cannot load " + certificate->pem.string());
        }
        listen_fd_ = listen_on_loopback(port_, 16);
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~HttpBackend() {
        // Wakes accept() (Linux: EINVAL), then every connection still blocked in a read.
        shutdown(listen_fd_, SHUT_RDWR);
        acceptor_.join();
        close(listen_fd_);
        {
            std::lock_guard lock(mutex_);
            for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
        }
        for (auto& t : connections_) t.join();
        SSL_CTX_free(tls_);
    }

    std::string url() const {
        return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
    }
    int connections_accepted() const { return accepted_.load(); }
    // Returns once `n` connections have been closed by this backend or its peer.
    void wait_closed(int n) {
        std::unique_lock lock(mutex_);
        if (!closed_changed_.wait_for(lock, std::chrono::seconds(30), [&] { return closed_ >= n; }))
            throw std::runtime_error("test backend: connections were never closed");
    }
    std::vector<std::string> sni_seen() const {
        std::lock_guard lock(mutex_);
        return sni_seen_;
    }

  private:
    // Reads and writes over plain TCP or TLS.
    struct Peer {
        int fd;
        SSL* ssl;
        std::size_t read(char* buf, std::size_t size) {
            if (ssl) {
                int n = SSL_read(ssl, buf, static_cast<int>(size));
                return n > 0 ? static_cast<std::size_t>(n) : 0;
            }
            ssize_t n = recv(fd, buf, size, 0);
            return n > 0 ? static_cast<std::size_t>(n) : 0;
        }
        bool write(std::string_view bytes) {
            if (ssl) return SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size())) > 0;
            while (!bytes.empty()) {
                ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
                if (n <= 0) return false;
                bytes.remove_prefix(static_cast<std::size_t>(n));
            }
            return true;
        }
    };

    void accept_loop() {
        // SSL_write uses write(): a proxy that hung up must give EPIPE here, not kill the test.
        // The connection threads inherit this mask.
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
        for (;;) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            timeval tv{30, 0};  // a safety net against a hung test, never a synchronisation
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            int number = ++accepted_;
            std::lock_guard lock(mutex_);
            open_fds_.push_back(fd);
            connections_.emplace_back([this, fd, number] {
                serve(fd, number);
                std::lock_guard lock(mutex_);
                std::erase(open_fds_, fd);
                close(fd);
                ++closed_;
                closed_changed_.notify_all();
            });
        }
    }

    void serve(int fd, int connection) {
        Peer peer{fd, nullptr};
        std::string sni = "-";
        if (tls_) {
            peer.ssl = SSL_new(tls_);
            SSL_set_fd(peer.ssl, fd);
            if (SSL_accept(peer.ssl) == 1) {
                if (const char* name = SSL_get_servername(peer.ssl, TLSEXT_NAMETYPE_host_name))
                    sni = name;
                {
                    std::lock_guard lock(mutex_);
                    sni_seen_.push_back(sni);
                }
                serve_requests(peer, connection, sni);
                SSL_shutdown(peer.ssl);
            }
            SSL_free(peer.ssl);
            return;
        }
        serve_requests(peer, connection, sni);
    }

    void serve_requests(Peer& peer, int connection, const std::string& sni) {
        using Event = http::MessageParser::Event;
        http::MessageParser parser(http::MessageParser::Kind::request);
        std::string in, body;
        std::size_t parsed = 0;
        bool in_body = false, parse_now = false;
        int request = 0;
        char buf[16384];
        for (;;) {
            if (parsed == in.size() && !parse_now) {
                std::size_t n = peer.read(buf, sizeof buf);
                if (n == 0) return;
                in.append(buf, n);
            }
            parse_now = false;
            auto p = parser.parse({in.data() + parsed, in.size() - parsed});
            if (in_body) body.append(in, parsed, p.consumed);
            parsed += p.consumed;
            if (p.event == Event::error) return;
            if (p.event == Event::head_complete) {
                in_body = parse_now = true;  // a body-less request completes without more bytes
                if (iequals(parser.head().header("expect"), "100-continue") &&
                    !peer.write("HTTP/1.1 100 Continue\r\n\r\n"))
                    return;
            }
            if (p.event != Event::message_complete) continue;

            const http::MessageHead& head = parser.head();
            // Dead backends (issue 10 item 10): a reset, a close before any byte of an answer,
            // one that breaks off in the middle of its body, one that never answers at all.
            if (head.path() == "/reset") {
                linger hard{1, 0};
                setsockopt(peer.fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
                return;  // closed by the caller: a TCP reset
            }
            if (head.path() == "/close") return;
            // A kept-alive connection the backend closes as the next request comes (its own
            // keep-alive timeout running out just then): no answer, on a connection that has
            // answered before.
            if (head.path() == "/close-if-reused" && request > 0) return;
            if (head.path() == "/bad-answer") {
                peer.write("HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 0\r\n\r\n");
                return;
            }
            if (head.path() == "/partial-close") {
                peer.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
                return;
            }
            if (head.path() == "/silent") {
                while (peer.read(buf, sizeof buf) > 0) {
                }
                return;  // the proxy gave up and closed
            }
            if (head.path() == "/big") {
                // A large answer (size in the query), sent as fast as the proxy takes it.
                const std::string big = pattern(std::stoul(head.target.substr(5)));
                if (!peer.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) +
                                "\r\n\r\n") ||
                    !peer.write(big))
                    return;
                parser.next();
                in.erase(0, parsed);
                parsed = 0;
                body.clear();
                in_body = false;
                continue;
            }
            bool keep_alive = head.keep_alive;
            std::string echo = echo_text(name_, connection, ++request, sni, head,
                                         parser.body_chunked() ? dechunk(body) : body);
            if (!peer.write(response(head.path(), echo, keep_alive)) || !keep_alive ||
                head.path() == "/then-close" || head.path() == "/until-close")
                return;
            parser.next();
            in.erase(0, parsed);
            parsed = 0;
            body.clear();
            in_body = false;
        }
    }

    static std::string response(std::string_view path, const std::string& echo, bool keep_alive) {
        std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n";
        if (path == "/until-close") return out + "Connection: close\r\n\r\n" + echo;
        out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
        if (path != "/chunked")
            return out + "Content-Length: " + std::to_string(echo.size()) + "\r\n\r\n" + echo;
        out += "Transfer-Encoding: chunked\r\n\r\n";
        std::string body = echo + chunked_tail();
        // An odd chunk size, so chunk boundaries fall anywhere in the proxy's reads.
        for (std::size_t at = 0; at < body.size(); at += 4093) {
            std::string_view chunk = std::string_view(body).substr(at, 4093);
            char size[16];
            std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
            out.append(size).append(chunk).append("\r\n");
        }
        return out + "0\r\n\r\n";
    }

    std::string name_;
    SSL_CTX* tls_ = nullptr;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<int> accepted_{0};
    mutable std::mutex mutex_;
    std::vector<int> open_fds_;
    std::vector<std::thread> connections_;
    std::vector<std::string> sni_seen_;
    int closed_ = 0;
    std::condition_variable closed_changed_;
    std::thread acceptor_;
};

// A TLS client for exchanges curl cannot pace: one request at a time on one connection, each
// response read to its end (framed by the proxy's own parser).
class TlsClient {
  public:
    TlsClient(const std::filesystem::path& ca, const std::string& sni, std::uint16_t port)
        : tcp_("127.0.0.1", port), ctx_(SSL_CTX_new(TLS_client_method())) {
        SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        ssl_ = SSL_new(ctx_);
        SSL_set_tlsext_host_name(ssl_, sni.c_str());
        SSL_set1_host(ssl_, sni.c_str());
        SSL_set_fd(ssl_, tcp_.fd());
        if (SSL_connect(ssl_) != 1) throw std::runtime_error("TLS handshake with snibind failed");
    }
    ~TlsClient() {
        SSL_free(ssl_);
        SSL_CTX_free(ctx_);
    }
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;

    bool send(std::string_view bytes) {
        return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) > 0;
    }

    // The next whole response; empty when the connection ended first.
    std::string read_response() {
        using Event = http::MessageParser::Event;
        http::MessageParser parser(http::MessageParser::Kind::response);
        std::string response;
        char buf[16384];
        for (;;) {
            // Bytes of a next response that came with the last read come first.
            std::string input = std::exchange(pending_, {});
            if (input.empty()) {
                int n = SSL_read(ssl_, buf, sizeof buf);
                if (n <= 0) return parser.finish().event == Event::message_complete ? response : "";
                input.assign(buf, static_cast<std::size_t>(n));
            }
            std::span<const char> rest(input);
            for (;;) {
                auto p = parser.parse(rest);
                response.append(rest.data(), p.consumed);
                rest = rest.subspan(p.consumed);
                if (p.event == Event::message_complete) {
                    pending_.assign(rest.data(), rest.size());
                    return response;
                }
                if (p.event == Event::error) return {};
                if (p.event == Event::need_more) break;
            }
        }
    }

    // Whatever the next read brings (< 1: the end), for clients that pace themselves.
    long read_some(char* buffer, std::size_t capacity) {
        return SSL_read(ssl_, buffer, static_cast<int>(capacity));
    }

    std::string exchange(std::string_view request) {
        return send(request) ? read_response() : std::string();
    }

  private:
    TcpClient tcp_;
    SSL_CTX* ctx_;
    SSL* ssl_ = nullptr;
    std::string pending_;
};

struct CurlResult {
    int status = -1;                   // curl's exit status
    std::vector<int> codes;            // HTTP status, per URL
    std::vector<int> new_connections;  // connections curl opened for each URL
    std::vector<std::string> bodies;   // per URL
    std::string verbose;               // curl -v (stderr)
};

std::ostream& operator<<(std::ostream& out, const CurlResult& r) {
    return out << "curl exit " << r.status << "\n" << r.verbose;
}

class ServeHttp : public ::testing::Test {
  protected:
    ServeHttp() : pki_(dir_.path() / "certs") {}

    void TearDown() override { stop(); }

    // Stops the server (if running) and checks it exited cleanly without sanitizer reports.
    void stop() {
        if (!serve_) return;
        EXPECT_EQ(serve_->stop(), 0);
        std::string log = serve_->log();
        EXPECT_FALSE(has_sanitizer_report(log)) << log;
    }

    // The server's access log, after stopping it.
    std::vector<std::vector<std::pair<std::string, std::string>>> access_log() {
        stop();
        return parse_access_log(serve_->access_log());
    }

    HttpBackend& backend(std::string name, const TestPki::Issued* certificate = nullptr) {
        backends_.push_back(std::make_unique<HttpBackend>(std::move(name), certificate));
        return *backends_.back();
    }

    // Starts snibind serve listening on 127.0.0.1 and 127.0.0.2, terminating everything with
    // front_ (which names every host the tests use), with `body` (sites, ...) appended.
    ServeProcess& start(const std::string& body, std::vector<std::string> args = {}) {
        stop();
        auto path = dir_.path() / "config.yaml";
        std::ofstream(path) << "limits: { " << limits_ << " }\n"
                            << "listen: [\"127.0.0.1:" << port_ << "\", \"127.0.0.2:" << port_
                            << "\"]\nrecords:\n  \"ipport=0.0.0.0:" << port_
                            << "\": { certificate: " << front_.pem.string() << " }\n"
                            << body;
        serve_ = std::make_unique<ServeProcess>(path, std::move(args));
        return *serve_;
    }

    std::string site(const std::string& name, const std::string& host_or_ip_binding,
                     const std::string& backend_url, const std::string& path = "") const {
        return "  - { name: " + name + ", bindings: [\"" + host_or_ip_binding + "\"], backend: \"" +
               backend_url + "\"" + (path.empty() ? "" : ", path: " + path) + " }\n";
    }
    // "https/*:PORT:host", "https/127.0.0.2:PORT:" (with ip), "https/*:PORT:" (neither).
    std::string binding(const std::string& host, const std::string& ip = "*") const {
        return "https/" + ip + ":" + std::to_string(port_) + ":" + host;
    }

    // curl -v with one URL per path on one command line (so one connection when it can), with
    // `host` resolved to `address`.
    CurlResult curl(const std::string& host, const std::vector<std::string>& paths,
                    const std::vector<std::string>& extra = {},
                    const std::string& address = "127.0.0.1") {
        auto p = std::to_string(port_);
        std::vector<std::string> argv{"-v",
                                      "--resolve",
                                      host + ":" + p + ":" + address,
                                      "--cacert",
                                      pki_.ca_pem().string(),
                                      "-w",
                                      "%{http_code} %{num_connects}\\n"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        for (std::size_t i = 0; i < paths.size(); ++i)
            argv.insert(argv.end(), {"-o", (dir_.path() / ("body" + std::to_string(i))).string(),
                                     "https://" + host + ":" + p + paths[i]});
        RunResult run_result = test::curl(argv);
        CurlResult r;
        r.status = run_result.status;
        r.verbose = run_result.err;
        std::istringstream lines(run_result.out);
        for (int code = 0, connects = 0; lines >> code >> connects;) {
            r.codes.push_back(code);
            r.new_connections.push_back(connects);
        }
        for (std::size_t i = 0; i < paths.size(); ++i) {
            // No file when curl got no answer at all (an empty reply).
            auto file = dir_.path() / ("body" + std::to_string(i));
            r.bodies.push_back(std::filesystem::exists(file) ? read_file(file) : std::string());
            std::filesystem::remove(file);
        }
        return r;
    }

    TempDir dir_;
    TestPki pki_;
    std::uint16_t port_ = free_port();
    TestPki::Issued front_ =
        pki_.issue("front", "site1.test",
                   {"site1.test", "site2.test", "other.test", "nosuch.test", "lab.test"});
    std::string limits_ = "drain_timeout: 1s";  // the `limits:` mapping's contents
    std::vector<std::unique_ptr<HttpBackend>> backends_;
    std::unique_ptr<ServeProcess> serve_;  // after the backends: it stops first
};

// I5: two sites on one IP:port told apart by Host, an application path, the IP-bound and the weak
// wildcard bindings, each request going to the backend of the site that category order and the
// longest path prefix pick.
TEST_F(ServeHttp, RoutesByHostAddressAndPath_I5) {
    auto& site1 = backend("site1");
    auto& site2 = backend("site2");
    auto& app = backend("app");
    auto& ip_bound = backend("ipbound");
    auto& wild = backend("wild");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()) +
          site("site2", binding("site2.test"), site2.url()) +
          site("app", binding("site1.test"), app.url(), "/app") +
          site("ipbound", binding("", "127.0.0.2"), ip_bound.url()) +
          site("wild", binding(""), wild.url()));

    struct Case {
        std::string host, address, path, backend;
    } cases[] = {
        {"site1.test", "127.0.0.1", "/", "site1"},             // explicit host
        {"site2.test", "127.0.0.1", "/page?q=1", "site2"},     // same IP:port, other Host
        {"site1.test", "127.0.0.1", "/app/page", "app"},       // longest path prefix
        {"site1.test", "127.0.0.1", "/APP", "app"},            // compared case-insensitively
        {"site1.test", "127.0.0.1", "/application", "site1"},  // on whole segments only
        {"other.test", "127.0.0.1", "/", "wild"},              // weak wildcard takes unknown hosts
        {"other.test", "127.0.0.2", "/", "ipbound"},           // IP-bound beats the weak wildcard
        {"site2.test", "127.0.0.2", "/", "site2"},             // explicit host beats IP-bound
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.host + " via " + c.address + " " + c.path);
        auto r = curl(c.host, {c.path}, {}, c.address);
        ASSERT_EQ(r.codes, std::vector<int>{200}) << r;
        Echo echo = parse_echo(r.bodies[0]);
        EXPECT_EQ(echo.backend, c.backend);
        EXPECT_EQ(echo.target, c.path);  // the request target is passed on unchanged
        EXPECT_EQ(echo.header("Host"), c.host + ":" + std::to_string(port_));
    }

    auto log = access_log();
    ASSERT_EQ(log.size(), std::size(cases));
    for (std::size_t i = 0; i < log.size(); ++i) {
        EXPECT_EQ(field(log[i], "action"), "terminate");
        EXPECT_EQ(field(log[i], "requests"), "1");
        EXPECT_EQ(field(log[i], "result"), "closed") << field(log[i], "why");
    }
    // Lines come as connections end, by whichever worker had them: look for them in any order.
    auto logged = [&](const std::string& backend) {
        return std::count_if(log.begin(), log.end(),
                             [&](const auto& line) { return field(line, "backend") == backend; });
    };
    EXPECT_GE(logged(site1.url()), 1);
    EXPECT_GE(logged(ip_bound.url()), 1);
}

// I5: no prefix matches the Host: HTTP.sys's own 400 page, and the connection is closed.
TEST_F(ServeHttp, UnknownHostGets400InvalidHostname_I5) {
    auto& site1 = backend("site1");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));

    // By SNI and Host both, and by Host alone on a connection whose SNI did match a site.
    auto by_name = curl("nosuch.test", {"/"});
    auto by_host = curl("site1.test", {"/"}, {"-H", "Host: nosuch.test"});
    for (const auto* r : {&by_name, &by_host}) {
        ASSERT_EQ(r->codes, std::vector<int>{400}) << *r;
        EXPECT_NE(r->bodies[0].find("<h2>Bad Request - Invalid Hostname</h2>"), std::string::npos)
            << r->bodies[0];
        EXPECT_NE(r->verbose.find("< Server: Microsoft-HTTPAPI/2.0"), std::string::npos) << *r;
        EXPECT_NE(r->verbose.find("< Connection: close"), std::string::npos) << *r;
    }
    EXPECT_EQ(site1.connections_accepted(), 0);

    auto log = access_log();
    ASSERT_EQ(log.size(), 2u);
    for (const auto& line : log) {
        EXPECT_EQ(field(line, "result"), "invalid_hostname");
        EXPECT_NE(field(line, "why").find("nosuch.test"), std::string::npos) << field(line, "why");
    }
}

// Keep-alive on both sides: curl's two requests share one client connection, and the proxy
// sends both over one backend connection.
TEST_F(ServeHttp, KeepAliveReusesClientAndBackendConnections) {
    auto& site1 = backend("site1");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));

    auto r = curl("site1.test", {"/one", "/two"});
    ASSERT_EQ(r.codes, (std::vector<int>{200, 200})) << r;
    EXPECT_EQ(r.new_connections, (std::vector<int>{1, 0})) << r;
    Echo first = parse_echo(r.bodies[0]), second = parse_echo(r.bodies[1]);
    EXPECT_EQ(first.target, "/one");
    EXPECT_EQ(second.target, "/two");
    EXPECT_EQ(second.connection, first.connection);
    EXPECT_EQ(second.request, 2);
    EXPECT_EQ(first.header("Connection"), "keep-alive");
    EXPECT_EQ(site1.connections_accepted(), 1);

    auto log = access_log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(field(log[0], "requests"), "2");
    EXPECT_EQ(field(log[0], "result"), "closed") << field(log[0], "why");
}

// A chunked response is relayed byte for byte and its end found, so the connection carries on.
TEST_F(ServeHttp, ChunkedResponseArrivesIntactAndConnectionIsReused) {
    auto& site1 = backend("site1");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));

    auto r = curl("site1.test", {"/chunked", "/after"});
    ASSERT_EQ(r.codes, (std::vector<int>{200, 200})) << r;
    EXPECT_NE(r.verbose.find("< Transfer-Encoding: chunked"), std::string::npos) << r;
    Echo echo = parse_echo(r.bodies[0]);
    EXPECT_EQ(echo.target, "/chunked");
    EXPECT_EQ(echo.body, HttpBackend::chunked_tail());  // nothing after the echo but the tail
    Echo after = parse_echo(r.bodies[1]);
    EXPECT_EQ(after.target, "/after");
    EXPECT_EQ(after.request, 2);
    EXPECT_EQ(site1.connections_accepted(), 1);

    auto log = access_log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(field(log[0], "requests"), "2");
}

// A response without a length ends when the backend closes; the proxy relays all of it, then
// closes the client connection too.
TEST_F(ServeHttp, ResponseEndingAtCloseArrivesIntact) {
    auto& site1 = backend("site1");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));

    auto r = curl("site1.test", {"/until-close"});
    ASSERT_EQ(r.codes, std::vector<int>{200}) << r;
    Echo echo = parse_echo(r.bodies[0]);
    EXPECT_EQ(echo.target, "/until-close");
    // The echo's last header line and the blank line after it: the response arrived whole.
    EXPECT_EQ(echo.header("Connection"), "keep-alive");
    EXPECT_EQ(r.bodies[0].substr(r.bodies[0].size() - 2), "\n\n");

    auto log = access_log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(field(log[0], "requests"), "1");
    EXPECT_EQ(field(log[0], "result"), "closed") << field(log[0], "why");
}

// Keep-alive to a backend that closes an idle connection (as a backend's keep-alive timeout
// does): the next request is sent over a new backend connection instead of failing.
TEST_F(ServeHttp, BackendClosingAKeptAliveConnectionIsReconnected) {
    auto& site1 = backend("site1");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));
    {
        TlsClient client(pki_.ca_pem(), "site1.test", port_);
        auto first = client.exchange("GET /then-close HTTP/1.1\r\nHost: site1.test\r\n\r\n");
        ASSERT_NE(first.find("HTTP/1.1 200 OK"), std::string::npos) << first;
        site1.wait_closed(1);
        auto second = client.exchange("GET /next HTTP/1.1\r\nHost: site1.test\r\n\r\n");
        ASSERT_NE(second.find("HTTP/1.1 200 OK"), std::string::npos) << second;
        EXPECT_NE(second.find("\ntarget /next\n"), std::string::npos) << second;
        EXPECT_NE(second.find("\nconnection 2\n"), std::string::npos) << second;
    }
    EXPECT_EQ(site1.connections_accepted(), 2);

    auto log = access_log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(field(log[0], "requests"), "2");
    EXPECT_EQ(field(log[0], "result"), "closed") << field(log[0], "why");
}

// Issue 12: a backend connection outlives the client connection that opened it. One worker (so
// one pool): each client connection sends one request, and the backend sees one connection for
// all of them; /metrics counts one new and the others reused.
TEST_F(ServeHttp, BackendConnectionsAreReusedAcrossClients_Issue12) {
    auto& site1 = backend("site1");
    const std::uint16_t admin = free_port();
    start("admin: \"127.0.0.1:" + std::to_string(admin) + "\"\nsites:\n" +
              site("site1", binding("site1.test"), site1.url()),
          {"--threads", "1"});
    for (int i = 1; i <= 3; ++i) {
        TlsClient client(pki_.ca_pem(), "site1.test", port_);
        auto r = client.exchange("GET /c" + std::to_string(i) +
                                 " HTTP/1.1\r\nHost: site1.test\r\nConnection: close\r\n\r\n");
        ASSERT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << r;
        EXPECT_NE(r.find("\nconnection 1\n"), std::string::npos) << r;
        EXPECT_NE(r.find("\nrequest " + std::to_string(i) + "\n"), std::string::npos) << r;
    }
    EXPECT_EQ(site1.connections_accepted(), 1);
    auto metrics = test::curl({"-s", "http://127.0.0.1:" + std::to_string(admin) + "/metrics"});
    EXPECT_NE(metrics.out.find("snibind_backend_connections_total{how=\"new\"} 1\n"),
              std::string::npos)
        << metrics.out;
    EXPECT_NE(metrics.out.find("snibind_backend_connections_total{how=\"reused\"} 2\n"),
              std::string::npos)
        << metrics.out;
}

// `backend_keepalive: 0`: every client connection opens its own backend connection.
TEST_F(ServeHttp, BackendKeepaliveZeroKeepsNoIdleConnection_Issue12) {
    auto& site1 = backend("site1");
    start("backend_keepalive: 0\nsites:\n" + site("site1", binding("site1.test"), site1.url()),
          {"--threads", "1"});
    for (int i = 1; i <= 2; ++i) {
        TlsClient client(pki_.ca_pem(), "site1.test", port_);
        auto r = client.exchange("GET /c HTTP/1.1\r\nHost: site1.test\r\n\r\n");
        EXPECT_NE(r.find("\nconnection " + std::to_string(i) + "\n"), std::string::npos) << r;
    }
    EXPECT_EQ(site1.connections_accepted(), 2);
}

// A reused connection that the backend closes as a request arrives (no answer): a GET is sent
// again on a new connection and answered; a request with a body is never sent twice (502).
TEST_F(ServeHttp, AReusedConnectionTheBackendDropsIsRetriedOnlyForIdempotentRequests_Issue12) {
    auto& site1 = backend("site1");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()), {"--threads", "1"});
    auto exchange = [&](const std::string& request) {
        TlsClient client(pki_.ca_pem(), "site1.test", port_);
        return client.exchange(request);
    };
    const std::string get = "GET /close-if-reused HTTP/1.1\r\nHost: site1.test\r\n\r\n";
    ASSERT_NE(exchange(get).find("\nconnection 1\n"), std::string::npos);
    auto retried = exchange(get);  // pooled connection 1 drops it; connection 2 answers
    EXPECT_NE(retried.find("HTTP/1.1 200 OK"), std::string::npos) << retried;
    EXPECT_NE(retried.find("\nconnection 2\n"), std::string::npos) << retried;
    EXPECT_EQ(site1.connections_accepted(), 2);

    auto posted = exchange(
        "POST /close-if-reused HTTP/1.1\r\nHost: site1.test\r\nContent-Length: 1\r\n\r\nx");
    EXPECT_NE(posted.find("HTTP/1.1 502 Bad Gateway"), std::string::npos) << posted;
    EXPECT_EQ(site1.connections_accepted(), 2);  // not sent again on a new one

    auto log = access_log();
    ASSERT_EQ(log.size(), 3u);
    std::vector<std::string> results;
    for (const auto& line : log) results.push_back(field(line, "result"));
    std::sort(results.begin(), results.end());
    EXPECT_EQ(results, (std::vector<std::string>{"backend_error", "closed", "closed"}));
}

// Pipelined requests (sent together, before any answer) are each routed and answered in order.
TEST_F(ServeHttp, PipelinedRequestsAreAnsweredInOrder) {
    auto& site1 = backend("site1");
    auto& site2 = backend("site2");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()) +
          site("site2", binding("site2.test"), site2.url()));
    {
        TlsClient client(pki_.ca_pem(), "site1.test", port_);
        ASSERT_TRUE(
            client.send("POST /first HTTP/1.1\r\nHost: site1.test\r\nContent-Length: 5\r\n\r\nhello"
                        "GET /second HTTP/1.1\r\nHost: site2.test\r\n\r\n"
                        "GET /third HTTP/1.1\r\nHost: site1.test\r\nConnection: close\r\n\r\n"));
        struct Expected {
            std::string backend, target, body;
        } expected[] = {
            {"site1", "/first", "hello"}, {"site2", "/second", ""}, {"site1", "/third", ""}};
        for (const auto& e : expected) {
            std::string response = client.read_response();
            ASSERT_NE(response.find("HTTP/1.1 200 OK"), std::string::npos) << e.target;
            Echo echo = parse_echo(response.substr(response.find("\r\n\r\n") + 4));
            EXPECT_EQ(echo.backend, e.backend);
            EXPECT_EQ(echo.target, e.target);
            EXPECT_EQ(echo.body, e.body);
        }
        EXPECT_EQ(client.read_response(), "");  // closed after the third (Connection: close)
    }

    auto log = access_log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(field(log[0], "requests"), "3");
    EXPECT_EQ(field(log[0], "result"), "closed") << field(log[0], "why");
}

// Request bodies are streamed to the backend intact, whatever their framing; with
// `Expect: 100-continue` the client is told to go on (by the proxy) and sends the body.
TEST_F(ServeHttp, RequestBodiesArriveIntact) {
    auto& site1 = backend("site1");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));

    struct Case {
        std::string name;
        std::size_t size;
        std::vector<std::string> headers;
        std::string framing_header, framing_value;
        bool expect_continue;
    } cases[] = {
        {"content-length", 100000, {}, "Content-Length", "100000", false},
        {"chunked", 300000, {"Transfer-Encoding: chunked"}, "Transfer-Encoding", "chunked", false},
        {"expect", 200000, {"Expect: 100-continue"}, "Content-Length", "200000", true},
        {"chunked+expect",
         50000,
         {"Transfer-Encoding: chunked", "Expect: 100-continue"},
         "Transfer-Encoding",
         "chunked",
         true},
        // Large enough that curl may add Expect by itself.
        {"large", 2 * 1024 * 1024 + 7, {}, "Content-Length", "2097159", false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto file = dir_.path() / "upload";
        std::string content = pattern(c.size);
        write_file(file, content);
        std::vector<std::string> args{"--data-binary", "@" + file.string(), "--expect100-timeout",
                                      "60"};
        for (const auto& h : c.headers) args.insert(args.end(), {"-H", h});
        auto r = curl("site1.test", {"/upload"}, args);
        ASSERT_EQ(r.codes, std::vector<int>{200}) << r;
        Echo echo = parse_echo(r.bodies[0]);
        EXPECT_EQ(echo.method, "POST");
        EXPECT_EQ(echo.header(c.framing_header), c.framing_value);
        EXPECT_EQ(echo.body.size(), content.size());
        EXPECT_TRUE(echo.body == content) << "the body arrived altered";
        if (c.expect_continue) {
            // The proxy answers "100 Continue" itself, at once: curl (told to wait for it) sends
            // the body only then. The backend is not asked again (no Expect reaches it), so the
            // client gets exactly one interim response.
            EXPECT_EQ(echo.header("Expect"), "(absent)");
            auto proxy_continue = r.verbose.find("< HTTP/1.1 100 Continue");
            EXPECT_LT(proxy_continue, r.verbose.find("We are completely uploaded")) << r;
        }
    }
}

// The backend learns who the client is: X-Forwarded-For (appended to), X-Forwarded-Proto and
// Forwarded (RFC 7239), each exactly once.
TEST_F(ServeHttp, ForwardingHeadersAsTheBackendSeesThem) {
    auto& site1 = backend("site1");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));
    const std::string host = "host=\"site1.test:" + std::to_string(port_) + "\"";

    struct Case {
        std::vector<std::string> extra;
        std::string xff, forwarded;
    } cases[] = {
        {{}, "127.0.0.1", "for=127.0.0.1;proto=https;" + host},
        {{"-H", "X-Forwarded-For: 192.0.2.7", "-H", "Forwarded: for=192.0.2.7"},
         "192.0.2.7, 127.0.0.1",
         "for=192.0.2.7, for=127.0.0.1;proto=https;" + host},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.xff);
        auto r = curl("site1.test", {"/"}, c.extra);
        ASSERT_EQ(r.codes, std::vector<int>{200}) << r;
        Echo echo = parse_echo(r.bodies[0]);
        EXPECT_EQ(echo.header("X-Forwarded-For"), c.xff);
        EXPECT_EQ(echo.header("X-Forwarded-Proto"), "https");
        EXPECT_EQ(echo.header("Forwarded"), c.forwarded);
        for (const char* name : {"X-Forwarded-For", "X-Forwarded-Proto", "Forwarded"})
            EXPECT_EQ(echo.header_count(name), 1) << name;
    }
}

// An https:// backend is a legacy server: TLS without SNI, unless `backend_sni` names one.
TEST_F(ServeHttp, TlsBackendGetsNoSniUnlessBackendSniIsSet) {
    auto backend_cert = pki_.issue("backend", "legacy.test", {"legacy.test"});
    struct Case {
        std::string backend_sni, seen;
    } cases[] = {{"", "-"}, {"legacy.test", "legacy.test"}};
    for (const auto& c : cases) {
        SCOPED_TRACE("backend_sni: " + c.backend_sni);
        auto& legacy = backend("legacy", &backend_cert);
        start((c.backend_sni.empty() ? "" : "backend_sni: " + c.backend_sni + "\n") + "sites:\n" +
              site("site1", binding("site1.test"), legacy.url()));
        auto r = curl("site1.test", {"/one", "/two"});
        ASSERT_EQ(r.codes, (std::vector<int>{200, 200})) << r;
        Echo echo = parse_echo(r.bodies[1]);
        EXPECT_EQ(echo.backend, "legacy");
        EXPECT_EQ(echo.sni, c.seen);
        EXPECT_EQ(echo.request, 2);  // keep-alive over TLS too
        EXPECT_EQ(legacy.sni_seen(), std::vector<std::string>{c.seen});

        auto log = access_log();
        ASSERT_EQ(log.size(), 1u);
        EXPECT_EQ(field(log[0], "backend"), legacy.url());
        EXPECT_EQ(field(log[0], "result"), "closed") << field(log[0], "why");
    }
}

// Nothing listens at the site's backend: 502 to the client, and the access log says why.
TEST_F(ServeHttp, BackendDownGives502AndLogLine) {
    const std::string dead = "http://127.0.0.1:" + std::to_string(free_port());
    start("sites:\n" + site("site1", binding("site1.test"), dead));

    auto r = curl("site1.test", {"/"});
    ASSERT_EQ(r.codes, std::vector<int>{502}) << r;
    EXPECT_NE(r.bodies[0].find("Bad Gateway"), std::string::npos) << r.bodies[0];

    auto log = access_log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(field(log[0], "result"), "backend_down");
    EXPECT_EQ(field(log[0], "backend"), dead);
    EXPECT_NE(field(log[0], "why").find("connect to " + dead), std::string::npos)
        << field(log[0], "why");
}

// Issue 10 item 7: RFC 9112's framing and Host rules hold after termination. Each request is
// answered 400 and closed, and one whose head is refused never reaches a backend.
TEST_F(ServeHttp, MalformedRequestsGet400_Issue10) {
    auto& site1 = backend("site1");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));

    struct Case {
        std::string name, request, why;
    } head_cases[] = {
        {"two Host headers", "GET / HTTP/1.1\r\nHost: site1.test\r\nHost: site2.test\r\n\r\n",
         "more than one Host"},
        {"space before the colon", "GET / HTTP/1.1\r\nHost: site1.test\r\nX-A : a\r\n\r\n",
         "HPE_INVALID_HEADER_TOKEN"},
        {"HTTP/1.0 with Transfer-Encoding",
         "POST / HTTP/1.0\r\nHost: site1.test\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\n",
         "Transfer-Encoding in an HTTP/1.0"},
        {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", "no Host"},
    };
    auto expect_400 = [&](const Case& c) {
        SCOPED_TRACE(c.name);
        TlsClient client(pki_.ca_pem(), "site1.test", port_);
        const std::string response = client.exchange(c.request);
        EXPECT_EQ(response.substr(0, 25), "HTTP/1.1 400 Bad Request\r") << response;
        EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
        EXPECT_EQ(client.read_response(), "");  // and closed
    };
    for (const auto& c : head_cases) expect_400(c);
    EXPECT_EQ(site1.connections_accepted(), 0);
    // The head is good and goes to the backend; the chunk data that follows is not.
    const Case chunk_case{"chunk data not followed by CRLF",
                          "POST / HTTP/1.1\r\nHost: site1.test\r\nTransfer-Encoding: "
                          "chunked\r\n\r\n3\r\nabcAB0\r\n\r\n",
                          "CRLF after chunk"};
    expect_400(chunk_case);

    auto log = access_log();
    ASSERT_EQ(log.size(), std::size(head_cases) + 1);
    std::vector<std::string> whys;
    for (const auto& line : log) {
        EXPECT_EQ(field(line, "result"), "bad_request");
        whys.push_back(field(line, "why"));
    }
    // Lines come as connections end, by whichever worker had them: any order.
    for (const auto& c : head_cases) {
        EXPECT_TRUE(std::any_of(whys.begin(), whys.end(), [&](const auto& why) {
            return why.find(c.why) != std::string::npos;
        })) << c.why;
    }
}

// RFC 9112 3.2.2: an absolute-form target names the host, whatever Host says: the request goes to
// that host's site, which gets it in origin-form with that host as its only Host.
TEST_F(ServeHttp, AbsoluteFormIsRoutedByItsAuthority_Issue10) {
    auto& site1 = backend("site1");
    auto& site2 = backend("site2");
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()) +
          site("site2", binding("site2.test"), site2.url()));
    const std::string authority = "site2.test:" + std::to_string(port_);
    {
        TlsClient client(pki_.ca_pem(), "site1.test", port_);
        const std::string response = client.exchange("GET https://" + authority +
                                                     "/x?y=1 HTTP/1.1\r\nHost: site1.test\r\n\r\n");
        ASSERT_NE(response.find("HTTP/1.1 200 OK"), std::string::npos) << response;
        Echo echo = parse_echo(response.substr(response.find("\r\n\r\n") + 4));
        EXPECT_EQ(echo.backend, "site2");
        EXPECT_EQ(echo.target, "/x?y=1");
        EXPECT_EQ(echo.header("Host"), authority);
        EXPECT_EQ(echo.header_count("Host"), 1);
    }
    EXPECT_EQ(site1.connections_accepted(), 0);
}

// Issue 10 item 10: a backend that dies before answering gets the client a 502 (reset, closed
// before any byte, or an answer that is not HTTP), one that never answers a 504 at backend_timeout
// (not at the client's idle_timeout), as nginx and HAProxy answer. Once part of the answer went
// out, the proxy can only close.
TEST_F(ServeHttp, DeadBackendGets502Or504_Issue10) {
    auto& site1 = backend("site1");
    limits_ = "drain_timeout: 1s, backend_timeout: 1s";
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));

    struct Case {
        std::string path;
        int code;
        std::string body, result, why;
    } cases[] = {
        {"/reset", 502, "Bad Gateway", "backend_reset", "reset"},
        {"/close", 502, "Bad Gateway", "backend_error", "closed the connection before answering"},
        {"/silent", 504, "Gateway Timeout", "backend_timeout",
         "no answer from the backend in 1000 ms"},
        {"/bad-answer", 502, "Bad Gateway", "backend_error", "bad response"},
        {"/partial-close", 200, "partial", "backend_error", "ended its response early"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.path);
        auto r = curl("site1.test", {c.path});
        ASSERT_EQ(r.codes, std::vector<int>{c.code}) << r;
        EXPECT_EQ(r.bodies[0].substr(0, c.body.size()), c.body) << r.bodies[0];
        // curl says whether the answer was whole: a 502/504 is, the broken-off 200 is not.
        EXPECT_EQ(r.status, c.code == 200 ? 18 : 0) << r;
    }

    auto log = access_log();
    ASSERT_EQ(log.size(), std::size(cases));
    for (const auto& c : cases) {
        EXPECT_TRUE(std::any_of(log.begin(), log.end(),
                                [&](const auto& line) {
                                    return field(line, "result") == c.result &&
                                           field(line, "why").find(c.why) != std::string::npos;
                                }))
            << c.path << ": no line with result=" << c.result << " and why ~ " << c.why;
    }
}

// Issue 10 item 5, after termination: a client reading a large answer slowly but steadily keeps
// its connection though the whole transfer takes far longer than idle_timeout (see
// serve_forward_test.cpp for why the proxy's writes stay incomplete that long).
TEST_F(ServeHttp, SlowButSteadyClientIsNotIdle_Issue10) {
    auto& site1 = backend("site1");
    limits_ = "drain_timeout: 1s, idle_timeout: 1s";
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));
    const std::size_t size = 3 * 1024 * 1024;
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n";
    {
        TlsClient client(pki_.ca_pem(), "site1.test", port_);
        ASSERT_TRUE(client.send("GET /big?" + std::to_string(size) +
                                " HTTP/1.1\r\nHost: site1.test\r\n\r\n"));
        const std::string got = read_paced(
            [&](char* buffer, std::size_t capacity) { return client.read_some(buffer, capacity); },
            head.size() + size, 768 * 1024, 8 * 1024);
        ASSERT_EQ(got.size(), head.size() + size);
        EXPECT_EQ(got.substr(0, head.size()), head);
        EXPECT_TRUE(got.substr(head.size()) == pattern(size)) << "the answer arrived altered";
        // The connection is still there for the next request.
        const std::string after =
            client.exchange("GET /after HTTP/1.1\r\nHost: site1.test\r\nConnection: close\r\n\r\n");
        EXPECT_NE(after.find("\ntarget /after\n"), std::string::npos) << after;
    }

    auto log = access_log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(field(log[0], "result"), "closed") << field(log[0], "why");
    EXPECT_EQ(field(log[0], "requests"), "2");
}

// And a terminated connection on which nothing moves is still cut at idle_timeout.
TEST_F(ServeHttp, IdleClientIsCut_Issue10) {
    auto& site1 = backend("site1");
    limits_ = "drain_timeout: 1s, idle_timeout: 1s";
    start("sites:\n" + site("site1", binding("site1.test"), site1.url()));
    {
        TlsClient client(pki_.ca_pem(), "site1.test", port_);
        ASSERT_NE(client.exchange("GET /one HTTP/1.1\r\nHost: site1.test\r\n\r\n").find("200 OK"),
                  std::string::npos);
        EXPECT_EQ(client.read_response(), "");  // nothing more: the proxy closes
    }

    auto log = access_log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(field(log[0], "result"), "idle_timeout");
    EXPECT_EQ(field(log[0], "requests"), "1");
}

// No `sites`: the lab responder answers with the decision, as JSON by default.
TEST_F(ServeHttp, LabResponderAnswersWithTheDecisionAsJson) {
    start("");
    auto r = curl("lab.test", {"/hello", "/again"});
    ASSERT_EQ(r.codes, (std::vector<int>{200, 200})) << r;
    EXPECT_NE(r.verbose.find("< Content-Type: application/json"), std::string::npos) << r;
    auto j = nlohmann::json::parse(r.bodies[0], nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.bodies[0];
    EXPECT_EQ(j["sni"], "lab.test");
    EXPECT_EQ(j["step"], "ipv4_any");  // L4: no SNI record, the 0.0.0.0 record
    EXPECT_NE(j["record"].get<std::string>().find("0.0.0.0:" + std::to_string(port_)),
              std::string::npos)
        << j["record"];
    EXPECT_EQ(j["certificate"]["thumbprint"], front_.thumbprint.hex());
    EXPECT_EQ(j["tls"]["version"], "TLSv1.3");
    EXPECT_EQ(j["tls"]["alpn"], "http/1.1");  // curl offers h2 too; HTTP/1.1 is all we speak
    EXPECT_EQ(j["request"]["target"], "/hello");

    auto log = access_log();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(field(log[0], "requests"), "2");
}

// A browser (Accept: text/html) gets the same decision as text.
TEST_F(ServeHttp, LabResponderAnswersABrowserWithText) {
    start("");
    auto r = curl("lab.test", {"/"}, {"-H", "Accept: text/html,application/xhtml+xml,*/*;q=0.8"});
    ASSERT_EQ(r.codes, std::vector<int>{200}) << r;
    EXPECT_NE(r.verbose.find("< Content-Type: text/plain"), std::string::npos) << r;
    const std::string& text = r.bodies[0];
    EXPECT_NE(text.find("snibind lab responder"), std::string::npos) << text;
    EXPECT_NE(text.find(front_.thumbprint.hex()), std::string::npos) << text;
    EXPECT_NE(text.find("http/1.1"), std::string::npos) << text;
    EXPECT_EQ(text.find('{'), std::string::npos) << "not JSON: " << text;
}

// openssl s_client without SNI: the responder reports that none was sent (L4 still picks the
// 0.0.0.0 record) and that no ALPN was negotiated.
TEST_F(ServeHttp, LabResponderReportsNoSniFromSClient) {
    start("");
    auto h = s_client("127.0.0.1:" + std::to_string(port_), std::nullopt, {},
                      "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(h.thumbprint, front_.thumbprint.hex()) << h.output;
    auto status = h.output.find("HTTP/1.1 200 OK");
    ASSERT_NE(status, std::string::npos) << h.output;
    // The body by its Content-Length: s_client prints more (session tickets) after it.
    auto length_at = h.output.find("Content-Length: ", status);
    auto begin = h.output.find("\r\n\r\n", status);
    ASSERT_TRUE(length_at != std::string::npos && begin != std::string::npos) << h.output;
    auto length = std::stoul(h.output.substr(length_at + 16, 10));
    auto j = nlohmann::json::parse(h.output.substr(begin + 4, length), nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << h.output;
    EXPECT_TRUE(j["sni"].is_null()) << j["sni"];
    EXPECT_EQ(j["step"], "ipv4_any");
    EXPECT_TRUE(j["tls"]["alpn"].is_null()) << j["tls"]["alpn"];
    EXPECT_EQ(j["request"]["target"], "/x");
}

}  // namespace
}  // namespace snibind::test
