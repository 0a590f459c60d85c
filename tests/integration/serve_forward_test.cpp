// snibind serve in forward mode (issue 3): the backend gets the client's bytes exactly as they
// came (src/tls/README.md: a hello in any number of writes and records), behind an optional PROXY
// v1/v2 header; half-close passes through; a dead backend is a clean close; the record's flags
// still apply before forwarding (src/bindings/README.md L7).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <openssl/ssl.h>

#include "paced_reader.h"
#include "serve_process.h"
#include "test_backend.h"
#include "test_pki.h"

namespace snibind::test {
namespace {

// The same handshake bytes re-cut into TLS records of at most `fragment` bytes each: a hello
// split across records, as src/tls/README.md allows.
std::string resplit_records(const std::string& records, std::size_t fragment) {
    std::string message;
    for (std::size_t at = 0; at + 5 <= records.size();) {
        std::size_t length = static_cast<std::uint8_t>(records[at + 3]) << 8 |
                             static_cast<std::uint8_t>(records[at + 4]);
        message += records.substr(at + 5, length);
        at += 5 + length;
    }
    std::string out;
    for (std::size_t at = 0; at < message.size(); at += fragment) {
        std::string piece = message.substr(at, fragment);
        out += {'\x16', '\x03', '\x01', static_cast<char>(piece.size() >> 8),
                static_cast<char>(piece.size() & 0xff)};
        out += piece;
    }
    return out;
}

int count_records(const std::string& records) {
    int n = 0;
    for (std::size_t at = 0; at + 5 <= records.size(); ++n)
        at += 5 + (static_cast<std::uint8_t>(records[at + 3]) << 8 |
                   static_cast<std::uint8_t>(records[at + 4]));
    return n;
}

// The local address of a connected socket, as the proxy sees the client.
Endpoint local_endpoint(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    Endpoint e;
    if (ss.ss_family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        e.addr = IpAddress::from_v6(a->sin6_addr.s6_addr);
        e.port = ntohs(a->sin6_port);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        e.addr = IpAddress::from_v4(ntohl(a->sin_addr.s_addr));
        e.port = ntohs(a->sin_port);
    }
    return e;
}

std::string be16(std::uint16_t v) {
    return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

// A PROXY v2 header for TCP over IPv4, written from the spec (proxy-protocol.txt 2.2).
std::string proxy_v2_tcp4(std::uint32_t src, std::uint16_t sport, std::uint32_t dst,
                          std::uint16_t dport) {
    std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
    h += "\x21\x11";  // version 2, PROXY; AF_INET, STREAM
    h += be16(12);
    for (std::uint32_t a : {src, dst})
        for (int shift = 24; shift >= 0; shift -= 8) h += static_cast<char>(a >> shift & 0xff);
    h += be16(sport) + be16(dport);
    return h;
}

constexpr std::uint32_t kLoopback = 0x7f000001;

// The slow reader of the idle-timeout tests: a few seconds in all, never more than a few
// milliseconds without reading.
constexpr std::size_t kSlowTransferBytes = 3 * 1024 * 1024;
constexpr double kSlowReaderRate = 768 * 1024;  // bytes per second
constexpr std::size_t kSlowReaderChunk = 8 * 1024;

class ServeForward : public ::testing::Test {
  protected:
    ServeForward() : pki_(dir_.path() / "certs") {}

    void TearDown() override {
        if (!serve_) return;
        serve_->stop();
        EXPECT_FALSE(has_sanitizer_report(serve_->log())) << serve_->log();
    }

    // Starts snibind serve on 127.0.0.1:port_ with `records` (YAML lines under `records:`) and
    // `more` top-level YAML lines.
    ServeProcess& start(const std::string& records, const std::string& listen = {},
                        const std::string& more = {}) {
        auto path = dir_.path() / "config.yaml";
        std::ofstream(path) << "limits: { " << limits_ << " }\n"
                            << more << "listen: "
                            << (listen.empty() ? "[\"127.0.0.1:" + p() + "\"]" : listen)
                            << "\nrecords:\n"
                            << records;
        serve_ = std::make_unique<ServeProcess>(path);
        return *serve_;
    }

    // A forward record for `key` (netsh key syntax) to `backend`, with extra YAML fields.
    std::string forward_record(const std::string& key, const TestBackend& backend,
                               const std::string& extra = {}) {
        return "  \"" + key + "\": { certificate: " + cert_.pem.string() +
               ", action: forward, backend: \"" + backend.address() + "\"" + extra + " }\n";
    }

    // Stops the server and returns its access log, one map per line.
    std::vector<std::vector<std::pair<std::string, std::string>>> stop_and_read_log() {
        EXPECT_EQ(serve_->stop(), 0);
        return parse_access_log(serve_->access_log());
    }

    std::string p() const { return std::to_string(port_); }

    TempDir dir_;
    TestPki pki_;
    TestPki::Issued cert_ = pki_.issue("fwd", "fwd.test", {"fwd.test", "www.example.com"});
    std::uint16_t port_ = free_port();
    std::string limits_ = "drain_timeout: 1s";  // the `limits:` mapping's contents
    std::unique_ptr<ServeProcess> serve_;
};

// The real captures carry SNI www.example.com; this record forwards them.
std::string example_key(const std::string& port) {
    return "hostnameport=www.example.com:" + port;
}

struct ByteExactCase {
    std::string name;
    std::string hello;
    std::size_t write_size;  // bytes per send(); 1 sends a byte per write
};

// src/tls/README.md: the reader must cope with a hello in any number of TCP segments and TLS
// records, and forward mode replays every byte it read, unchanged, followed by the rest.
TEST_F(ServeForward, BackendReceivesClientBytesExactly) {
    TestBackend backend;
    // The fragmented capture names a long host, which falls through to the 0.0.0.0 record (L4).
    start(forward_record(example_key(p()), backend) +
          forward_record("ipport=0.0.0.0:" + p(), backend));
    const std::string fragmented = hello_fixture("openssl-fragmented.bin");
    ASSERT_EQ(count_records(fragmented), 2);  // the capture itself spans two records
    const std::string resplit = resplit_records(hello_fixture("chromium.bin"), 100);
    ASSERT_GT(count_records(resplit), 10);
    const std::vector<ByteExactCase> cases{
        {"chromium in one write", hello_fixture("chromium.bin"), 1 << 16},
        {"openssl one byte per write", hello_fixture("openssl-sni.bin"), 1},
        {"curl one byte per write", hello_fixture("curl.bin"), 1},
        {"openssl-fragmented (2 records) in 7-byte writes", fragmented, 7},
        {"chromium re-cut into 100-byte records, 1 byte per write", resplit, 1},
    };
    using namespace std::string_literals;
    const std::string after = "application bytes after the hello\x17\x03\x03\x00\x01\x00"s;
    std::vector<std::string> clients;  // each case's client address, to find its log line
    for (const auto& c : cases) {
        TcpClient client("127.0.0.1", port_);
        clients.push_back(local_endpoint(client.fd()).to_string());
        for (std::size_t at = 0; at < c.hello.size(); at += c.write_size)
            ASSERT_TRUE(client.send(std::string_view(c.hello).substr(at, c.write_size))) << c.name;
        ASSERT_TRUE(client.send(after));
        client.shutdown_write();
        bool reset = false;
        EXPECT_EQ(client.read_all(&reset), "") << c.name;
        EXPECT_FALSE(reset) << c.name;
    }
    auto received = backend.wait_for(cases.size());
    ASSERT_EQ(received.size(), cases.size());
    for (std::size_t i = 0; i < cases.size(); ++i)
        EXPECT_EQ(received[i], cases[i].hello + after) << cases[i].name;

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), cases.size()) << serve_->access_log();
    for (std::size_t i = 0; i < cases.size(); ++i) {
        // Lines are written as connections end, by whichever worker had them: find by client.
        auto line = std::find_if(log.begin(), log.end(),
                                 [&](const auto& l) { return field(l, "client") == clients[i]; });
        ASSERT_NE(line, log.end()) << cases[i].name << "\n" << serve_->access_log();
        EXPECT_EQ(field(*line, "action"), "forward");
        EXPECT_EQ(field(*line, "backend"), backend.address());
        EXPECT_EQ(field(*line, "in"), std::to_string(cases[i].hello.size() + after.size()));
        EXPECT_EQ(field(*line, "result"), "closed");
    }
    // The suite runs twice (tests/CMakeLists.txt): with the calls batched through io_uring where
    // the kernel has it, and once more with SNIBIND_IO_URING=0, one call each.
    const char* io_uring = std::getenv("SNIBIND_IO_URING");
    const std::string said = "forward path: calls batched per event batch: ";
    if (io_uring && std::string_view(io_uring) == "0")
        EXPECT_NE(serve_->log().find(said + "off (SNIBIND_IO_URING=0)\n"), std::string::npos)
            << serve_->log();
    else
        EXPECT_NE(serve_->log().find(said), std::string::npos) << serve_->log();
}

// The PROXY header sent to the backend carries the client's address and the destination it
// connected to, then the client's bytes follow unchanged.
TEST_F(ServeForward, ProxyProtocolV1AndV2Headers) {
    TestBackend v1_backend, v2_backend;
    auto port2 = free_port();
    start(forward_record(example_key(p()), v1_backend, ", proxy_protocol: v1") +
              forward_record("ipport=0.0.0.0:" + std::to_string(port2), v2_backend,
                             ", proxy_protocol: v2"),
          "[\"127.0.0.1:" + p() + "\", \"127.0.0.1:" + std::to_string(port2) + "\"]");
    const std::string hello = hello_fixture("openssl-sni.bin");
    auto send_hello = [&](std::uint16_t port) {
        TcpClient client("127.0.0.1", port);
        Endpoint self = local_endpoint(client.fd());
        client.send(hello);
        client.shutdown_write();
        client.read_all();
        return self;
    };
    Endpoint v1_client = send_hello(port_);
    Endpoint v2_client = send_hello(port2);
    auto v1 = v1_backend.wait_for(1);
    auto v2 = v2_backend.wait_for(1);
    ASSERT_EQ(v1.size(), 1u);
    ASSERT_EQ(v2.size(), 1u);

    // v1: "PROXY TCP4 <client> <dst> <client port> <dst port>\r\n", then the hello.
    EXPECT_EQ(v1[0], "PROXY TCP4 127.0.0.1 127.0.0.1 " + std::to_string(v1_client.port) + " " +
                         p() + "\r\n" + hello);
    std::string header = proxy_v2_tcp4(kLoopback, v2_client.port, kLoopback, port2);
    EXPECT_EQ(v2[0], header + hello);

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 2u) << serve_->access_log();
    // Written as connections end, by whichever worker had them: in either order.
    std::set<std::string> clients{field(log[0], "client"), field(log[1], "client")};
    EXPECT_EQ(clients, (std::set<std::string>{v1_client.to_string(), v2_client.to_string()}));
}

// src/tls/README.md: behind a load balancer (accept_proxy), the destination in the incoming header
// is the address selection uses; the incoming header is consumed, never replayed. With
// proxy_protocol set, the outgoing header carries the addresses the incoming one gave.
TEST_F(ServeForward, IncomingProxyHeaderSelectsByItsDestination) {
    TestBackend by_ip, fallback, by_ip_v2;
    start(forward_record("ipport=127.0.0.2:" + p(), by_ip) +
              forward_record("ipport=127.0.0.3:" + p(), by_ip_v2, ", proxy_protocol: v2") +
              forward_record("ipport=0.0.0.0:" + p(), fallback),
          "[{ address: \"127.0.0.1:" + p() + "\", accept_proxy: true }]");
    const std::string hello = hello_fixture("openssl-nosni.bin");
    auto send_with_header = [&](const std::string& header) {
        TcpClient client("127.0.0.1", port_);
        // Header and hello in separate writes: the reader must not need them in one segment.
        ASSERT_TRUE(client.send(header));
        ASSERT_TRUE(client.send(hello));
        client.shutdown_write();
        client.read_all();
    };
    send_with_header("PROXY TCP4 127.0.0.9 127.0.0.2 5555 " + p() + "\r\n");
    send_with_header(proxy_v2_tcp4(0x7f000009, 6666, 0x7f000003, port_));
    send_with_header("PROXY TCP4 127.0.0.9 127.0.0.1 7777 " + p() + "\r\n");

    auto ip = by_ip.wait_for(1);
    ASSERT_EQ(ip.size(), 1u);
    EXPECT_EQ(ip[0], hello) << "the incoming header must not reach the backend";
    auto ip_v2 = by_ip_v2.wait_for(1);
    ASSERT_EQ(ip_v2.size(), 1u);
    EXPECT_EQ(ip_v2[0], proxy_v2_tcp4(0x7f000009, 6666, 0x7f000003, port_) + hello);
    auto other = fallback.wait_for(1);
    ASSERT_EQ(other.size(), 1u);
    EXPECT_EQ(other[0], hello);

    // Lines are written as connections end, by whichever worker had them: find by client.
    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 3u) << serve_->access_log();
    auto line_of = [&](const std::string& client) {
        for (const auto& line : log)
            if (field(line, "client") == client) return line;
        ADD_FAILURE() << "no access-log line for client " << client << ":\n"
                      << serve_->access_log();
        return log[0];
    };
    auto v1 = line_of("127.0.0.9:5555");
    EXPECT_EQ(field(v1, "dst"), "127.0.0.2:" + p());
    EXPECT_EQ(field(v1, "step"), "ip_exact");
    auto v2 = line_of("127.0.0.9:6666");
    EXPECT_EQ(field(v2, "dst"), "127.0.0.3:" + p());
    EXPECT_EQ(field(v2, "step"), "ip_exact");
    EXPECT_EQ(field(line_of("127.0.0.9:7777"), "step"), "ipv4_any");
}

// listen.defer_accept: false: the listener accepts at the SYN's completion, before the client has
// sent anything, so the hello phase starts with an empty socket and waits on the event loop (the
// path a deferred accept rarely takes). A PROXY header and a hello sent a byte at a time still
// reach the backend exactly; a client that sends nothing is closed by the hello deadline.
TEST_F(ServeForward, WithoutDeferredAcceptTheHelloIsAwaited) {
    TestBackend backend;
    limits_ = "drain_timeout: 1s, hello_timeout: 300ms";
    start(forward_record("ipport=0.0.0.0:" + p(), backend, ", proxy_protocol: v2"),
          "[{ address: \"127.0.0.1:" + p() + "\", accept_proxy: true, defer_accept: false }]");
    const std::string hello = hello_fixture("openssl-sni.bin");
    const std::string header = proxy_v2_tcp4(0x7f000009, 6666, kLoopback, port_);
    {
        TcpClient client("127.0.0.1", port_);
        const std::string bytes = header + hello + "after";
        for (std::size_t at = 0; at < bytes.size(); ++at)
            ASSERT_TRUE(client.send(std::string_view(bytes).substr(at, 1)));
        client.shutdown_write();
        bool reset = false;
        EXPECT_EQ(client.read_all(&reset), "");
        EXPECT_FALSE(reset);
    }
    TcpClient silent("127.0.0.1", port_);
    const std::string silent_address = local_endpoint(silent.fd()).to_string();
    EXPECT_EQ(silent.read_all(), "") << "closed by the hello deadline, unanswered";

    auto received = backend.wait_for(1);
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0], header + hello + "after");  // the incoming header, forwarded as v2
    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 2u) << serve_->access_log();
    for (const auto& line : log) {
        if (field(line, "client") == silent_address) {
            EXPECT_EQ(field(line, "result"), "hello_timeout");
        } else {
            EXPECT_EQ(field(line, "client"), "127.0.0.9:6666");
            EXPECT_EQ(field(line, "result"), "closed");
            // Every byte the client sent, its own PROXY header included.
            EXPECT_EQ(field(line, "in"), std::to_string(header.size() + hello.size() + 5));
        }
    }
}

// Half-close: the client's EOF reaches the backend while the backend's direction stays open, so
// an answer written after the backend saw EOF still reaches the client.
TEST_F(ServeForward, HalfCloseLetsTheBackendAnswerAfterClientEof) {
    TestBackend backend(BackendOptions{"greeting\n", "answer after your EOF\n", nullptr});
    start(forward_record(example_key(p()), backend));
    const std::string hello = hello_fixture("openssl-sni.bin");
    TcpClient client("127.0.0.1", port_);
    ASSERT_TRUE(client.send(hello));
    ASSERT_TRUE(client.send("request"));
    client.shutdown_write();
    bool reset = false;
    EXPECT_EQ(client.read_all(&reset), "greeting\nanswer after your EOF\n");
    EXPECT_FALSE(reset);
    auto received = backend.wait_for(1);
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0], hello + "request");

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 1u) << serve_->access_log();
    EXPECT_EQ(field(log[0], "out"), "31");
    EXPECT_EQ(field(log[0], "result"), "closed");
}

// A backend that refuses the connection: the client sees an orderly close (EOF, not a reset)
// and the access log says why.
TEST_F(ServeForward, BackendDownClosesCleanlyAndLogs) {
    auto dead_port = free_port();  // nothing listens there
    start("  \"" + example_key(p()) + "\": { certificate: " + cert_.pem.string() +
          ", action: forward, backend: \"127.0.0.1:" + std::to_string(dead_port) + "\" }\n");
    TcpClient client("127.0.0.1", port_);
    ASSERT_TRUE(client.send(hello_fixture("openssl-sni.bin")));
    bool reset = true;
    EXPECT_EQ(client.read_all(&reset), "");
    EXPECT_FALSE(reset);

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 1u) << serve_->access_log();
    EXPECT_EQ(field(log[0], "action"), "forward");
    EXPECT_EQ(field(log[0], "result"), "backend_down");
    EXPECT_NE(field(log[0], "why").find(std::to_string(dead_port)), std::string::npos);
}

// `applications:` gives every store record of one appid an action, so a store of many names
// forwards without a YAML entry per name; a record with its own `records:` entry keeps that one.
// A forwarded record's certificate is the backend's: not loaded here, and no L9 failure for it.
TEST_F(ServeForward, StoreRecordsForwardByTheirApplication) {
    TestBackend backend;
    const std::string app = "{4dc3e181-e14b-4a21-b022-59fc669b0914}";
    auto block = [&](const std::string& host, const std::string& certhash) {
        return "    Hostname:port                : " + host + ":" + p() + "\n" +
               "    Certificate Hash             : " + certhash + "\n" +
               "    Application ID               : " + app + "\n\n";
    };
    auto store = dir_.path() / "sslcert.txt";
    std::ofstream(store) << "\nSSL Certificate bindings:\n-------------------------\n\n"
                         << block("www.example.com", std::string(40, 'a'))  // not loaded
                         << block("fwd.test", cert_.thumbprint.hex());
    start("  \"hostnameport=fwd.test:" + p() + "\": { action: terminate }\n", {},
          "store: " + store.string() + "\ncertificates: [" + cert_.pem.string() +
              "]\napplications:\n  \"" + app + "\": { action: forward, backend: \"" +
              backend.address() + "\" }\n");

    const std::string hello = hello_fixture("openssl-sni.bin");  // SNI www.example.com
    TcpClient client("127.0.0.1", port_);
    ASSERT_TRUE(client.send(hello));
    client.shutdown_write();
    EXPECT_EQ(client.read_all(), "");
    auto received = backend.wait_for(1);
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0], hello);

    auto s = s_client("127.0.0.1:" + p(), "fwd.test");
    EXPECT_EQ(s.thumbprint, cert_.thumbprint.hex()) << s.output;
    EXPECT_EQ(backend.accepted(), 1u);

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 2u) << serve_->access_log();
    for (const auto& line : log) {
        EXPECT_EQ(field(line, "action"),
                  field(line, "sni") == "www.example.com" ? "forward" : "terminate")
            << serve_->access_log();
    }
}

// Whether a socket of this host is in SYN_SENT towards 127.0.0.1:port (/proc/net/tcp, state 02).
bool connecting_to(std::uint16_t port) {
    std::ifstream tcp("/proc/net/tcp");
    const std::string remote = fmt::format(" 0100007F:{:04X} 02 ", port);
    for (std::string line; std::getline(tcp, line);)
        if (line.find(remote) != std::string::npos) return true;
    return false;
}

// A backend whose accept queue is full drops snibind's SYN: connect() cannot finish at once, the
// first sendmsg finds the socket not connected yet (EAGAIN), and the replay must wait for the
// connection, which the kernel's SYN retransmission completes once the queue has room.
TEST_F(ServeForward, BackendStillConnectingGetsTheReplayOnceConnected) {
    std::uint16_t backend_port = 0;
    const int listener = listen_on_loopback(backend_port, 0);  // a queue of one
    TcpClient filler("127.0.0.1", backend_port);               // ... now full
    start("  \"" + example_key(p()) + "\": { certificate: " + cert_.pem.string() +
          ", action: forward, backend: \"127.0.0.1:" + std::to_string(backend_port) + "\" }\n");
    const std::string hello = hello_fixture("openssl-sni.bin");
    TcpClient client("127.0.0.1", port_);
    ASSERT_TRUE(client.send(hello));
    client.shutdown_write();

    // Wait until snibind's SYN is out (and dropped), then make room.
    for (int i = 0; i < 10000 && !connecting_to(backend_port); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_TRUE(connecting_to(backend_port)) << "snibind never started connecting";
    close(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));               // the filler
    const int backend = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);  // snibind, retried
    ASSERT_GE(backend, 0);
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = recv(backend, buf, sizeof buf, 0)) > 0;)
        got.append(buf, static_cast<std::size_t>(n));
    EXPECT_EQ(got, hello);  // everything, once, after the wait
    ASSERT_EQ(send(backend, "answer", 6, MSG_NOSIGNAL), 6);
    close(backend);
    close(listener);
    EXPECT_EQ(client.read_all(), "answer");

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 1u) << serve_->access_log();
    EXPECT_EQ(field(log[0], "action"), "forward");
    EXPECT_EQ(field(log[0], "result"), "closed");
}

// L7 applies in forward mode too: a record with disablelegacytls refuses a client that offers
// only TLS 1.1 (protocol_version alert), and the backend never hears of it.
TEST_F(ServeForward, DisableLegacyTlsRefusesTls11BeforeForwarding_L7) {
    TestBackend backend;
    start(forward_record("hostnameport=fwd.test:" + p(), backend, ", disablelegacytls: true"));
    auto result =
        s_client("127.0.0.1:" + p(), "fwd.test", {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"});
    EXPECT_FALSE(result.connected) << result.output;
    EXPECT_NE(result.output.find("protocol version"), std::string::npos) << result.output;

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 1u) << serve_->access_log();
    EXPECT_EQ(field(log[0], "action"), "forward");
    EXPECT_EQ(field(log[0], "result"), "version_refused");
    EXPECT_EQ(backend.accepted(), 0u);
}

// End to end: a real TLS handshake goes through the forwarder untouched, so the client sees the
// backend's certificate, not the one on snibind's record.
TEST_F(ServeForward, RealTlsHandshakeSeesTheBackendsCertificate) {
    auto backend_cert = pki_.issue("backend", "backend.test", {"fwd.test"});
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                          SSL_CTX_free);
    ASSERT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), backend_cert.pem.c_str()), 1);
    ASSERT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), backend_cert.pem.c_str(), SSL_FILETYPE_PEM),
              1);
    TestBackend backend(BackendOptions{"", "hello over TLS\n", ctx.get()});
    start(forward_record("hostnameport=fwd.test:" + p(), backend));

    auto result = s_client("127.0.0.1:" + p(), "fwd.test", {}, "ping\n");
    EXPECT_TRUE(result.connected) << result.output;
    EXPECT_EQ(result.thumbprint, backend_cert.thumbprint.hex()) << result.output;
    EXPECT_NE(result.thumbprint, cert_.thumbprint.hex());
    EXPECT_NE(result.output.find("hello over TLS"), std::string::npos) << result.output;
    auto received = backend.wait_for(1);
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0], "ping\n");

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 1u) << serve_->access_log();
    EXPECT_EQ(field(log[0], "sni"), "fwd.test");
    EXPECT_EQ(field(log[0], "step"), "sni_exact");
}

// Issue 10 item 5: idle means that no byte moved either way. A client reading a large answer
// slowly, never pausing for long but taking far longer than idle_timeout in all, keeps its
// connection, although the proxy's writes to it stay incomplete for longer than idle_timeout: the
// kernel wakes a blocked writer only once a third of its (megabytes large) send buffer is free.
TEST_F(ServeForward, SlowButSteadyTransferIsNotIdle_Issue10) {
    std::string big(kSlowTransferBytes, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + i / 7);
    TestBackend backend(BackendOptions{big, "", nullptr});
    limits_ = "drain_timeout: 1s, idle_timeout: 1s";
    start(forward_record(example_key(p()), backend));

    TcpClient client("127.0.0.1", port_);
    ASSERT_TRUE(client.send(hello_fixture("openssl-sni.bin")));
    const std::string got = read_paced(
        [&](char* buffer, std::size_t size) { return ::recv(client.fd(), buffer, size, 0); },
        big.size(), kSlowReaderRate, kSlowReaderChunk);
    EXPECT_EQ(got.size(), big.size());
    EXPECT_TRUE(got == big) << "the transfer arrived altered";
    client.shutdown_write();
    EXPECT_EQ(client.read_all(), "");

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 1u) << serve_->access_log();
    EXPECT_EQ(field(log[0], "result"), "closed") << field(log[0], "why");
    EXPECT_EQ(field(log[0], "out"), std::to_string(big.size()));
}

// And a connection on which nothing moves is still cut at idle_timeout, both ends closed.
TEST_F(ServeForward, IdleConnectionIsCut_Issue10) {
    TestBackend backend;  // answers nothing until the proxy hangs up
    limits_ = "drain_timeout: 1s, idle_timeout: 1s";
    start(forward_record(example_key(p()), backend));

    TcpClient client("127.0.0.1", port_);
    ASSERT_TRUE(client.send(hello_fixture("openssl-sni.bin")));
    bool reset = true;
    EXPECT_EQ(client.read_all(&reset), "");
    EXPECT_FALSE(reset);
    EXPECT_EQ(backend.wait_for(1).size(), 1u);  // the backend saw its EOF too

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 1u) << serve_->access_log();
    EXPECT_EQ(field(log[0], "result"), "idle_timeout");
    EXPECT_NE(field(log[0], "why").find("1000 ms"), std::string::npos) << field(log[0], "why");
}

}  // namespace
}  // namespace snibind::test
