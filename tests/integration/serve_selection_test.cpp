// snibind serve picks the certificate selection promised (src/bindings/README.md L1-L9, section 3),
// seen by real clients: openssl s_client and curl on 127.0.0.0/8 and [::1], and raw sockets sending
// real captured ClientHellos (tests/data/clienthello).
#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "serve_process.h"
#include "test_pki.h"

namespace snibind::test {
namespace {

using LogLine = std::vector<std::pair<std::string, std::string>>;

// A real ClientHello, as its client sent it (TLS records included).
std::string captured_hello(const std::string& file) {
    return read_file(std::filesystem::path(SNIBIND_TEST_DATA) / "clienthello" / file);
}

// The access-log line of the connection to `dst` with `sni` ("-" when none was sent). Lines are
// looked up rather than indexed: with several worker threads they need not come in connect order.
std::optional<LogLine> log_line(const std::vector<LogLine>& log, const std::string& dst,
                                const std::string& sni) {
    for (const auto& line : log)
        if (field(line, "dst") == dst && field(line, "sni") == sni) return line;
    return std::nullopt;
}

// What the lab responder said about a request made with curl (`curl --resolve`), or a null
// JSON value with curl's stderr in `error`.
struct LabAnswer {
    nlohmann::json body;
    std::string error;
};

LabAnswer curl_lab(const std::string& host, std::uint16_t port, const std::string& address,
                   const std::filesystem::path& ca) {
    const std::string p = std::to_string(port);
    RunResult r = curl({"--http1.1", "--cacert", ca.string(), "--resolve",
                        host + ":" + p + ":" + address, "https://" + host + ":" + p + "/"});
    LabAnswer answer;
    answer.body = nlohmann::json::parse(r.out, nullptr, false);
    if (r.status != 0 || answer.body.is_discarded()) {
        answer.body = nullptr;
        answer.error = "curl exit " + std::to_string(r.status) + ": " + r.err + r.out;
    }
    return answer;
}

IssueOptions with_ip(std::string address) {
    IssueOptions options;
    options.ip_addresses = {std::move(address)};
    return options;
}

// L9: the files hold the key of another key pair.
IssueOptions mismatched_key() {
    IssueOptions options;
    options.mismatched_key = true;
    return options;
}

// The lab's certificates, issued once for the whole suite (each test has its own config).
struct LabCertificates {
    TestPki::Issued site, fallback, wildcard, ip2, v6, ccs_exact, ccs_parent, store_ip, store_sni,
        bad_key, legacy;
};

class ServeSelection : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        pki_dir_ = new TempDir;
        pki_ = new TestPki(pki_dir_->path() / "certs");
        certs_ = new LabCertificates{
            pki_->issue("site", "site.test", {"site.test"}),
            pki_->issue("default", "default.test", {"default.test"}),
            pki_->issue("wildcard", "*.wild.test", {"*.wild.test"}),
            pki_->issue("ip2", "ip2.test", {"ip2.test"}, KeyType::ec_p256, with_ip("127.0.0.2")),
            pki_->issue("v6", "v6.test", {"v6.test"}),
            pki_->issue("ccs-exact", "ccs.test", {"ccs.test"}),
            pki_->issue("ccs-parent", "*.parent.test", {"*.parent.test"}),
            pki_->issue("store-ip", "store-ip.test", {"store-ip.test"}),
            pki_->issue("store-sni", "store-sni.test", {"store-sni.test"}),
            pki_->issue("bad-key", "bad.test", {"bad.test"}, KeyType::ec_p256, mismatched_key()),
            pki_->issue("legacy", "legacy.test", {"legacy.test"}),
        };
    }
    static void TearDownTestSuite() {
        delete certs_;
        delete pki_;
        delete pki_dir_;
    }

    void TearDown() override {
        if (!serve_) return;
        serve_->stop();
        // The server is an ASan/UBSan build too: a report there fails the test that caused it.
        const std::string log = serve_->log();
        EXPECT_FALSE(has_sanitizer_report(log)) << log;
    }

    // Writes config.yaml with `body` after the common settings, and returns its path.
    std::filesystem::path write_config(const std::string& body) {
        auto path = dir_.path() / "config.yaml";
        std::ofstream(path) << "limits: { drain_timeout: 1s }\n" << body;
        return path;
    }

    // Starts `snibind serve` on a config made of `body`; the fixture stops it and checks its log.
    ServeProcess& serve(const std::string& body) {
        serve_ = std::make_unique<ServeProcess>(write_config(body));
        return *serve_;
    }

    // Stops the server and returns its access log.
    std::vector<LogLine> stop_and_read_log() {
        EXPECT_EQ(serve_->stop(), 0);
        return parse_access_log(serve_->access_log());
    }

    std::string port() const { return std::to_string(port_); }
    std::string at(const std::string& address) const { return address + ":" + port(); }
    std::string listen(std::initializer_list<std::string> addresses) const {
        std::string out = "listen: [";
        for (const auto& a : addresses) out += (out.back() == '[' ? "\"" : ", \"") + at(a) + "\"";
        return out + "]\n";
    }
    // One `records:` entry: "KEY=VALUE:PORT" served from `cert`, with `extra` settings.
    std::string record(const std::string& key, const TestPki::Issued& cert,
                       const std::string& extra = {}) const {
        return "  \"" + key + ":" + port() + "\": { certificate: " + cert.pem.string() +
               (extra.empty() ? "" : ", " + extra) + " }\n";
    }

    static const LabCertificates& certs() { return *certs_; }
    static const TestPki& pki() { return *pki_; }

    TempDir dir_;
    std::uint16_t port_ = free_port();
    std::unique_ptr<ServeProcess> serve_;

  private:
    static inline TempDir* pki_dir_ = nullptr;
    static inline TestPki* pki_ = nullptr;
    static inline LabCertificates* certs_ = nullptr;
};

// L1 step 1 against step 6: the SNI record wins for its name; any other name falls through to
// 0.0.0.0 (L4).
TEST_F(ServeSelection, SniRecordAndDefaultRecord_L1_L4) {
    auto& server = serve(listen({"127.0.0.1"}) + "records:\n" +
                         record("hostnameport=site.test", certs().site) +
                         record("ipport=0.0.0.0", certs().fallback));
    auto with_sni = s_client(at("127.0.0.1"), "site.test");
    EXPECT_EQ(with_sni.thumbprint, certs().site.thumbprint.hex()) << with_sni.output;
    auto other = s_client(at("127.0.0.1"), "other.test");
    EXPECT_EQ(other.thumbprint, certs().fallback.thumbprint.hex()) << other.output;

    EXPECT_EQ(server.stop(), 0);
    auto log = parse_access_log(server.access_log());
    ASSERT_EQ(log.size(), 2u) << server.access_log();
    auto site_line = log_line(log, at("127.0.0.1"), "site.test");
    auto other_line = log_line(log, at("127.0.0.1"), "other.test");
    ASSERT_TRUE(site_line && other_line) << server.access_log();
    EXPECT_EQ(field(*site_line, "step"), "sni_exact");
    EXPECT_EQ(field(*other_line, "step"), "ipv4_any");
}

// Every step of L1 on one server, one connection per case: the certificate s_client is served
// is the one the step promises, and the access log names that step and record.
struct StepCase {
    const char* name;
    const char* connect;  // address, without the port
    const char* sni;      // "" sends none (-noservername)
    TestPki::Issued LabCertificates::*expected;
    const char* step;
    const char* record;  // the record key as the access log displays it, "PORT" for the port
};

TEST_F(ServeSelection, EveryLookupStep_L1_L3_L4_S3) {
    const StepCase cases[] = {
        {"step 1: SNI record", "127.0.0.1", "site.test", &LabCertificates::site, "sni_exact",
         "Hostname:port site.test:PORT"},
        {"L6: SNI matched after lower-casing", "127.0.0.1", "SITE.Test", &LabCertificates::site,
         "sni_exact", "Hostname:port site.test:PORT"},
        {"step 2: wildcard record, one label", "127.0.0.1", "a.wild.test",
         &LabCertificates::wildcard, "sni_wildcard", "Hostname:port *.wild.test:PORT"},
        {"step 2: never two labels (L4 to step 6)", "127.0.0.1", "a.b.wild.test",
         &LabCertificates::fallback, "ipv4_any", "IP:port 0.0.0.0:PORT"},
        {"step 2: never the bare parent", "127.0.0.1", "wild.test", &LabCertificates::fallback,
         "ipv4_any", "IP:port 0.0.0.0:PORT"},
        {"step 3: CCS file S.pfx", "127.0.0.1", "ccs.test", &LabCertificates::ccs_exact, "ccs",
         "Central Certificate Store PORT"},
        {"step 3: CCS file _.parent.pfx", "127.0.0.1", "x.parent.test",
         &LabCertificates::ccs_parent, "ccs", "Central Certificate Store PORT"},
        {"step 4: exact IP record, no SNI", "127.0.0.2", "", &LabCertificates::ip2, "ip_exact",
         "IP:port 127.0.0.2:PORT"},
        {"step 4: exact IP record, unknown SNI", "127.0.0.2", "nothing.test", &LabCertificates::ip2,
         "ip_exact", "IP:port 127.0.0.2:PORT"},
        {"sni-first: SNI record beats the IP record", "127.0.0.2", "site.test",
         &LabCertificates::site, "sni_exact", "Hostname:port site.test:PORT"},
        {"step 5: [::] for an IPv6 destination", "[::1]", "", &LabCertificates::v6, "ipv6_any",
         "IP:port [::]:PORT"},
        {"step 6: 0.0.0.0, no SNI (L3)", "127.0.0.1", "", &LabCertificates::fallback, "ipv4_any",
         "IP:port 0.0.0.0:PORT"},
        {"step 6: 0.0.0.0, unknown SNI (L4)", "127.0.0.1", "unknown.test",
         &LabCertificates::fallback, "ipv4_any", "IP:port 0.0.0.0:PORT"},
    };
    TempDir ccs;
    std::filesystem::copy_file(certs().ccs_exact.pfx, ccs.path() / "ccs.test.pfx");
    std::filesystem::copy_file(certs().ccs_parent.pfx, ccs.path() / "_.parent.test.pfx");
    auto& server = serve(
        listen({"127.0.0.1", "127.0.0.2", "[::1]"}) + "ccs: { folder: " + ccs.path().string() +
        ", password: test }\nrecords:\n" + record("hostnameport=site.test", certs().site) +
        record("hostnameport=*.wild.test", certs().wildcard) + "  \"ccs=" + port() +
        "\": { action: terminate }\n" + record("ipport=127.0.0.2", certs().ip2) +
        record("ipport=[::]", certs().v6) + record("ipport=0.0.0.0", certs().fallback));
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto result = s_client(at(c.connect), std::string(c.sni));
        EXPECT_TRUE(result.connected) << result.output;
        EXPECT_EQ(result.thumbprint, (certs().*c.expected).thumbprint.hex()) << result.output;
    }

    auto log = stop_and_read_log();
    EXPECT_EQ(log.size(), std::size(cases)) << server.access_log();
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        std::string sni = *c.sni ? c.sni : "-";
        auto line = log_line(log, at(c.connect), sni);
        ASSERT_TRUE(line) << server.access_log();
        std::string expected_record = c.record;
        expected_record.replace(expected_record.find("PORT"), 4, port());
        EXPECT_EQ(field(*line, "step"), c.step);
        EXPECT_EQ(field(*line, "record"), expected_record);
        EXPECT_EQ(field(*line, "action"), "terminate");
        EXPECT_EQ(field(*line, "result"), "closed");  // s_client's close after the handshake
    }
}

// curl --resolve, through the lab responder: the JSON names the step, the record and the
// certificate, and that certificate is the one curl verified against the test CA.
TEST_F(ServeSelection, CurlSeesTheLabResponderDecision_L1) {
    TempDir ccs;
    std::filesystem::copy_file(certs().ccs_exact.pfx, ccs.path() / "ccs.test.pfx");
    serve(listen({"127.0.0.1", "127.0.0.2", "[::1]"}) + "ccs: { folder: " + ccs.path().string() +
          ", password: test }\nrecords:\n" + record("hostnameport=site.test", certs().site) +
          record("hostnameport=*.wild.test", certs().wildcard) + "  \"ccs=" + port() +
          "\": { action: terminate }\n" + record("ipport=127.0.0.2", certs().ip2) +
          record("ipport=[::]", certs().v6) + record("ipport=0.0.0.0", certs().fallback));
    struct CurlCase {
        const char* host;
        const char* address;
        TestPki::Issued LabCertificates::*expected;
        const char* step;
        std::string record;
    };
    const CurlCase cases[] = {
        {"site.test", "127.0.0.1", &LabCertificates::site, "sni_exact",
         "Hostname:port site.test:" + port()},
        {"a.wild.test", "127.0.0.1", &LabCertificates::wildcard, "sni_wildcard",
         "Hostname:port *.wild.test:" + port()},
        {"ccs.test", "127.0.0.1", &LabCertificates::ccs_exact, "ccs",
         "Central Certificate Store " + port()},
        {"default.test", "127.0.0.1", &LabCertificates::fallback, "ipv4_any",
         "IP:port 0.0.0.0:" + port()},
        {"v6.test", "[::1]", &LabCertificates::v6, "ipv6_any", "IP:port [::]:" + port()},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.host);
        auto answer = curl_lab(c.host, port_, c.address, pki().ca_pem());
        ASSERT_FALSE(answer.body.is_null()) << answer.error;
        EXPECT_EQ(answer.body.value("sni", ""), c.host) << answer.body.dump(2);
        EXPECT_EQ(answer.body.value("step", ""), c.step) << answer.body.dump(2);
        EXPECT_EQ(answer.body.value("record", ""), c.record) << answer.body.dump(2);
        EXPECT_EQ(answer.body["certificate"].value("thumbprint", ""),
                  (certs().*c.expected).thumbprint.hex())
            << answer.body.dump(2);
    }
}

// An IP literal in place of a host name (curl to https://127.0.0.2:PORT/) sends no SNI: only
// IP records can match (L3, L6), here the exact one, whose certificate holds IP 127.0.0.2.
TEST_F(ServeSelection, CurlByIpAddressGetsTheIpRecord_L3) {
    serve(listen({"127.0.0.1", "127.0.0.2"}) + "records:\n" +
          record("ipport=127.0.0.2", certs().ip2) + record("ipport=0.0.0.0", certs().fallback));
    RunResult r = curl(
        {"--http1.1", "--cacert", pki().ca_pem().string(), "https://" + at("127.0.0.2") + "/"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto body = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << r.out;
    EXPECT_TRUE(body["sni"].is_null()) << r.out;
    EXPECT_EQ(body.value("step", ""), "ip_exact") << r.out;
    EXPECT_EQ(body["certificate"].value("thumbprint", ""), certs().ip2.thumbprint.hex()) << r.out;
}

// L8, on_reject: reset: no record matches (SNI-only setup, client without SNI or with another
// name): the client sees a TCP reset, as from Windows (pitfall 3).
TEST_F(ServeSelection, NoMatchIsReset_L8) {
    auto& server = serve(listen({"127.0.0.1"}) + "on_reject: reset\nrecords:\n" +
                         record("hostnameport=site.test", certs().site));
    {
        TcpClient raw("127.0.0.1", port_);
        ASSERT_TRUE(raw.send(captured_hello("openssl-sni.bin")));  // SNI www.example.com
        bool reset = false;
        std::string answer = raw.read_all(&reset);
        EXPECT_TRUE(reset) << "read " << answer.size() << " bytes and a clean close";
        EXPECT_TRUE(answer.empty());
    }
    auto no_sni = s_client(at("127.0.0.1"), std::nullopt);
    EXPECT_FALSE(no_sni.connected) << no_sni.output;
    EXPECT_TRUE(no_sni.thumbprint.empty()) << no_sni.output;
    auto matching = s_client(at("127.0.0.1"), "site.test");  // the server still serves
    EXPECT_EQ(matching.thumbprint, certs().site.thumbprint.hex()) << matching.output;

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 3u) << server.access_log();
    for (const char* sni : {"www.example.com", "-"}) {
        SCOPED_TRACE(sni);
        auto line = log_line(log, at("127.0.0.1"), sni);
        ASSERT_TRUE(line) << server.access_log();
        EXPECT_EQ(field(*line, "action"), "reject");
        EXPECT_EQ(field(*line, "result"), "rejected");
        EXPECT_EQ(field(*line, "step"), "-");
    }
}

// L8, on_reject: alert: the client reads exactly one fatal unrecognized_name (112) alert record
// and then the end of the stream.
TEST_F(ServeSelection, NoMatchWithOnRejectAlertSendsUnrecognizedName_L8) {
    auto& server = serve(listen({"127.0.0.1"}) + "on_reject: alert\nrecords:\n" +
                         record("hostnameport=site.test", certs().site));
    TcpClient raw("127.0.0.1", port_);
    ASSERT_TRUE(raw.send(captured_hello("curl.bin")));  // SNI www.example.com
    bool reset = true;
    std::string answer = raw.read_all(&reset);
    EXPECT_FALSE(reset);
    const std::string alert{'\x15', '\x03', '\x03', '\x00', '\x02', '\x02', '\x70'};
    EXPECT_EQ(answer, alert);

    auto s = s_client(at("127.0.0.1"), "other.test");
    EXPECT_FALSE(s.connected) << s.output;
    EXPECT_NE(s.output.find("unrecognized name"), std::string::npos) << s.output;

    auto log = stop_and_read_log();
    auto line = log_line(log, at("127.0.0.1"), "www.example.com");
    ASSERT_TRUE(line) << server.access_log();
    EXPECT_EQ(field(*line, "action"), "reject");
    EXPECT_EQ(field(*line, "result"), "rejected");
    EXPECT_EQ(field(*line, "out"), "7");
}

// L5: a record with the reject flag is selected and the connection dropped; no fallback to the
// 0.0.0.0 record that would otherwise serve it.
TEST_F(ServeSelection, RecordWithRejectFlagIsResetWithoutFallback_L5) {
    auto& server = serve(listen({"127.0.0.1"}) + "records:\n" +
                         record("hostnameport=www.example.com", certs().site, "reject: true") +
                         record("ipport=0.0.0.0", certs().fallback));
    {
        TcpClient raw("127.0.0.1", port_);
        ASSERT_TRUE(raw.send(captured_hello("openssl-sni.bin")));  // SNI www.example.com
        bool reset = false;
        std::string answer = raw.read_all(&reset);
        EXPECT_TRUE(reset);
        EXPECT_TRUE(answer.empty());
    }
    auto rejected = s_client(at("127.0.0.1"), "www.example.com");
    EXPECT_FALSE(rejected.connected) << rejected.output;
    EXPECT_TRUE(rejected.thumbprint.empty()) << rejected.output;
    auto other = s_client(at("127.0.0.1"), "other.test");
    EXPECT_EQ(other.thumbprint, certs().fallback.thumbprint.hex()) << other.output;

    auto log = stop_and_read_log();
    ASSERT_EQ(log.size(), 3u) << server.access_log();
    int rejected_lines = 0;
    for (const auto& line : log) {
        if (field(line, "sni") != "www.example.com") continue;
        ++rejected_lines;
        EXPECT_EQ(field(line, "step"), "sni_exact");
        EXPECT_EQ(field(line, "record"), "Hostname:port www.example.com:" + port());
        EXPECT_EQ(field(line, "action"), "reject");
        EXPECT_EQ(field(line, "result"), "rejected");
    }
    EXPECT_EQ(rejected_lines, 2) << server.access_log();
}

// L2, precedence: ip-first: the fixed-IP record beats the SNI record on its address (pitfall 2),
// while another address still gets the SNI record.
TEST_F(ServeSelection, IpFirstFixedIpRecordBeatsSniRecord_L2) {
    auto& server = serve(listen({"127.0.0.1", "127.0.0.2"}) + "precedence: ip-first\nrecords:\n" +
                         record("hostnameport=site.test", certs().site) +
                         record("ipport=127.0.0.2", certs().ip2));
    auto on_ip = s_client(at("127.0.0.2"), "site.test");
    EXPECT_EQ(on_ip.thumbprint, certs().ip2.thumbprint.hex()) << on_ip.output;
    auto elsewhere = s_client(at("127.0.0.1"), "site.test");
    EXPECT_EQ(elsewhere.thumbprint, certs().site.thumbprint.hex()) << elsewhere.output;

    auto log = stop_and_read_log();
    auto line = log_line(log, at("127.0.0.2"), "site.test");
    ASSERT_TRUE(line) << server.access_log();
    EXPECT_EQ(field(*line, "step"), "ip_exact");
    EXPECT_EQ(field(*line, "record"), "IP:port 127.0.0.2:" + port());
}

// Section 3, windows-2008r2 (pitfall 6): SNI records are ignored; every name gets the IP record.
TEST_F(ServeSelection, Windows2008r2IgnoresSniRecords_Profile) {
    auto& server = serve(listen({"127.0.0.1"}) + "profile: windows-2008r2\nrecords:\n" +
                         record("hostnameport=site.test", certs().site) +
                         record("ipport=0.0.0.0", certs().fallback));
    auto s = s_client(at("127.0.0.1"), "site.test");
    EXPECT_TRUE(s.connected) << s.output;
    EXPECT_EQ(s.thumbprint, certs().fallback.thumbprint.hex()) << s.output;

    auto log = stop_and_read_log();
    auto line = log_line(log, at("127.0.0.1"), "site.test");
    ASSERT_TRUE(line) << server.access_log();
    EXPECT_EQ(field(*line, "step"), "ipv4_any");
}

// A netsh text store (`store:`) with `records:` entries on top: one adds its action to a store
// record, one creates a record whose certificate is given by certhash among `certificates:`.
TEST_F(ServeSelection, StoreFileAndRecordsByCerthash) {
    auto store = dir_.path() / "sslcert.txt";
    const std::string appid = "{4dc3e181-e14b-4a21-b022-59fc669b0914}";
    std::ofstream(store) << "\nSSL Certificate bindings:\n-------------------------\n\n"
                         << "    IP:port                      : 0.0.0.0:" << port() << "\n"
                         << "    Certificate Hash             : "
                         << certs().store_ip.thumbprint.hex() << "\n"
                         << "    Application ID               : " << appid << "\n\n"
                         << "    Hostname:port                : store-sni.test:" << port() << "\n"
                         << "    Certificate Hash             : "
                         << certs().store_sni.thumbprint.hex() << "\n"
                         << "    Application ID               : " << appid << "\n\n";
    auto& server =
        serve(listen({"127.0.0.1"}) + "store: " + store.string() + "\ncertificates: [" +
              certs().store_ip.pem.string() + ", " + certs().store_sni.pem.string() + ", " +
              certs().site.pem.string() + "]\nrecords:\n" + "  \"ipport=0.0.0.0:" + port() +
              "\": { action: terminate }\n" + "  \"hostnameport=site.test:" + port() +
              "\": { certhash: " + certs().site.thumbprint.hex() + " }\n");
    struct {
        const char* sni;
        const TestPki::Issued& expected;
        const char* step;
    } const cases[] = {
        {"store-sni.test", certs().store_sni, "sni_exact"},  // the store's, no entry
        {"site.test", certs().site, "sni_exact"},            // created by certhash
        {"", certs().store_ip, "ipv4_any"},                  // the store's, with an entry
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.sni);
        auto s = s_client(at("127.0.0.1"), std::string(c.sni));
        EXPECT_EQ(s.thumbprint, c.expected.thumbprint.hex()) << s.output;
    }
    auto log = stop_and_read_log();
    for (const auto& c : cases) {
        SCOPED_TRACE(c.sni);
        auto line = log_line(log, at("127.0.0.1"), *c.sni ? c.sni : "-");
        ASSERT_TRUE(line) << server.access_log();
        EXPECT_EQ(field(*line, "step"), c.step);
        EXPECT_EQ(field(*line, "action"), "terminate");
    }
}

// L9, unusable_key: fail: the SNI record's certificate has a key that does not match it; the
// handshake fails, although a 0.0.0.0 record could have served the client.
TEST_F(ServeSelection, UnusableKeyFailFailsTheHandshake_L9) {
    auto& server = serve(listen({"127.0.0.1"}) + "unusable_key: fail\nrecords:\n" +
                         record("hostnameport=bad.test", certs().bad_key) +
                         record("ipport=0.0.0.0", certs().fallback));
    auto s = s_client(at("127.0.0.1"), "bad.test");
    EXPECT_FALSE(s.connected) << s.output;
    EXPECT_TRUE(s.thumbprint.empty()) << s.output;

    auto log = stop_and_read_log();
    auto line = log_line(log, at("127.0.0.1"), "bad.test");
    ASSERT_TRUE(line) << server.access_log();
    EXPECT_EQ(field(*line, "action"), "fail");
    EXPECT_EQ(field(*line, "result"), "unusable_key");
    EXPECT_EQ(field(*line, "step"), "sni_exact");
}

// L9, unusable_key: next (pitfall 5): the lookup goes on and the client gets the next record's
// certificate, the "wrong certificate" symptom.
TEST_F(ServeSelection, UnusableKeyNextServesTheNextRecord_L9) {
    auto& server = serve(listen({"127.0.0.1"}) + "unusable_key: next\nrecords:\n" +
                         record("hostnameport=bad.test", certs().bad_key) +
                         record("ipport=0.0.0.0", certs().fallback));
    auto s = s_client(at("127.0.0.1"), "bad.test");
    EXPECT_TRUE(s.connected) << s.output;
    EXPECT_EQ(s.thumbprint, certs().fallback.thumbprint.hex()) << s.output;

    auto log = stop_and_read_log();
    auto line = log_line(log, at("127.0.0.1"), "bad.test");
    ASSERT_TRUE(line) << server.access_log();
    EXPECT_EQ(field(*line, "step"), "ipv4_any");
    EXPECT_EQ(field(*line, "action"), "terminate");
}

// Issue 11: `snibind explain --config` reads the configuration as serve loads it (one model,
// one CertificateSource), so under either unusable_key it names the step serve took.
TEST_F(ServeSelection, ExplainConfigAgreesWithServeUnderUnusableKey_L9) {
    for (const std::string mode : {"fail", "next"}) {
        SCOPED_TRACE(mode);
        auto& server = serve(listen({"127.0.0.1"}) + "unusable_key: " + mode + "\nrecords:\n" +
                             record("hostnameport=bad.test", certs().bad_key) +
                             record("ipport=0.0.0.0", certs().fallback));
        s_client(at("127.0.0.1"), "bad.test");
        auto explained =
            snibind_command("explain --json --config " + (dir_.path() / "config.yaml").string() +
                            " --dst " + at("127.0.0.1") + " --sni bad.test");
        ASSERT_EQ(explained.status, 0) << explained.err;
        auto j = nlohmann::json::parse(explained.out);

        auto log = stop_and_read_log();
        auto line = log_line(log, at("127.0.0.1"), "bad.test");
        ASSERT_TRUE(line) << server.access_log();
        EXPECT_EQ(j["step"], field(*line, "step"));
        if (mode == "fail") {
            EXPECT_EQ(j["outcome"], "failed");
            EXPECT_EQ(field(*line, "result"), "unusable_key");
        } else {
            EXPECT_EQ(j["outcome"], "selected");
            EXPECT_EQ(j["certhash"], certs().fallback.thumbprint.hex());
        }
        serve_.reset();
    }
}

// L7: disablelegacytls on a record bounds the versions after selection: TLS 1.1 fails, TLS 1.2
// works; a record without the flag still takes TLS 1.1, so the refusal is the flag's doing.
TEST_F(ServeSelection, DisableLegacyTlsRefusesTls11_L7) {
    auto& server =
        serve(listen({"127.0.0.1"}) + "records:\n" +
              record("hostnameport=legacy.test", certs().legacy, "disablelegacytls: true") +
              record("hostnameport=site.test", certs().site));
    // OpenSSL 3 clients refuse TLS 1.1 at the default security level.
    const std::vector<std::string> tls11{"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"};
    auto refused = s_client(at("127.0.0.1"), "legacy.test", tls11);
    EXPECT_FALSE(refused.connected) << refused.output;
    auto tls12 = s_client(at("127.0.0.1"), "legacy.test", {"-tls1_2"});
    EXPECT_TRUE(tls12.connected) << tls12.output;
    EXPECT_EQ(tls12.thumbprint, certs().legacy.thumbprint.hex()) << tls12.output;
    auto control = s_client(at("127.0.0.1"), "site.test", tls11);
    EXPECT_TRUE(control.connected) << control.output;
    EXPECT_NE(control.output.find("TLSv1.1"), std::string::npos) << control.output;

    // The refusal is the TLS layer's, after selection: the record was chosen all the same.
    auto log = stop_and_read_log();
    int refused_lines = 0;
    for (const auto& line : log) {
        if (field(line, "sni") != "legacy.test" || field(line, "result") != "tls_error") continue;
        ++refused_lines;
        EXPECT_EQ(field(line, "step"), "sni_exact");
        EXPECT_EQ(field(line, "action"), "terminate");
    }
    EXPECT_EQ(refused_lines, 1) << server.access_log();
}

// A bad config is refused at start: exit status 2, and stderr names the file and the line.
TEST_F(ServeSelection, BadConfigIsRefusedWithFileAndLine) {
    struct {
        const char* name;
        std::string body;  // after the common first line
        int line;
        const char* reason;  // part of the message
    } const cases[] = {
        {"listen without a port", "listen: [\"127.0.0.1\"]\n", 2, "ADDR:PORT"},
        {"unknown key", listen({"127.0.0.1"}) + "precedense: ip-first\n", 3, "precedense"},
        {"bad record key", listen({"127.0.0.1"}) + "records:\n  \"ipport=bogus:1\": {}\n", 4,
         "ipport=bogus"},
        {"record not in the store and no certificate",
         listen({"127.0.0.1"}) + "records:\n  \"ipport=0.0.0.0:" + port() +
             "\": { action: terminate }\n",
         4, "not in the store"},
        {"certificate file missing",
         listen({"127.0.0.1"}) + "records:\n\n  \"ipport=0.0.0.0:" + port() +
             "\": { certificate: " + (dir_.path() / "missing.pem").string() + " }\n",
         5, "missing.pem"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto config = write_config(c.body);
        RunResult r = run({snibind_binary().string(), "serve", config.string()});
        EXPECT_EQ(r.status, 2) << r.err;
        EXPECT_NE(r.err.find(config.string() + ":" + std::to_string(c.line) + ":"),
                  std::string::npos)
            << r.err;
        EXPECT_NE(r.err.find(c.reason), std::string::npos) << r.err;
        EXPECT_EQ(r.err.find("serving"), std::string::npos) << r.err;
        EXPECT_FALSE(has_sanitizer_report(r.err)) << r.err;
    }
    EXPECT_THROW(ServeProcess(write_config(cases[0].body)), std::runtime_error);
}

}  // namespace
}  // namespace snibind::test
