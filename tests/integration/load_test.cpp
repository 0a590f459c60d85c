// snibind load (issue 4) against a snibind serve started by the test: each mode's counters, the
// certificate served per name (src/bindings/README.md L1, L3, L4 seen from the client), --expect
// against a store predicted by the core's selection, and the server's CPU time. Worker processes
// (issue 14): exact totals and splits, Ctrl-C/SIGTERM, a worker that dies, latency from the
// intended start under --rate. No timing assertions.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "netsh/store_file.h"
#include "serve_process.h"
#include "test_backend.h"
#include "test_pki.h"
#include "tls/client_hello_reader.h"

extern char** environ;

namespace snibind::test {
namespace {

using nlohmann::json;

// Runs `snibind ARGS` to its end (a safety limit of two minutes, never a synchronisation).
RunResult run_snibind(const std::vector<std::string>& args) {
    std::vector<std::string> argv{snibind_binary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {}, std::chrono::seconds(120));
}

// `snibind ARGS` running in the background: its pid while it runs, its output once it ended.
class LoadProcess {
  public:
    explicit LoadProcess(const std::vector<std::string>& args) {
        std::vector<std::string> argv{snibind_binary().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        int out[2], err[2];
        if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
        std::vector<char*> c_argv;
        for (auto& a : argv) c_argv.push_back(a.data());
        c_argv.push_back(nullptr);
        const int rc = posix_spawn(&pid_, c_argv[0], &actions, nullptr, c_argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(out[1]);
        close(err[1]);
        if (rc != 0) throw std::runtime_error("cannot start snibind");
        pump_ = std::thread([this, o = out[0], e = err[0]] { drain(o, e); });
    }
    ~LoadProcess() {
        if (pump_.joinable()) {
            kill(pid_, SIGKILL);
            finish();
        }
    }
    LoadProcess(const LoadProcess&) = delete;
    LoadProcess& operator=(const LoadProcess&) = delete;

    pid_t pid() const { return pid_; }
    // Waits for the end (its output closes once it and its workers are gone).
    RunResult finish() {
        pump_.join();
        int status = 0;
        waitpid(pid_, &status, 0);
        result_.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return result_;
    }

  private:
    void drain(int out, int err) {
        pollfd fds[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
        std::string* into[2] = {&result_.out, &result_.err};
        int open = 2;
        while (open > 0 && poll(fds, 2, 120'000) > 0) {  // a safety net, never a synchronisation
            for (int i = 0; i < 2; ++i) {
                if (fds[i].fd < 0 || fds[i].revents == 0) continue;
                char buf[4096];
                const ssize_t n = read(fds[i].fd, buf, sizeof buf);
                if (n > 0) {
                    into[i]->append(buf, static_cast<std::size_t>(n));
                } else {
                    close(fds[i].fd);
                    fds[i].fd = -1;
                    --open;
                }
            }
        }
        for (auto& f : fds)
            if (f.fd >= 0) close(f.fd);
    }

    pid_t pid_ = -1;
    RunResult result_;
    std::thread pump_;
};

// The processes whose parent is `pid` (from /proc/*/stat, field 4).
std::vector<pid_t> children_of(pid_t pid) {
    std::vector<pid_t> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(entry.path() / "stat");
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(stat.substr(close + 1));
        std::string state;
        pid_t ppid = 0;
        if (fields >> state >> ppid && ppid == pid) out.push_back(std::stoi(name));
    }
    return out;
}

// A plain listener for hello mode: holds the first `gate` connections unanswered until open(),
// then answers each connection (held or new) with one byte and waits for the client to close.
// Holding proves where the load is: with one connection per worker, `gate` held connections
// mean every worker is running.
class GateListener {
  public:
    explicit GateListener(std::size_t gate) : gate_(gate) {
        listen_fd_ = listen_on_loopback(port_, 128);
        thread_ = std::thread([this] { serve(); });
    }
    ~GateListener() {
        open();
        shutdown(listen_fd_, SHUT_RDWR);  // wakes the blocked accept()
        thread_.join();
        close(listen_fd_);
    }
    GateListener(const GateListener&) = delete;
    GateListener& operator=(const GateListener&) = delete;

    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // Returns once `gate` connections are held.
    void wait_held() {
        std::unique_lock lock(mutex_);
        // Bounded only as a safety net against a hung test.
        changed_.wait_for(lock, std::chrono::seconds(60), [&] { return held_.size() >= gate_; });
        EXPECT_EQ(held_.size(), gate_);
    }
    // Answers the held connections, and from now on every new one at once.
    void open() {
        std::vector<int> held;
        {
            std::lock_guard lock(mutex_);
            opened_ = true;
            held.swap(held_);
        }
        for (int fd : held) answer(fd);
    }

  private:
    void serve() {
        for (;;) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            timeval tv{20, 0};  // a safety net, never a synchronisation
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            {
                std::lock_guard lock(mutex_);
                if (!opened_) {
                    held_.push_back(fd);
                    changed_.notify_all();
                    continue;
                }
            }
            answer(fd);
        }
    }
    // One byte, then the client's close (it reads the byte and goes), so nothing is reset.
    static void answer(int fd) {
        ssize_t sent = send(fd, "x", 1, MSG_NOSIGNAL);
        (void)sent;
        shutdown(fd, SHUT_WR);
        char buf[4096];
        while (recv(fd, buf, sizeof buf, 0) > 0) {
        }
        close(fd);
    }

    std::size_t gate_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<int> held_;
    bool opened_ = false;
    std::thread thread_;
};

// A forward backend on 127.0.0.1:0 on its own thread, one connection after the other: reads
// until it has a whole ClientHello (through the proxy, in whatever pieces it came), answers 64
// bytes, and closes once the client has gone. It records the SNI of every hello it read.
class HelloBackend {
  public:
    HelloBackend() {
        listen_fd_ = listen_on_loopback(port_, 128);
        thread_ = std::thread([this] { serve(); });
    }
    ~HelloBackend() {
        shutdown(listen_fd_, SHUT_RDWR);  // wakes the blocked accept()
        thread_.join();
        close(listen_fd_);
    }
    HelloBackend(const HelloBackend&) = delete;
    HelloBackend& operator=(const HelloBackend&) = delete;

    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // Waits until `n` connections have ended and returns, per connection, the SNI of the hello
    // it read, or "<result>" when it got no complete hello.
    std::vector<std::string> wait_for(std::size_t n) {
        std::unique_lock lock(mutex_);
        // Bounded only as a safety net against a hung test.
        changed_.wait_for(lock, std::chrono::seconds(30), [&] { return seen_.size() >= n; });
        return seen_;
    }

  private:
    void serve() {
        for (;;) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            timeval tv{20, 0};  // a safety net, never a synchronisation
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string what = converse(fd);
            close(fd);
            std::lock_guard lock(mutex_);
            seen_.push_back(std::move(what));
            changed_.notify_all();
        }
    }

    static std::string converse(int fd) {
        ClientHelloReader reader;
        std::vector<std::uint8_t> received;
        std::uint8_t buf[4096];
        HelloResult result = HelloResult::need_more;
        while (result == HelloResult::need_more) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) return "<" + std::string(to_string(reader.finish())) + ">";
            received.insert(received.end(), buf, buf + n);
            result = reader.read(received);
        }
        if (result != HelloResult::client_hello) return "<" + std::string(to_string(result)) + ">";
        const std::string answer(64, 'x');
        ssize_t sent = send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        (void)sent;
        while (recv(fd, buf, sizeof buf, 0) > 0) {
        }
        return std::string(reader.hello().sni());
    }

    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> seen_;
    std::thread thread_;
};

class LoadTest : public ::testing::Test {
  protected:
    LoadTest()
        : pki_(dir_.path() / "certs"),
          a_(pki_.issue("a", "a.load.test", {"a.load.test"})),
          b_(pki_.issue("b", "b.load.test", {"b.load.test"})),
          default_(pki_.issue("default", "default.load.test", {"default.load.test"})),
          ip2_(pki_.issue("ip2", "ip2.load.test", {"ip2.load.test"})) {}

    void TearDown() override {
        if (!serve_) return;
        EXPECT_EQ(serve_->stop(), 0);
        const std::string log = serve_->log();
        EXPECT_FALSE(has_sanitizer_report(log)) << log;
    }

    std::string p() const { return std::to_string(port_); }
    std::string target() const { return "127.0.0.1:" + p(); }

    // snibind serve on 127.0.0.1 and 127.0.0.2: SNI records for a and b (L1 step 1), the
    // 0.0.0.0 default (L4), an IP record for 127.0.0.2, and fwd.load.test forwarded to the
    // hello backend. No sites: after the handshake the lab responder answers requests.
    void start_serve() {
        auto path = dir_.path() / "config.yaml";
        std::ofstream(path) << "limits: { drain_timeout: 1s }\n"
                            << "access_log: off\n"
                            << "listen: [\"127.0.0.1:" << p() << "\", \"127.0.0.2:" << p()
                            << "\"]\nrecords:\n"
                            << record("hostnameport=a.load.test:" + p(), a_)
                            << record("hostnameport=b.load.test:" + p(), b_)
                            << record("ipport=0.0.0.0:" + p(), default_)
                            << record("ipport=127.0.0.2:" + p(), ip2_)
                            << "  \"hostnameport=fwd.load.test:" << p()
                            << "\": { certificate: " << default_.pem.string()
                            << ", action: forward, backend: \"" << backend_.address() << "\" }\n";
        serve_ = std::make_unique<ServeProcess>(path);
    }

    static std::string record(const std::string& key, const TestPki::Issued& cert) {
        return "  \"" + key + "\": { certificate: " + cert.pem.string() + " }\n";
    }

    // Runs `snibind load --target ... --json ARGS` and returns its JSON; the exit status must be 0.
    json load(std::vector<std::string> args) {
        std::vector<std::string> argv{"load", "--target", target(), "--json"};
        argv.insert(argv.end(), args.begin(), args.end());
        RunResult r = run_snibind(argv);
        EXPECT_FALSE(has_sanitizer_report(r.err)) << r.err;
        EXPECT_EQ(r.status, 0) << r.err;
        try {
            return json::parse(r.out);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.out << r.err;
            return json::object();
        }
    }

    // The thumbprints served for `name` and how often, from the report.
    static std::map<std::string, std::uint64_t> served(const json& report,
                                                       const std::string& name) {
        std::map<std::string, std::uint64_t> out;
        if (report.contains("certificates") && report["certificates"].contains(name))
            for (const auto& [thumbprint, n] : report["certificates"][name].items())
                out[thumbprint] = n.get<std::uint64_t>();
        return out;
    }

    // A netsh store file with one record per (key, certificate).
    std::filesystem::path write_store(
        const std::vector<std::pair<RecordKey, const TestPki::Issued*>>& entries) {
        std::vector<Record> records;
        for (const auto& [key, cert] : entries) {
            Record r;
            r.key = key;
            r.certhash = cert->thumbprint;
            r.appid = Guid::parse("{4dc3e181-e14b-4a21-b022-59fc669b0914}");
            records.push_back(std::move(r));
        }
        auto path = dir_.path() / "sslcert.txt";
        std::string error;
        EXPECT_TRUE(netsh::Store(std::move(records)).save(path, error)) << error;
        return path;
    }

    TempDir dir_;
    TestPki pki_;
    TestPki::Issued a_, b_, default_, ip2_;
    std::uint16_t port_ = free_port();
    HelloBackend backend_;
    std::unique_ptr<ServeProcess> serve_;
};

void expect_clean(const json& r, std::uint64_t connections) {
    EXPECT_EQ(r["connections"], connections) << r.dump(2);
    EXPECT_EQ(r["completed"], connections) << r.dump(2);
    EXPECT_EQ(r["errors"], 0) << r.dump(2);
    EXPECT_TRUE(r["errors_by_kind"].empty()) << r.dump(2);
    EXPECT_EQ(r["latency_us"]["count"], connections) << r.dump(2);
    EXPECT_GT(r["connections_per_second"].get<double>(), 0.0);
}

// hello mode through a forward record: every connection gets the backend's answer, and the
// backend reads a whole, correctly named hello from every one.
TEST_F(LoadTest, HelloModeThroughForwardRecord) {
    start_serve();
    auto r = load({"--mode", "hello", "--name", "fwd.load.test", "--connections", "50",
                   "--concurrency", "4"});
    expect_clean(r, 50);
    EXPECT_EQ(r["replied"], 50);
    EXPECT_EQ(r["closed_without_reply"], 0);
    auto seen = backend_.wait_for(50);
    EXPECT_EQ(seen.size(), 50u);
    for (const auto& sni : seen) EXPECT_EQ(sni, "fwd.load.test");
}

// src/tls/README.md: each template, split over records and writes, still reads as one hello with
// the substituted name at the proxy and at the backend.
TEST_F(LoadTest, HelloTemplatesAndSplits) {
    start_serve();
    const std::vector<std::vector<std::string>> variants = {
        {"--template", "chromium", "--split-records", "4"},
        {"--template", "curl", "--split-writes", "7"},
        {"--template", "openssl", "--split-records", "3", "--split-writes", "5"},
        {"--template", "curl", "--one-byte-writes"},
    };
    for (const auto& variant : variants) {
        std::vector<std::string> args{"--mode",        "hello", "--name",        "fwd.load.test",
                                      "--connections", "5",     "--concurrency", "2"};
        args.insert(args.end(), variant.begin(), variant.end());
        auto r = load(args);
        expect_clean(r, 5);
        EXPECT_EQ(r["replied"], 5) << variant[1];
    }
    auto seen = backend_.wait_for(20);
    EXPECT_EQ(seen.size(), 20u);
    for (const auto& sni : seen) EXPECT_EQ(sni, "fwd.load.test");
}

// L1 step 1 for a and b, L4 (0.0.0.0) for any other name: the thumbprint per name says so.
TEST_F(LoadTest, HandshakeModeCertificatePerName_L1_L4) {
    start_serve();
    auto r = load({"--mode", "handshake", "--name", "a.load.test", "--name", "b.load.test",
                   "--name", "other.load.test", "--connections", "50", "--concurrency", "5"});
    expect_clean(r, 50);
    EXPECT_EQ(r["handshakes"], 50);
    auto a = served(r, "a.load.test"), b = served(r, "b.load.test"),
         other = served(r, "other.load.test");
    ASSERT_EQ(a.size(), 1u) << r.dump(2);
    ASSERT_EQ(b.size(), 1u) << r.dump(2);
    ASSERT_EQ(other.size(), 1u) << r.dump(2);
    EXPECT_EQ(a.begin()->first, a_.thumbprint.hex());
    EXPECT_EQ(b.begin()->first, b_.thumbprint.hex());
    EXPECT_EQ(other.begin()->first, default_.thumbprint.hex());
    EXPECT_EQ(a.begin()->second + b.begin()->second + other.begin()->second, 50u);
}

// L3/L4: no SNI at all gets the 0.0.0.0 record's certificate.
TEST_F(LoadTest, NoSniEverywhereGetsTheDefaultRecord_L3_L4) {
    start_serve();
    auto r = load(
        {"--name", "a.load.test", "--no-sni", "100%", "--connections", "50", "--concurrency", "5"});
    expect_clean(r, 50);
    EXPECT_EQ(r["certificates"].size(), 1u) << r.dump(2);
    auto none = served(r, "(no sni)");
    ASSERT_EQ(none.size(), 1u) << r.dump(2);
    EXPECT_EQ(none.begin()->first, default_.thumbprint.hex());
    EXPECT_EQ(none.begin()->second, 50u);
}

// --dst spreads connections over two local addresses: without SNI, 127.0.0.2 gets its own IP
// record (L1 step 4) and 127.0.0.1 the 0.0.0.0 default (step 6).
TEST_F(LoadTest, DestinationsReachIpRecords_L1) {
    start_serve();
    auto r = load({"--dst", "127.0.0.1,127.0.0.2", "--connections", "50", "--concurrency", "4"});
    expect_clean(r, 50);
    auto none = served(r, "(no sni)");
    EXPECT_EQ(none[default_.thumbprint.hex()], 25u) << r.dump(2);
    EXPECT_EQ(none[ip2_.thumbprint.hex()], 25u) << r.dump(2);
}

// resume: TLS 1.3 tickets (read after the handshake) and TLS 1.2 session ids both resume.
TEST_F(LoadTest, ResumeModeResumes) {
    start_serve();
    for (const char* version : {"1.3", "1.2"}) {
        auto r = load({"--mode", "resume", "--tls", version, "--name", "a.load.test", "--name",
                       "b.load.test", "--connections", "50", "--concurrency", "2"});
        expect_clean(r, 50);
        EXPECT_GT(r["resumed"].get<std::uint64_t>(), 0u) << version << r.dump(2);
        EXPECT_LE(r["resumed"].get<std::uint64_t>(), 50u);
        // A resumed session still reports the certificate of its name.
        auto a = served(r, "a.load.test");
        ASSERT_EQ(a.size(), 1u) << r.dump(2);
        EXPECT_EQ(a.begin()->first, a_.thumbprint.hex());
    }
}

// request: keep-alive requests to the lab responder, each response read by its length.
TEST_F(LoadTest, RequestModeKeepAlive) {
    start_serve();
    auto r = load({"--mode", "request", "--keepalive", "3", "--name", "a.load.test",
                   "--connections", "50", "--concurrency", "5"});
    expect_clean(r, 50);
    EXPECT_EQ(r["requests"], 150);
    EXPECT_EQ(r["http_status"]["200"], 150) << r.dump(2);
    EXPECT_EQ(r["request_latency_us"]["count"], 150);
}

// request --resume: the requests ride on resumed TLS 1.3 sessions.
TEST_F(LoadTest, RequestModeResumes) {
    start_serve();
    auto r = load({"--mode", "request", "--resume", "--tls", "1.3", "--name", "a.load.test",
                   "--connections", "30", "--concurrency", "2"});
    expect_clean(r, 30);
    EXPECT_GT(r["resumed"].get<std::uint64_t>(), 0u) << r.dump(2);
    EXPECT_EQ(r["http_status"]["200"], 30) << r.dump(2);
}

// --hold: every slot keeps its connection open after the handshake until the run ends, and the
// report counts them and reads the server's memory before and while they are held.
TEST_F(LoadTest, HoldKeepsConnectionsOpenAndReadsServerMemory) {
    start_serve();
    auto r = load({"--mode", "handshake", "--name", "a.load.test", "--concurrency", "20", "--hold",
                   "--duration", "1s", "--server-pid", std::to_string(serve_->pid())});
    expect_clean(r, 20);  // one connection per slot, never closed and replaced
    EXPECT_EQ(r["handshakes"], 20);
    EXPECT_EQ(r["held"], 20) << r.dump(2);
    EXPECT_GT(r["server"]["rss_before_bytes"].get<std::uint64_t>(), 0u) << r.dump(2);
    EXPECT_GT(r["server"]["rss_end_bytes"].get<std::uint64_t>(), 0u) << r.dump(2);
    EXPECT_TRUE(r["server"].contains("rss_per_held_connection_bytes")) << r.dump(2);
}

// --expect with the store the server really follows: every certificate is the predicted one.
TEST_F(LoadTest, ExpectMatchingStoreHasNoMismatches) {
    start_serve();
    auto store = write_store({{RecordKey::hostname("a.load.test", port_), &a_},
                              {RecordKey::hostname("b.load.test", port_), &b_},
                              {RecordKey::ip(IpAddress::v4_any(), port_), &default_}});
    auto r =
        load({"--name", "a.load.test", "--name", "b.load.test", "--name", "c.load.test", "--no-sni",
              "20%", "--connections", "50", "--concurrency", "5", "--expect", store.string()});
    expect_clean(r, 50);
    EXPECT_EQ(r["expect"]["checked"], 50);
    EXPECT_EQ(r["expect"]["mismatches"], 0);
}

// --expect with a store that swaps a and b: those connections count as unexpected certificates.
TEST_F(LoadTest, ExpectWrongStoreCountsMismatches) {
    start_serve();
    auto store = write_store({{RecordKey::hostname("a.load.test", port_), &b_},
                              {RecordKey::hostname("b.load.test", port_), &a_},
                              {RecordKey::ip(IpAddress::v4_any(), port_), &default_}});
    auto r = load({"--name", "a.load.test", "--name", "b.load.test", "--connections", "50",
                   "--concurrency", "5", "--expect", store.string()});
    EXPECT_EQ(r["connections"], 50);
    EXPECT_EQ(r["expect"]["mismatches"], 50) << r.dump(2);
    EXPECT_EQ(r["errors"], 50);
    EXPECT_EQ(r["errors_by_kind"]["unexpected certificate"], 50) << r.dump(2);
}

// --server-pid: the server's CPU time over the run, per connection.
TEST_F(LoadTest, ServerCpuPerConnection) {
    start_serve();
    auto r = load({"--name", "a.load.test", "--connections", "50", "--concurrency", "5",
                   "--server-pid", std::to_string(serve_->pid())});
    expect_clean(r, 50);
    EXPECT_EQ(r["server"]["pid"], serve_->pid());
    EXPECT_GT(r["server"]["cpu_us_per_connection"].get<double>(), 0.0) << r.dump(2);
}

// A duration run with warmup and a rate limit ends by itself and counts what it measured.
TEST_F(LoadTest, DurationRunWithWarmupAndRate) {
    start_serve();
    auto r = load({"--name", "b.load.test", "--duration", "1s", "--warmup", "200ms", "--rate",
                   "200/s", "--concurrency", "4", "--threads", "2"});
    EXPECT_EQ(r["errors"], 0) << r.dump(2);
    EXPECT_GT(r["connections"].get<std::uint64_t>(), 0u);
    EXPECT_EQ(r["connections"], r["completed"]);
    EXPECT_EQ(r["threads"], 2);
    EXPECT_DOUBLE_EQ(r["seconds"].get<double>(), 1.0);
}

// Nobody listening: every connection is counted as refused, and the run still completes.
TEST_F(LoadTest, RefusedConnectionsAreCountedByKind) {
    auto r = load({"--mode", "hello", "--connections", "20", "--concurrency", "4"});
    EXPECT_EQ(r["connections"], 20);
    EXPECT_EQ(r["completed"], 0);
    EXPECT_EQ(r["errors"], 20);
    EXPECT_EQ(r["errors_by_kind"]["refused"], 20) << r.dump(2);
}

// --- issue 14: worker processes ----------------------------------------------------------------

// The exact sum of the workers' counts, for every total the report gives.
void expect_totals_are_the_workers_sum(const json& r) {
    std::uint64_t connections = 0, completed = 0, errors = 0, handshakes = 0, latencies = 0;
    for (const auto& w : r["per_worker"]) {
        if (!w["counted"].get<bool>()) continue;
        connections += w["connections"].get<std::uint64_t>();
        completed += w["completed"].get<std::uint64_t>();
        errors += w["errors"].get<std::uint64_t>();
        handshakes += w["handshakes"].get<std::uint64_t>();
        latencies += w["latency_us"]["count"].get<std::uint64_t>();
    }
    EXPECT_EQ(r["connections"], connections) << r.dump(2);
    EXPECT_EQ(r["completed"], completed) << r.dump(2);
    EXPECT_EQ(r["errors"], errors) << r.dump(2);
    if (r.contains("handshakes")) {
        EXPECT_EQ(r["handshakes"], handshakes) << r.dump(2);
    }
    EXPECT_EQ(r["latency_us"]["count"], latencies) << r.dump(2);
}

// `accepted=N` from the server's "stopped:" summary, once it has stopped.
std::uint64_t server_accepted(ServeProcess& serve) {
    EXPECT_EQ(serve.stop(), 0);
    std::smatch m;
    const std::string log = serve.log();
    if (!std::regex_search(log, m, std::regex("stopped: accepted=([0-9]+)"))) {
        ADD_FAILURE() << log;
        return 0;
    }
    return std::stoull(m[1]);
}

// --workers 2 splits --connections 41 exactly (21 + 20) and -c 5 (3 + 2); the totals are the
// sums of the workers' counts, and the server accepted exactly 41 connections.
TEST_F(LoadTest, WorkersSplitConnectionsExactlyAndTotalsAreTheirSum) {
    struct Case {
        const char* what;
        std::vector<std::string> args;
    };
    const Case cases[] = {
        {"handshake", {"--mode", "handshake", "--name", "a.load.test", "--name", "b.load.test"}},
        {"hello, forwarded", {"--mode", "hello", "--name", "fwd.load.test"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        start_serve();
        std::vector<std::string> args = c.args;
        for (const char* a : {"--workers", "2", "--connections", "41", "--concurrency", "5"})
            args.push_back(a);
        args.push_back("--server-pid");
        args.push_back(std::to_string(serve_->pid()));
        auto r = load(args);
        expect_clean(r, 41);
        EXPECT_EQ(r["workers"], 2);
        EXPECT_EQ(r["complete"], true);
        EXPECT_EQ(r["stopped_early"], false);
        ASSERT_EQ(r["per_worker"].size(), 2u) << r.dump(2);
        const std::uint64_t shares[] = {21, 20}, slots[] = {3, 2};
        for (int i = 0; i < 2; ++i) {
            const json& w = r["per_worker"][i];
            EXPECT_EQ(w["status"], "ok") << w.dump(2);
            EXPECT_EQ(w["counted"], true);
            EXPECT_EQ(w["connections_share"], shares[i]);
            EXPECT_EQ(w["connections"], shares[i]);
            EXPECT_EQ(w["concurrency"], slots[i]);
            EXPECT_GT(w["cpu_us"].get<double>(), 0.0);
        }
        EXPECT_NE(r["per_worker"][0]["pid"], r["per_worker"][1]["pid"]);
        expect_totals_are_the_workers_sum(r);
        EXPECT_GT(r["load_cpu"]["cpu_us_per_connection"].get<double>(), 0.0) << r.dump(2);
        EXPECT_GE(r["load_cpu"]["whole_run_cpu_us"].get<double>(),
                  r["load_cpu"]["cpu_us"].get<double>());
        EXPECT_EQ(r["server"]["processes"], 1);
        EXPECT_EQ(server_accepted(*serve_), 41u);
    }
}

// Without --workers: one worker per core the process may run on (taskset narrows it), one with
// --threads; never more workers than connections.
TEST_F(LoadTest, WorkerCountFollowsTheCoresGiven) {
    cpu_set_t set;
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    const unsigned cores = static_cast<unsigned>(CPU_COUNT(&set));
    struct Case {
        std::vector<std::string> before, args;
        unsigned workers, threads;
    };
    const std::vector<Case> cases = {
        {{}, {"--connections", "64", "-c", "64"}, std::min(cores, 64u), 1},
        {{"taskset", "-c", "0"}, {"--connections", "64", "-c", "64"}, 1, 1},
        {{}, {"--connections", "64", "-c", "64", "--threads", "2"}, 1, 2},
        {{}, {"--connections", "2", "-c", "64", "--workers", "3"}, 2, 1},
        {{}, {"--connections", "64", "-c", "3", "--workers", "3", "--threads", "2"}, 3, 1},
    };
    for (const auto& c : cases) {
        std::vector<std::string> argv = c.before;
        // Nobody listens on target(): every connection is refused at once.
        for (const std::string& a :
             {snibind_binary().string(), std::string("load"), std::string("--mode"),
              std::string("hello"), std::string("--json"), std::string("--target"), target()})
            argv.push_back(a);
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        RunResult run_result = run(argv, {}, std::chrono::seconds(120));
        const std::string what = c.args.back();
        ASSERT_EQ(run_result.status, 0) << what << run_result.err;
        EXPECT_FALSE(has_sanitizer_report(run_result.err)) << run_result.err;
        auto r = json::parse(run_result.out);
        EXPECT_EQ(r["workers"], c.workers) << what;
        EXPECT_EQ(r["threads"], c.threads) << what;
        EXPECT_EQ(r["per_worker"].size(), c.workers) << what;
        EXPECT_EQ(r["errors_by_kind"]["refused"], r["connections"]) << what;
        expect_totals_are_the_workers_sum(r);
    }
}

// SIGTERM (as Ctrl-C) in the middle of a long run stops every worker and reports what was
// measured; a worker killed meanwhile is named with its signal, its counts are marked missing,
// and the exit status says the totals are incomplete.
TEST_F(LoadTest, StopEndsEveryWorkerAndADeadWorkerIsReported) {
    struct Case {
        const char* what;
        bool kill_one, json;
        int status;
    };
    const Case cases[] = {
        {"stop", false, true, 0},
        {"a worker killed, JSON", true, true, 1},
        {"a worker killed, text", true, false, 1},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        GateListener listener(2);
        std::vector<std::string> args{
            "load", "--target", listener.address(), "--mode", "hello", "--workers", "2",
            "-c",   "2",        "--duration",       "120s"};
        if (c.json) args.push_back("--json");
        LoadProcess load(args);
        listener.wait_held();  // one connection per worker: both are running
        const std::vector<pid_t> workers = children_of(load.pid());
        ASSERT_EQ(workers.size(), 2u);
        const pid_t victim = c.kill_one ? workers[1] : 0;
        if (victim) {
            ASSERT_EQ(kill(victim, SIGKILL), 0);
        }
        listener.open();
        ASSERT_EQ(kill(load.pid(), SIGTERM), 0);
        RunResult r = load.finish();
        EXPECT_EQ(r.status, c.status) << r.out << r.err;
        EXPECT_FALSE(has_sanitizer_report(r.err)) << r.err;
        if (!c.json) {
            EXPECT_NE(r.out.find("(stopped early)"), std::string::npos) << r.out;
            EXPECT_NE(r.out.find("(pid " + std::to_string(victim) +
                                 ")  died: signal 9 (SIGKILL): its counts are missing from the "
                                 "totals"),
                      std::string::npos)
                << r.out;
            EXPECT_NE(r.out.find("INCOMPLETE: worker"), std::string::npos) << r.out;
            continue;
        }
        auto j = json::parse(r.out);
        EXPECT_EQ(j["stopped_early"], true);
        EXPECT_EQ(j["complete"], !c.kill_one);
        EXPECT_LT(j["seconds"].get<double>(), 120.0);
        ASSERT_EQ(j["per_worker"].size(), 2u);
        for (const auto& w : j["per_worker"]) {
            if (w["pid"] == victim) {
                EXPECT_EQ(w["status"], "died: signal 9 (SIGKILL)") << w.dump(2);
                EXPECT_EQ(w["counted"], false);
            } else {
                EXPECT_EQ(w["status"], "ok") << w.dump(2);
                EXPECT_EQ(w["counted"], true);
            }
        }
        expect_totals_are_the_workers_sum(j);
    }
}

// --rate: latency counts from when a connection was due, as wrk2 does. The first connection is
// answered a second after it arrived (that delay is what is measured, not a synchronisation), so
// the second one, due 250 ms after the start, starts at least 750 ms late: its latency says so
// instead of hiding the stall (coordinated omission).
TEST_F(LoadTest, RateLatencyCountsFromTheIntendedStart) {
    GateListener listener(1);
    LoadProcess load({"load", "--target", listener.address(), "--json", "--mode", "hello",
                      "--workers", "1", "-c", "1", "--rate", "4/s", "--connections", "2"});
    listener.wait_held();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    listener.open();
    RunResult r = load.finish();
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(has_sanitizer_report(r.err)) << r.err;
    auto j = json::parse(r.out);
    EXPECT_EQ(j["latency_from"], "intended start");
    expect_clean(j, 2);
    // Both latencies hold the second's wait: the first from its start, the second from its due
    // time (a lower bound that only grows on a slow machine).
    EXPECT_GE(j["latency_us"]["min"].get<std::uint64_t>(), 750'000u) << j.dump(2);
}

TEST_F(LoadTest, BadUsageExitsTwo) {
    const std::vector<std::vector<std::string>> cases = {
        {"--target", "127.0.0.1:1"},  // neither --duration nor --connections
        {"--target", "127.0.0.1:1", "--connections", "1", "--duration", "1s"},
        {"--target", "nowhere", "--connections", "1"},
        {"--target", "127.0.0.1:1", "--connections", "1", "--rate", "fast"},
        {"--target", "127.0.0.1:1", "--connections", "1", "--no-sni", "150%"},
        {"--target", "127.0.0.1:1", "--connections", "1", "--mode", "tickle"},
        {"--target", "127.0.0.1:1", "--connections", "1", "--dst", "127.0.0.1,x"},
        {"--target", "127.0.0.1:1", "--connections", "1", "--hold"},  // --hold needs --duration
        {"--target", "127.0.0.1:1", "--connections", "1", "--mode", "handshake", "--resume"},
        {"--target", "127.0.0.1:1", "--connections", "1", "--workers", "0"},
        {"--target", "127.0.0.1:1", "--connections", "1", "--worker", "2/2"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> argv{"load"};
        argv.insert(argv.end(), c.begin(), c.end());
        RunResult r = run_snibind(argv);
        EXPECT_EQ(r.status, 2) << c.back() << r.err;
        EXPECT_FALSE(r.err.empty());
    }
}

}  // namespace
}  // namespace snibind::test
