// snibind serve under bad clients and live operations (issue 3): slow, oversized and non-TLS
// clients are closed, counted and logged (src/tls/README.md: a hello that never completes closes,
// never routes); resets mid-stream do not disturb other connections; max_connections refuses;
// SIGHUP and store edits reload records and certificates (src/bindings/README.md L1 sees the new
// table) without failing connections in flight; SIGTERM drains. Issue 10: accepts pause instead of
// spinning when out of descriptors; a second server cannot share the listen addresses;
// max_connections holds across threads; a reload applies every setting or names it.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "serve_process.h"
#include "test_backend.h"
#include "test_pki.h"

namespace snibind::test {
namespace {

// Moves this test process (each ctest case is one) and everything it starts into a network
// namespace of its own with only a loopback interface, up. Tests that must listen on a wildcard
// address (0.0.0.0) do so there, never on the machine's interfaces. Needs root (CI is).
void own_network_namespace() {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET): " << std::strerror(errno);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    ASSERT_EQ(ioctl(fd, SIOCGIFFLAGS, &ifr), 0) << std::strerror(errno);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    ASSERT_EQ(ioctl(fd, SIOCSIFFLAGS, &ifr), 0) << std::strerror(errno);
    close(fd);
}

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

// The value of an unlabelled sample in Prometheus text ("name 12"), or -1 when it is missing.
double metric(const std::string& text, const std::string& name) {
    for (auto at = text.find(name + " "); at != std::string::npos;
         at = text.find(name + " ", at + 1))
        if (at == 0 || text[at - 1] == '\n') return std::atof(text.c_str() + at + name.size() + 1);
    return -1;
}

// utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15).
long cpu_ticks(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
    std::string skip;
    for (int i = 3; i < 14; ++i) fields >> skip;  // state .. cmajflt
    long utime = 0, stime = 0;
    fields >> utime >> stime;
    return utime + stime;
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
                        std::vector<std::string> args = {}, std::vector<std::string> wrapper = {}) {
        serve_ = std::make_unique<ServeProcess>(write_config(body, limits), std::move(args),
                                                std::move(wrapper));
        return *serve_;
    }

    // The admin console on a port of this test's own (the default 9443 is shared by every
    // server the suite runs in parallel).
    std::string admin() const {
        return "admin: \"127.0.0.1:" + std::to_string(admin_port_) + "\"\n";
    }
    // GET /metrics from the console.
    std::string metrics() {
        auto r = curl({"http://127.0.0.1:" + std::to_string(admin_port_) + "/metrics"});
        EXPECT_EQ(r.status, 0) << r.err;
        return r.out;
    }
    // POST /api/netsh with `token`: the HTTP status (401 when the console refuses the token).
    int post_with_token(const std::string& token) {
        auto r = curl({"-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H",
                       "Authorization: Bearer " + token, "--data", "{}",
                       "http://127.0.0.1:" + std::to_string(admin_port_) + "/api/netsh"});
        return std::atoi(r.out.c_str());
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
    std::uint16_t port_ = free_port(), admin_port_ = free_port();
    std::unique_ptr<ServeProcess> serve_;
};

struct BadClientCase {
    std::string name;
    std::string bytes;
    std::vector<std::string> results;  // the access log's result, any of these
};

// src/tls/README.md: a hello that is incomplete at the deadline, too large, or not TLS at all is
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

// Issue 10 item 8: limits.max_connections holds for the whole server, not per worker thread:
// with 2 threads (the kernel spreads connections over them as it likes) every one of the first
// max connections is served and the next is refused, and /metrics shows them open.
TEST_F(ServeRobustness, MaxConnectionsCountsAcrossWorkers) {
    constexpr int kMax = 8;
    // A long hello_timeout: the held handshakes must outlive the test's checks.
    start(default_record(a_) + admin(),
          "drain_timeout: 1s, hello_timeout: 60s, max_connections: " + std::to_string(kMax),
          {"--threads", "2"});
    const std::string hello = hello_fixture("openssl-sni.bin");
    std::vector<std::unique_ptr<TcpClient>> held;
    for (int i = 1; i <= kMax; ++i) {
        held.push_back(std::make_unique<TcpClient>("127.0.0.1", port_));
        ASSERT_TRUE(held.back()->send(hello));
        // A ServerHello: accepted and live (a refused connection reads a reset instead).
        auto first = read_exactly(held.back()->fd(), 6);
        ASSERT_EQ(first.size(), 6u) << "connection " << i << " of " << kMax << " was refused";
        EXPECT_EQ(first[5], '\x02');
    }
    {
        TcpClient over("127.0.0.1", port_);
        bool reset = false;
        EXPECT_EQ(over.read_all(&reset), "");
        EXPECT_TRUE(reset) << "connection " << kMax + 1 << " must be refused";
    }
    auto text = metrics();
    EXPECT_EQ(metric(text, "snibind_connections_open"), kMax) << text;
    EXPECT_EQ(metric(text, "snibind_connections_refused_total"), 1) << text;
    EXPECT_EQ(metric(text, "snibind_connections_accepted_total"), kMax + 1) << text;
}

// Issue 10 item 3: out of file descriptors, accept(2) fails with EMFILE and the connection stays
// queued; accepting again at once is a busy loop. The server pauses its acceptors (the proxy's
// and the console's) instead, counts and logs it, and serves again once descriptors are free.
TEST_F(ServeRobustness, OutOfFileDescriptorsPausesAcceptsInsteadOfSpinning) {
    constexpr int kNoFile = 64;  // the server's own descriptors (epoll, timers, ...) are ~20
    start(default_record(a_) + admin(), "drain_timeout: 1s, hello_timeout: 60s", {"--threads", "1"},
          {"prlimit", "--nofile=" + std::to_string(kNoFile)});
    // The paths the server takes while out of descriptors run once before: the sanitizer build's
    // UBSan checks a polymorphic type it meets for the first time with pipe(2), which fails
    // then, and it would report a bad vptr and abort. A hello's first byte, then EOF: the
    // connection waits on the worker's event loop for the rest (the idle clients below do too,
    // once the listener's deferred accept gives up on them), and the server closes it when the
    // EOF comes; /metrics asks the worker after that handler, so its log line is written too.
    {
        TcpClient closed_mid_hello("127.0.0.1", port_);
        ASSERT_TRUE(closed_mid_hello.send("\x16"));
        closed_mid_hello.shutdown_write();
        EXPECT_EQ(closed_mid_hello.read_all(), "");
    }
    metrics();
    {
        std::vector<std::unique_ptr<TcpClient>> clients;  // idle: never send a hello
        for (int i = 0; i < 2 * kNoFile; ++i)
            clients.push_back(std::make_unique<TcpClient>("127.0.0.1", port_));
        // One for the console's acceptor too: it ran out as well, on the main thread.
        clients.push_back(std::make_unique<TcpClient>("127.0.0.1", admin_port_));
        serve_->wait_for_log("out of file descriptors");
        const long cpu_before = cpu_ticks(serve_->pid());
        // The next report, at least a second later, says how often accept failed meanwhile.
        std::string still = serve_->wait_for_log("still out of file descriptors:");
        const long cpu_used = cpu_ticks(serve_->pid()) - cpu_before;
        // "... N failed accepts in the last M ms ..."
        unsigned long failures = 0, window_ms = 0;
        auto at = still.find("still out of file descriptors: ");
        ASSERT_EQ(std::sscanf(still.c_str() + at,
                              "still out of file descriptors: %lu failed "
                              "accepts in the last %lu ms",
                              &failures, &window_ms),
                  2)
            << still;
        ASSERT_GE(window_ms, 1000u) << still;
        // Each of the two acceptors tries again at most once per 100 ms back-off (a timer never
        // fires early, however loaded the machine): a spinning acceptor fails thousands of
        // times a second.
        EXPECT_LE(failures, 2 * (window_ms / 100 + 1)) << still;
        EXPECT_GE(failures, 1u) << still;
        // And the process is idle meanwhile (spinning, it burns a whole core): less than half
        // of the window's ticks, a bound that CPU time, unlike wall time, cannot overrun by load.
        const long window_ticks = static_cast<long>(window_ms) * sysconf(_SC_CLK_TCK) / 1000;
        EXPECT_LT(cpu_used, window_ticks / 2) << cpu_used << " ticks in " << still;
    }
    // The clients are gone: the server gets its descriptors back and serves again.
    auto good = handshake();
    EXPECT_EQ(good.thumbprint, a_.thumbprint.hex()) << good.output;
    auto text = metrics();
    EXPECT_GE(metric(text, "snibind_accept_fd_exhausted_total"), 1) << text;
}

// Issue 10 item 6: a second, unrelated server cannot take over addresses a running one (or any
// other program) listens on, although SO_REUSEPORT would let it bind: it fails at start naming
// the address, and the first keeps all the traffic. The workers of one server still share them.
TEST_F(ServeRobustness, ASecondServerOnTheSameAddressesFailsToStart) {
    ASSERT_NO_FATAL_FAILURE(own_network_namespace());  // one case listens on 0.0.0.0
    start(default_record(a_), "drain_timeout: 1s", {"--threads", "2"});
    // Another program listening with SO_REUSEPORT, as nginx's `reuseport` does.
    std::uint16_t other_port = free_port();
    struct Socket {
        int fd;
        ~Socket() { close(fd); }
    } other{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    int one = 1;
    setsockopt(other.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(other_port);
    ASSERT_EQ(bind(other.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(other.fd, 16), 0);

    struct Case {
        std::string name, listen, in_use;  // in_use: the address the error must name
        bool starts;
    };
    const std::string same = "127.0.0.1:" + p();
    const std::vector<Case> cases{
        {"the same address as the running server", same, same, false},
        {"the wildcard address on the running server's port", "0.0.0.0:" + p(), "0.0.0.0:" + p(),
         false},
        {"an address another program listens on with SO_REUSEPORT",
         "127.0.0.1:" + std::to_string(other_port), "127.0.0.1:" + std::to_string(other_port),
         false},
        {"another address on the same port", "127.0.0.2:" + p(), "", true},
    };
    for (const auto& c : cases) {
        auto config = dir_.path() / "second.yaml";
        std::ofstream(config) << "listen: [\"" << c.listen << "\"]\nadmin: off\n"
                              << default_record(b_) << "limits: { drain_timeout: 1s }\n";
        if (c.starts) {
            ServeProcess second(config);
            EXPECT_EQ(second.stop(), 0) << c.name;
            continue;
        }
        // A server that wrongly starts runs until run()'s safety limit kills it (status -1).
        RunResult r = run({snibind_binary().string(), "serve", config.string()}, {},
                          std::chrono::seconds(20));
        EXPECT_EQ(r.status, 1) << c.name << "\n" << r.err;
        EXPECT_NE(r.err.find("cannot listen on " + c.in_use), std::string::npos) << c.name << "\n"
                                                                                 << r.err;
        EXPECT_NE(r.err.find("in use"), std::string::npos) << c.name << "\n" << r.err;
        EXPECT_EQ(r.err.find("serving"), std::string::npos) << c.name << "\n" << r.err;
    }
    // The first server got every connection, on both of its workers' sockets.
    for (int i = 0; i < 4; ++i) {
        auto good = handshake();
        EXPECT_EQ(good.thumbprint, a_.thumbprint.hex()) << good.output;
    }
    auto log = stop_and_read_log();
    EXPECT_EQ(log.size(), 4u) << serve_->access_log();
}

// Issue 10 item 6: one server may still listen on a wildcard and on an address it covers (the
// one with accept_proxy, say), whatever their order in the config: only other processes are
// kept out.
TEST_F(ServeRobustness, OneServerListensOnAWildcardAndAnAddressItCovers) {
    ASSERT_NO_FATAL_FAILURE(own_network_namespace());  // it listens on 0.0.0.0
    auto config = dir_.path() / "config.yaml";
    std::ofstream(config) << "listen: [\"127.0.0.1:" << p() << "\", \"0.0.0.0:" << p()
                          << "\"]\nadmin: off\nlimits: { drain_timeout: 1s }\n"
                          << default_record(a_);
    serve_ = std::make_unique<ServeProcess>(config, std::vector<std::string>{"--threads", "2"});
    for (const std::string address : {"127.0.0.1", "127.0.0.2"}) {
        auto good = s_client(address + ":" + p(), "www.example.com");
        EXPECT_EQ(good.thumbprint, a_.thumbprint.hex()) << address << "\n" << good.output;
    }
}

// Issue 10 item 9: a reload applies max_connections (one limit for the whole server).
TEST_F(ServeRobustness, ReloadAppliesMaxConnections) {
    const std::string limits = "drain_timeout: 1s, hello_timeout: 60s, max_connections: ";
    start(default_record(a_), limits + "1", {"--threads", "2"});
    const std::string hello = hello_fixture("openssl-sni.bin");
    std::vector<std::unique_ptr<TcpClient>> held;
    // Opens a connection; whether it got a ServerHello (else it was refused with a reset).
    auto open = [&] {
        held.push_back(std::make_unique<TcpClient>("127.0.0.1", port_));
        return held.back()->send(hello) && read_exactly(held.back()->fd(), 6).size() == 6;
    };
    EXPECT_TRUE(open());
    EXPECT_FALSE(open()) << "over max_connections: 1";
    held.pop_back();

    write_config(default_record(a_), limits + "3");
    serve_->signal(SIGHUP);
    auto reloaded = serve_->wait_for_log("reloaded (SIGHUP)");
    EXPECT_EQ(reloaded.find("needs a restart"), std::string::npos) << reloaded;
    EXPECT_TRUE(open()) << "2 of max_connections: 3";
    EXPECT_TRUE(open()) << "3 of max_connections: 3";
    EXPECT_FALSE(open()) << "over max_connections: 3";
}

// Issue 10 item 9: a reload applies a changed admin token, whether the token file's content
// changes (a rotated Kubernetes Secret) or the config names another file: the new token is
// accepted and the old one refused.
TEST_F(ServeRobustness, ReloadAppliesANewAdminToken) {
    auto token_config = [&](const std::string& file, const std::string& more_records = "") {
        return admin() + "admin_token_file: " + file + "\n" + default_record(a_) + more_records;
    };
    write_file(dir_.path() / "token", "first-token-0123456789\n");
    start(token_config("token"));
    // 400: authorised, and the empty command is refused; 401: the token is not the console's.
    EXPECT_EQ(post_with_token("first-token-0123456789"), 400);
    EXPECT_EQ(post_with_token("second-token-0123456789"), 401);

    write_file(dir_.path() / "token", "second-token-0123456789\n");
    serve_->signal(SIGHUP);
    serve_->wait_for_log("reloaded (SIGHUP)");
    EXPECT_EQ(post_with_token("second-token-0123456789"), 400);
    EXPECT_EQ(post_with_token("first-token-0123456789"), 401);

    write_file(dir_.path() / "other-token", "third-token-0123456789\n");
    // One more record: this reload's line is told apart from the last one by its count.
    write_config(token_config("other-token", "  \"hostnameport=h.test:" + p() +
                                                 "\": { certificate: " + a_.pem.string() + " }\n"));
    serve_->signal(SIGHUP);
    serve_->wait_for_log("reloaded (SIGHUP): 2 records");
    EXPECT_EQ(post_with_token("third-token-0123456789"), 400);
    EXPECT_EQ(post_with_token("second-token-0123456789"), 401);
}

// Issue 10 item 9: a reload names the settings that changed but take effect only at the next
// start (the listen addresses, the console's address, the access log), and names none when
// nothing of the kind changed, including a change back to what the server runs with.
TEST_F(ServeRobustness, ReloadNamesTheSettingsThatNeedARestart) {
    start(default_record(a_) + admin());
    const std::string other_admin = "admin: \"127.0.0.1:" + std::to_string(free_port()) + "\"\n";
    const std::string log_file = "access_log: " + (dir_.path() / "access.log").string() + "\n";
    const std::string two_listeners =
        "listen: [\"127.0.0.1:" + p() + "\", \"127.0.0.2:" + p() + "\"]\n";
    struct Case {
        std::string name, settings, needs_restart;  // empty: nothing to name
    };
    const std::vector<Case> cases{
        {"records only", admin(), ""},
        {"another listen address", admin() + two_listeners, "listen"},
        {"back to the running configuration", admin(), ""},
        {"another console address", other_admin, "admin"},
        {"another access log", admin() + log_file, "access_log"},
        {"all three", other_admin + log_file + two_listeners, "listen, admin, access_log"},
    };
    int records = 1;
    for (const auto& c : cases) {
        // One more record each time: the reload line of this step is told apart by its count.
        std::string body = default_record(a_);
        for (int i = 0; i < records; ++i)
            body += "  \"hostnameport=h" + std::to_string(i) + ".test:" + p() +
                    "\": { certificate: " + a_.pem.string() + " }\n";
        ++records;
        // A later `listen:` key would be a duplicate: write this case's listen in place of the
        // fixture's.
        auto path = dir_.path() / "config.yaml";
        std::string text = "limits: { drain_timeout: 1s }\n";
        if (c.settings.find("listen:") == std::string::npos)
            text += "listen: [\"127.0.0.1:" + p() + "\"]\n";
        std::ofstream(dir_.path() / "config.yaml.new") << text << c.settings << body;
        std::filesystem::rename(dir_.path() / "config.yaml.new", path);
        serve_->signal(SIGHUP);
        auto line =
            serve_->wait_for_log("reloaded (SIGHUP): " + std::to_string(records) + " records");
        auto at = line.find("; needs a restart: ");
        if (c.needs_restart.empty())
            EXPECT_EQ(at, std::string::npos) << c.name << ": " << line;
        else
            EXPECT_EQ(at == std::string::npos ? "" : line.substr(at + 19), c.needs_restart)
                << c.name << ": " << line;
    }
    // Still serving on the first address, with the console where it was.
    auto good = handshake();
    EXPECT_EQ(good.thumbprint, a_.thumbprint.hex()) << good.output;
    EXPECT_GE(metric(metrics(), "snibind_connections_accepted_total"), 1);
}

// Issue 10 item 9: a reload that names another store file watches that file from then on: an
// edit with `snibind netsh` reloads, as it did for the first store.
TEST_F(ServeRobustness, ReloadWatchesANewStoreFile) {
    const std::string key = "ipport=0.0.0.0:" + p();
    const std::string appid = "appid={4dc3e181-e14b-4a21-b022-59fc669b0914}";
    auto netsh = [&](const std::filesystem::path& store, const std::string& verb,
                     const TestPki::Issued& cert) {
        RunResult netsh =
            run({snibind_binary().string(), "netsh", "--store", store.string(), "http", verb,
                 "sslcert", key, "certhash=" + cert.thumbprint.hex(), appid});
        EXPECT_EQ(netsh.status, 0) << netsh.out << netsh.err;
    };
    auto certificates = "certificates: [" + a_.pem.string() + ", " + b_.pem.string() + "]\n";
    auto first = dir_.path() / "first.txt", second = dir_.path() / "second.txt";
    netsh(first, "add", a_);
    netsh(second, "add", a_);
    start("store: " + first.string() + "\n" + certificates);

    write_config("store: " + second.string() + "\n" + certificates);
    serve_->signal(SIGHUP);
    serve_->wait_for_log("reloaded (SIGHUP)");
    netsh(second, "update", b_);
    serve_->wait_for_log("reloaded (store file changed)");
    auto after = handshake();
    EXPECT_EQ(after.thumbprint, b_.thumbprint.hex()) << after.output;
}

}  // namespace
}  // namespace snibind::test
