// snibind serve under bad clients and live operations (issue 3): slow, oversized and non-TLS
// clients are closed, counted and logged (clienthello.md: a hello that never completes closes,
// never routes); resets mid-stream do not disturb other connections; max_connections refuses;
// SIGHUP and store edits reload records and certificates (selection.md L1 sees the new table)
// without failing connections in flight; SIGTERM drains.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "serve_process.h"
#include "test_backend.h"
#include "test_pki.h"

namespace snibind::test {
namespace {

// Reads until `n` bytes arrived (or EOF/error); what was read.
std::string read_exactly(int fd, std::size_t n) {
    std::string out;
    char buf[4096];
    while (out.size() < n) {
        ssize_t r = recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
        if (r <= 0) break;
        out.append(buf, static_cast<std::size_t>(r));
    }
    return out;
}

// "127.0.0.1:PORT" of a connected socket's own end, as the access log shows the client.
std::string local_address(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(addr.sin_port));
}

int count(const std::string& text, const std::string& needle) {
    int n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

class ServeRobustness : public ::testing::Test {
  protected:
    ServeRobustness() : pki_(dir_.path() / "certs") {}

    void TearDown() override {
        if (!serve_) return;
        serve_->stop();
        EXPECT_FALSE(has_sanitizer_report(serve_->log())) << serve_->log();
    }

    // Writes config.yaml (atomically: a reload never reads half a file) and returns its path.
    std::filesystem::path write_config(const std::string& body,
                                       const std::string& limits = "drain_timeout: 1s") {
        auto path = dir_.path() / "config.yaml";
        auto temp = dir_.path() / "config.yaml.new";
        std::ofstream(temp) << "limits: { " << limits << " }\nlisten: [\"127.0.0.1:" << p()
                            << "\"]\n"
                            << body;
        std::filesystem::rename(temp, path);
        return path;
    }

    ServeProcess& start(const std::string& body, const std::string& limits = "drain_timeout: 1s",
                        std::vector<std::string> args = {}) {
        serve_ = std::make_unique<ServeProcess>(write_config(body, limits), std::move(args));
        return *serve_;
    }

    std::vector<std::vector<std::pair<std::string, std::string>>> stop_and_read_log() {
        EXPECT_EQ(serve_->stop(), 0);
        return parse_access_log(serve_->access_log());
    }

    // `records:` with the default record (L4) serving `cert`, terminated.
    std::string default_record(const TestPki::Issued& cert) {
        return "records:\n  \"ipport=0.0.0.0:" + p() + "\": { certificate: " + cert.pem.string() +
               " }\n";
    }
    std::string forward_record(const TestBackend& backend) {
        return "records:\n  \"ipport=0.0.0.0:" + p() + "\": { certificate: " + a_.pem.string() +
               ", action: forward, backend: \"" + backend.address() + "\" }\n";
    }

    HandshakeResult handshake() { return s_client("127.0.0.1:" + p(), "www.example.com"); }

    std::string p() const { return std::to_string(port_); }

    TempDir dir_;
    TestPki pki_;
    TestPki::Issued a_ = pki_.issue("a", "a.test", {"a.test"});
    TestPki::Issued b_ = pki_.issue("b", "b.test", {"b.test"});
    std::uint16_t port_ = free_port();
    std::unique_ptr<ServeProcess> serve_;
};

struct BadClientCase {
    std::string name;
    std::string bytes;
    std::vector<std::string> results;  // the access log's result, any of these
};

// clienthello.md: a hello that is incomplete at the deadline, too large, or not TLS at all is
// closed without routing; each is logged and counted, and the server keeps serving.
TEST_F(ServeRobustness, BadClientsAreClosedLoggedAndCounted) {
    start(default_record(a_), "drain_timeout: 1s, hello_timeout: 1s, max_hello_bytes: 1024");
    const std::string chromium = hello_fixture("chromium.bin");
    ASSERT_GT(chromium.size(), 1024u);
    const std::vector<BadClientCase> cases{
        {"slow client: a partial hello, then nothing",
         hello_fixture("openssl-sni.bin").substr(0, 40),
         {"hello_timeout"}},
        {"a real hello over max_hello_bytes", chromium, {"too_large", "hello_too_large"}},
        {"plain HTTP on the TLS port", "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", {"not_tls"}},
    };
    std::vector<std::string> clients;  // each case's own address: log lines come in any order
    for (const auto& c : cases) {
        TcpClient client("127.0.0.1", port_);
        clients.push_back(local_address(client.fd()));
        ASSERT_TRUE(client.send(c.bytes)) << c.name;
        // No shutdown_write: the server alone decides to close.
        EXPECT_EQ(client.read_all(), "") << c.name << ": the server must not answer";
    }
    auto good = handshake();
    EXPECT_EQ(good.thumbprint, a_.thumbprint.hex()) << good.output;

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), cases.size() + 1) << serve_->access_log();
    for (std::size_t i = 0; i < cases.size(); ++i) {
        auto line = std::find_if(log.begin(), log.end(),
                                 [&](const auto& l) { return field(l, "client") == clients[i]; });
        ASSERT_NE(line, log.end()) << cases[i].name << "\n" << serve_->access_log();
        const auto& want = cases[i].results;
        EXPECT_NE(std::find(want.begin(), want.end(), field(*line, "result")), want.end())
            << cases[i].name << ": " << field(*line, "result");
        EXPECT_EQ(field(*line, "step"), "-") << cases[i].name << ": never routed";
        EXPECT_EQ(field(*line, "in"), std::to_string(cases[i].bytes.size())) << cases[i].name;
    }
    auto summary = serve_->wait_for_log("stopped: ");
    EXPECT_NE(summary.find("accepted=4 "), std::string::npos) << summary;
    EXPECT_NE(summary.find("hello_timeouts=1 "), std::string::npos) << summary;
    EXPECT_NE(summary.find("terminated=1 "), std::string::npos) << summary;
}

// A client that resets an established forward relay: its own line says so, the backend's side
// is closed, and the next connection is relayed as usual.
TEST_F(ServeRobustness, ClientResetMidStreamInForwardMode) {
    TestBackend backend("greeting\n", "bye\n");
    start(forward_record(backend));
    const std::string hello = hello_fixture("openssl-sni.bin");
    {
        TcpClient client("127.0.0.1", port_);
        ASSERT_TRUE(client.send(hello));
        // The greeting proves the relay is up both ways before the reset.
        ASSERT_EQ(read_exactly(client.fd(), 9), "greeting\n");
        client.reset();
    }
    auto first = backend.wait_for(1);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0], hello);
    {
        TcpClient client("127.0.0.1", port_);
        ASSERT_TRUE(client.send(hello));
        client.shutdown_write();
        EXPECT_EQ(client.read_all(), "greeting\nbye\n");
    }
    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 2u) << serve_->access_log();
    // The lines come as the connections end, not as they began: compare them in any order.
    std::multiset<std::string> results{field(log[0], "result"), field(log[1], "result")};
    EXPECT_EQ(results, (std::multiset<std::string>{"client_reset", "closed"}));
}

// A client that resets in the middle of the TLS handshake (after the ServerHello): logged, and
// the next handshake completes with the selected certificate.
TEST_F(ServeRobustness, ClientResetMidHandshakeInTerminateMode) {
    start(default_record(a_));
    {
        TcpClient client("127.0.0.1", port_);
        ASSERT_TRUE(client.send(hello_fixture("openssl-sni.bin")));
        auto first = read_exactly(client.fd(), 6);
        ASSERT_EQ(first.size(), 6u);
        EXPECT_EQ(first[0], '\x16') << "a handshake record";
        EXPECT_EQ(first[5], '\x02') << "a ServerHello";
        client.reset();
    }
    auto good = handshake();
    EXPECT_TRUE(good.connected) << good.output;
    EXPECT_EQ(good.thumbprint, a_.thumbprint.hex()) << good.output;

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 2u) << serve_->access_log();
    // In the order the connections ended, which need not be the order they began.
    const bool reset_first = field(log[0], "result") != "closed";
    const auto& reset_line = log[reset_first ? 0 : 1];
    EXPECT_EQ(field(reset_line, "action"), "terminate");
    EXPECT_NE(field(reset_line, "result"), "closed");
    EXPECT_EQ(field(log[reset_first ? 1 : 0], "result"), "closed");
}

// Over max_connections, a connection is refused with a reset instead of being queued.
TEST_F(ServeRobustness, ConnectionsOverMaxConnectionsAreRefused) {
    TestBackend backend("greeting\n", "");
    start(forward_record(backend), "drain_timeout: 1s, max_connections: 1", {"--threads", "1"});
    TcpClient held("127.0.0.1", port_);
    ASSERT_TRUE(held.send(hello_fixture("openssl-sni.bin")));
    ASSERT_EQ(read_exactly(held.fd(), 9), "greeting\n");  // accepted and live
    {
        TcpClient over("127.0.0.1", port_);  // the kernel completes the connect; snibind refuses
        bool reset = false;
        EXPECT_EQ(over.read_all(&reset), "");
        EXPECT_TRUE(reset);
    }
    held.shutdown_write();
    EXPECT_EQ(held.read_all(), "");

    auto log = stop_and_read_log();
    EXPECT_EQ(log.size(), 1u) << "a refused connection has no line: " << serve_->access_log();
    auto summary = serve_->wait_for_log("stopped: ");
    EXPECT_NE(summary.find("accepted=2 "), std::string::npos) << summary;
    EXPECT_NE(summary.find("refused=1 "), std::string::npos) << summary;
}

// SIGHUP reloads: new connections see the new record's certificate (L1 on the new table).
TEST_F(ServeRobustness, SighupReloadServesTheNewCertificate) {
    start(default_record(a_));
    auto before = handshake();
    EXPECT_EQ(before.thumbprint, a_.thumbprint.hex()) << before.output;

    write_config(default_record(b_));
    serve_->signal(SIGHUP);
    serve_->wait_for_log("reloaded (SIGHUP)");
    auto after = handshake();
    EXPECT_EQ(after.thumbprint, b_.thumbprint.hex()) << after.output;

    auto log = stop_and_read_log();
    EXPECT_EQ(log.size(), 2u) << serve_->access_log();
}

// A config that does not load is refused on reload; the running one keeps serving.
TEST_F(ServeRobustness, BadConfigOnReloadIsRefusedAndTheOldOneStays) {
    start(default_record(a_));
    write_config(default_record(b_) + "no_such_key: 1\n");
    serve_->signal(SIGHUP);
    auto refused = serve_->wait_for_log("reload (SIGHUP) refused");
    EXPECT_NE(refused.find("no_such_key"), std::string::npos) << refused;
    auto after = handshake();
    EXPECT_EQ(after.thumbprint, a_.thumbprint.hex()) << after.output;
    EXPECT_EQ(serve_->log().find("reloaded"), std::string::npos) << serve_->log();
}

// The store file is watched: `snibind netsh http update sslcert --store FILE` on the live store
// reloads it, and new connections get the record's new certificate.
TEST_F(ServeRobustness, StoreFileEditedWithNetshIsReloaded) {
    auto store = dir_.path() / "sslcert.txt";
    const std::string key = "ipport=0.0.0.0:" + p();
    const std::string appid = "appid={4dc3e181-e14b-4a21-b022-59fc669b0914}";
    auto netsh = [&](const std::string& verb, const TestPki::Issued& cert) {
        RunResult netsh =
            run({snibind_binary().string(), "netsh", "--store", store.string(), "http", verb,
                 "sslcert", key, "certhash=" + cert.thumbprint.hex(), appid});
        EXPECT_EQ(netsh.status, 0) << netsh.out << netsh.err;
    };
    netsh("add", a_);
    start("store: " + store.string() + "\ncertificates: [" + a_.pem.string() + ", " +
          b_.pem.string() + "]\n");
    auto before = handshake();
    EXPECT_EQ(before.thumbprint, a_.thumbprint.hex()) << before.output;

    netsh("update", b_);
    serve_->wait_for_log("reloaded (store file changed)");
    auto after = handshake();
    EXPECT_EQ(after.thumbprint, b_.thumbprint.hex()) << after.output;
}

// Reload under traffic: a client keeps connecting while SIGHUP swaps records several times;
// every connection gets a ServerHello. Every config lists all certificates, so a connection
// that straddles a reload finds its certificate under either runtime.
TEST_F(ServeRobustness, ReloadUnderTrafficFailsNoConnection) {
    auto c = pki_.issue("c", "c.test", {"c.test"});
    auto config = [&](int extra_records) {
        std::string body = "certificates: [" + a_.pem.string() + ", " + b_.pem.string() + ", " +
                           c.pem.string() + "]\nrecords:\n  \"ipport=0.0.0.0:" + p() +
                           "\": { certificate: " + (extra_records % 2 ? b_ : a_).pem.string() +
                           " }\n";
        for (int i = 0; i < extra_records; ++i)
            body += "  \"hostnameport=h" + std::to_string(i) + ".test:" + p() +
                    "\": { certificate: " + c.pem.string() + " }\n";
        return body;
    };
    start(config(0));
    const std::string hello = hello_fixture("openssl-sni.bin");

    std::mutex mutex;
    std::condition_variable progressed;
    int attempts = 0, failures = 0;
    std::atomic<bool> done{false};
    std::thread traffic([&] {
        while (!done) {
            bool ok = false;
            try {
                TcpClient client("127.0.0.1", port_);
                auto first = client.send(hello) ? read_exactly(client.fd(), 6) : std::string();
                ok = first.size() == 6 && first[0] == '\x16' && first[5] == '\x02';
            } catch (const std::exception&) {
            }
            std::lock_guard lock(mutex);
            ++attempts;
            failures += ok ? 0 : 1;
            progressed.notify_all();
        }
    });
    auto wait_for_traffic = [&](int more) {
        std::unique_lock lock(mutex);
        int target = attempts + more;
        progressed.wait_for(lock, std::chrono::seconds(30), [&] { return attempts >= target; });
    };
    for (int reload = 1; reload <= 5; ++reload) {
        wait_for_traffic(3);
        write_config(config(reload));
        serve_->signal(SIGHUP);
        serve_->wait_for_log("reloaded (SIGHUP): " + std::to_string(reload + 1) + " records");
    }
    wait_for_traffic(3);
    done = true;
    traffic.join();

    EXPECT_EQ(failures, 0) << "of " << attempts;
    EXPECT_GE(attempts, 18);
    EXPECT_EQ(count(serve_->log(), "reloaded (SIGHUP)"), 5);
    auto log = stop_and_read_log();
    EXPECT_EQ(log.size(), static_cast<std::size_t>(attempts));
}

// SIGTERM stops accepting but lets an open connection finish: it still relays both ways during
// the drain, it is logged, and the exit status is 0.
TEST_F(ServeRobustness, SigtermDrainsAnOpenConnection) {
    TestBackend backend("greeting\n", "answer\n");
    // A long drain timeout: the connection must end by itself, not be cut off.
    start(forward_record(backend), "drain_timeout: 30s");
    const std::string hello = hello_fixture("openssl-sni.bin");
    TcpClient client("127.0.0.1", port_);
    ASSERT_TRUE(client.send(hello));
    ASSERT_EQ(read_exactly(client.fd(), 9), "greeting\n");

    serve_->signal(SIGTERM);
    serve_->wait_for_log("draining");
    ASSERT_TRUE(client.send("during the drain"));
    client.shutdown_write();
    EXPECT_EQ(client.read_all(), "answer\n");

    EXPECT_EQ(serve_->stop(), 0);  // waits for the drain to end: SIGTERM was sent already
    EXPECT_EQ(serve_->log().find("drain timeout"), std::string::npos) << serve_->log();
    auto log = parse_access_log(serve_->access_log());
    ASSERT_EQ(log.size(), 1u) << serve_->access_log();
    EXPECT_EQ(field(log[0], "result"), "closed");
    EXPECT_EQ(field(log[0], "in"), std::to_string(hello.size() + 16));
    auto received = backend.wait_for(1);
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0], hello + "during the drain");
}

}  // namespace
}  // namespace snibind::test
