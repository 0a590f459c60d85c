// The admin console's API and /metrics, with curl against a running `snibind serve` (issue 5).
// The page itself is tested in a browser: tests/browser/console_test.mjs.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "serve_process.h"
#include "test_pki.h"

namespace snibind::test {
namespace {

constexpr const char* kToken = "admin-test-token-0123456789";

class Admin : public ::testing::Test {
  protected:
    // `extra_yaml` ends the config (it holds `limits:`).
    explicit Admin(const std::string& extra_yaml = "limits: { drain_timeout: 1s }\n")
        : pki_(dir_.path() / "certs") {
        site_ = pki_.issue("site", "site.test", {"site.test"});
        extra_ = pki_.issue("extra", "extra.test", {"extra.test"});
        // A CCS folder (used when extra_yaml names it) with a file name that is not UTF-8.
        std::filesystem::create_directories(dir_.path() / "ccs");
        std::filesystem::copy_file(extra_.pfx, dir_.path() / "ccs" / "\xff\xfe.test.pfx");
        std::ofstream(dir_.path() / "token") << kToken << "\n";
        std::ofstream(dir_.path() / "config.yaml")
            << "listen: [\"127.0.0.1:" << port_ << "\"]\n"
            << "store: sslcert.txt\ncertificates: [certs/site.pem, certs/extra.pem]\n"
            << "records:\n  \"hostnameport=site.test:" << port_
            << "\": { certificate: certs/site.pem }\n"
            << "admin: \"127.0.0.1:" << admin_port_ << "\"\nadmin_token_file: token\n"
            << extra_yaml;
        serve_ = std::make_unique<ServeProcess>(dir_.path() / "config.yaml");
        // "serving" comes before the console listens: its own line says it does.
        serve_->wait_for_log("admin console on");
    }
    void TearDown() override {
        serve_->stop();
        EXPECT_FALSE(has_sanitizer_report(serve_->log())) << serve_->log();
    }

    // curl -s -w status: returns {status, body}.
    std::pair<int, std::string> http(const std::string& path, std::vector<std::string> extra = {}) {
        std::vector<std::string> argv{"-o", "-", "-w", "\n%{http_code}"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back("http://127.0.0.1:" + std::to_string(admin_port_) + path);
        auto r = curl(argv);
        auto nl = r.out.rfind('\n');
        return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
    }

    TempDir dir_;
    TestPki pki_;
    TestPki::Issued site_, extra_;
    std::uint16_t port_ = free_port(), admin_port_ = free_port();
    std::unique_ptr<ServeProcess> serve_;
};

TEST_F(Admin, RecordsExplainStatsAndMetrics) {
    auto [status, body] = http("/api/records");
    ASSERT_EQ(status, 200) << body;
    auto records = nlohmann::json::parse(body);
    ASSERT_EQ(records["sni"].size(), 1u);
    EXPECT_EQ(records["sni"][0]["certhash"], site_.thumbprint.hex());
    EXPECT_EQ(records["sni"][0]["health"], "ok");
    EXPECT_EQ(records["sni"][0]["certificate"]["subject"], "CN=site.test,O=snibind tests");

    auto [estatus, ebody] =
        http("/api/explain?dst=127.0.0.1:" + std::to_string(port_) + "&sni=site.test");
    ASSERT_EQ(estatus, 200) << ebody;
    auto decision = nlohmann::json::parse(ebody);
    EXPECT_EQ(decision["outcome"], "selected");
    EXPECT_EQ(decision["step"], "sni_exact");
    EXPECT_EQ(decision["certhash"], site_.thumbprint.hex());
    EXPECT_EQ(http("/api/explain?dst=nonsense").first, 400);

    // One real handshake, then the counters show it.
    // A request through it: the answer comes after the server's side of the handshake is done,
    // so the counters below have seen it.
    auto h = s_client("127.0.0.1:" + std::to_string(port_), "site.test", {},
                      "GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(h.thumbprint, site_.thumbprint.hex()) << h.output;
    auto [sstatus, sbody] = http("/api/stats");
    ASSERT_EQ(sstatus, 200);
    auto stats = nlohmann::json::parse(sbody);
    EXPECT_EQ(stats["accepted"], 1);
    EXPECT_EQ(stats["decisions_by_step"]["sni_exact"], 1);
    EXPECT_EQ(stats["handshakes"], 1);
    EXPECT_EQ(stats["hello_bytes"]["count"], 1);
    const std::string record = "Hostname:port site.test:" + std::to_string(port_);
    EXPECT_EQ(stats["record_hits"][record], 1) << sbody;
    EXPECT_EQ(stats["record_hits_other"], 0);

    auto [mstatus, metrics] = http("/metrics");
    ASSERT_EQ(mstatus, 200);
    EXPECT_NE(metrics.find("# TYPE snibind_connections_accepted_total counter\n"
                           "snibind_connections_accepted_total 1\n"),
              std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("snibind_decisions_total{step=\"sni_exact\"} 1\n"), std::string::npos);
    EXPECT_NE(metrics.find("snibind_record_hits_total{record=\"" + record + "\"} 1\n"),
              std::string::npos);
    EXPECT_NE(metrics.find("snibind_handshake_seconds_count 1\n"), std::string::npos);
    EXPECT_NE(metrics.find("snibind_hello_bytes_bucket{le=\"+Inf\"} 1\n"), std::string::npos);
    EXPECT_EQ(http("/nothing").first, 404);
}

// POST applies netsh to the store file and the running server: token required.
TEST_F(Admin, NetshThroughTheApi) {
    std::string command =
        "{\"command\": \"http add sslcert ipport=0.0.0.0:" + std::to_string(port_) +
        " certhash=" + extra_.thumbprint.hex() + " appid={4dc3e181-e14b-4a21-b022-59fc669b0914}\"}";
    EXPECT_EQ(http("/api/netsh", {"-X", "POST", "--data", command}).first, 401);
    EXPECT_EQ(http("/api/netsh", {"-X", "POST", "-H", "Authorization: Bearer wrong-token-xxxxxxx",
                                  "--data", command})
                  .first,
              401);
    auto [status, body] = http(
        "/api/netsh",
        {"-X", "POST", "-H", std::string("Authorization: Bearer ") + kToken, "--data", command});
    ASSERT_EQ(status, 200) << body;
    EXPECT_NE(body.find("SSL Certificate successfully added"), std::string::npos) << body;
    // S2: adding it again fails with Windows' message, and nothing changes.
    auto again = http(
        "/api/netsh",
        {"-X", "POST", "-H", std::string("Authorization: Bearer ") + kToken, "--data", command});
    EXPECT_EQ(again.first, 422);
    EXPECT_NE(again.second.find("Error: 183"), std::string::npos) << again.second;
    // The running server serves it at once: a client without SNI gets the new record.
    auto h = s_client("127.0.0.1:" + std::to_string(port_), std::nullopt);
    EXPECT_EQ(h.thumbprint, extra_.thumbprint.hex()) << h.output;
    // And the store file holds it.
    EXPECT_NE(read_file(dir_.path() / "sslcert.txt").find(extra_.thumbprint.hex()),
              std::string::npos);
}

// Issue 10 item 1: bytes that are not UTF-8 in a JSON answer ended the whole server (nlohmann's
// type_error 316 reached std::terminate). Each reproduction of the issue answers JSON, and the
// server goes on.
class AdminRobust : public Admin {
  protected:
    AdminRobust()
        : Admin(
              "ccs: { folder: ccs, password: test }\nadmin_hosts: [console.test]\n"
              "limits: { drain_timeout: 1s }\n") {}
};

TEST_F(AdminRobust, BytesThatAreNotUtf8NeverStopTheServer) {
    const std::string dst = "/api/explain?dst=127.0.0.1:" + std::to_string(port_);
    const std::string auth = std::string("Authorization: Bearer ") + kToken;
    struct Case {
        std::string path;
        std::vector<std::string> curl_args;
        int status;
    };
    const Case cases[] = {
        {dst + "&sni=%ff", {}, 200},
        {dst + "&sni=%80", {}, 200},
        {dst + "&profile=%ff", {}, 400},
        {"/api/netsh",
         {"-X", "POST", "-H", auth, "--data-binary",
          "http add sslcert hostnameport=\xff.test:443 certhash=" + extra_.thumbprint.hex() +
              " appid={4dc3e181-e14b-4a21-b022-59fc669b0914}"},
         422},
        {"/api/records", {}, 200},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.path);
        auto [status, body] = http(c.path, c.curl_args);
        EXPECT_EQ(status, c.status) << body;
        EXPECT_TRUE(nlohmann::json::accept(body)) << body;
    }
    auto records = nlohmann::json::parse(http("/api/records").second);
    ASSERT_EQ(records["ccs_files"].size(), 1u) << records.dump(2);
    EXPECT_EQ(records["ccs_files"][0]["name"], "\xef\xbf\xbd\xef\xbf\xbd.test.pfx");
    auto explained = nlohmann::json::parse(http(dst + "&sni=%ff").second);
    EXPECT_EQ(explained["sni"], "\u00ff");  // each byte kept, as `snibind hello` shows it
    EXPECT_EQ(http("/api/stats").first, 200);
    EXPECT_EQ(serve_->stop(), 0) << serve_->log();
}

// Issue 10 item 13: a page on evil.example that resolves to 127.0.0.1 (DNS rebinding) sends
// `Host: evil.example`; only the console's own address, localhost and admin_hosts are answered.
TEST_F(AdminRobust, HostMustNameTheConsole) {
    const std::string port = std::to_string(admin_port_);
    struct Case {
        std::string host;
        int status;
    };
    const Case cases[] = {
        {"evil.example", 421},         {"evil.example:" + port, 421}, {"127.0.0.2:" + port, 421},
        {"127.0.0.1:" + port, 200},    {"localhost:" + port, 200},    {"localhost", 200},
        {"Console.Test:" + port, 200},
    };
    for (const auto& c : cases) {
        auto [status, body] = http("/api/records", {"-H", "Host: " + c.host});
        EXPECT_EQ(status, c.status) << c.host << "\n" << body;
        if (c.status == 421) {
            EXPECT_NE(body.find("admin_hosts"), std::string::npos) << body;
        }
    }
}

// Reads until the server closes the connection: its bytes, or nullopt when it was not closed
// before the client's receive timeout (a safety net of TcpClient, never a synchronisation).
std::optional<std::string> read_until_closed(TcpClient& client) {
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = recv(client.fd(), buf, sizeof buf, 0);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno == ECONNRESET) {
            return out;
        } else if (errno != EINTR) {
            return std::nullopt;  // EAGAIN: the receive timeout passed, still open
        }
    }
}

// Issue 10 item 4: idle and one-byte-at-a-time admin connections stayed open for ever.
class AdminTimeout : public Admin {
  protected:
    AdminTimeout() : Admin("limits: { drain_timeout: 1s, admin_timeout: 300ms }\n") {}
};

TEST_F(AdminTimeout, IdleAndSlowConnectionsAreClosed) {
    TcpClient idle("127.0.0.1", admin_port_);
    TcpClient slow("127.0.0.1", admin_port_);
    ASSERT_TRUE(slow.send("GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n"));  // head unfinished
    TcpClient kept("127.0.0.1", admin_port_);
    ASSERT_TRUE(kept.send("GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));

    EXPECT_EQ(read_until_closed(idle), "");
    EXPECT_EQ(read_until_closed(slow), "");
    // Answered, then closed when no next request came.
    auto answered = read_until_closed(kept);
    ASSERT_TRUE(answered);
    EXPECT_TRUE(answered->starts_with("HTTP/1.1 200 OK\r\n")) << *answered;
    EXPECT_EQ(http("/api/stats").first, 200);
}

class AdminCap : public Admin {
  protected:
    AdminCap() : Admin("limits: { drain_timeout: 1s, admin_max_connections: 2 }\n") {}
};

TEST_F(AdminCap, ConnectionsBeyondTheCapAreRefused) {
    // Accepted in the order they connect, so the first two are open when the third is taken.
    TcpClient first("127.0.0.1", admin_port_);
    TcpClient second("127.0.0.1", admin_port_);
    TcpClient third("127.0.0.1", admin_port_);
    auto refused = read_until_closed(third);
    ASSERT_TRUE(refused);
    EXPECT_TRUE(refused->starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << *refused;
    EXPECT_NE(refused->find("admin_max_connections"), std::string::npos) << *refused;

    // One of the two answered and closed: a new connection is served again.
    ASSERT_TRUE(
        first.send("GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    auto answered = read_until_closed(first);
    ASSERT_TRUE(answered);
    EXPECT_TRUE(answered->starts_with("HTTP/1.1 200 OK\r\n")) << *answered;
    EXPECT_EQ(http("/api/stats").first, 200);
}

// `serve --watch` (docker/kubernetes): replacing a certificate file is a reload, as a mounted
// Secret's update is; without --watch only the store is watched.
TEST(Watch, ReplacingACertificateFileReloads) {
    TempDir dir;
    TestPki pki(dir.path() / "pki");
    auto before = pki.issue("before", "site.test", {"site.test"});
    auto after = pki.issue("after", "site.test", {"site.test"});
    std::filesystem::create_directories(dir.path() / "certs");
    std::filesystem::copy_file(before.pem, dir.path() / "certs" / "site.pem");
    std::uint16_t port = free_port();
    std::ofstream(dir.path() / "config.yaml")
        << "listen: [\"127.0.0.1:" << port << "\"]\nadmin: off\nrecords:\n"
        << "  \"hostnameport=site.test:" << port << "\": { certificate: certs/site.pem }\n"
        << "limits: { drain_timeout: 1s }\n";
    ServeProcess serve(dir.path() / "config.yaml", {"--watch"});
    std::string connect = "127.0.0.1:" + std::to_string(port);
    EXPECT_EQ(s_client(connect, "site.test").thumbprint, before.thumbprint.hex());

    // Replace the file the way Kubernetes and editors do: write it where nothing is watched,
    // then rename it over the old one (a single event in the watched folder).
    std::filesystem::copy_file(after.pem, dir.path() / "pki" / "site.pem.new");
    std::filesystem::rename(dir.path() / "pki" / "site.pem.new", dir.path() / "certs" / "site.pem");
    serve.wait_for_log("reloaded (files changed)");
    EXPECT_EQ(s_client(connect, "site.test").thumbprint, after.thumbprint.hex());
    EXPECT_EQ(serve.stop(), 0);
    EXPECT_FALSE(has_sanitizer_report(serve.log())) << serve.log();
}

}  // namespace
}  // namespace snibind::test
