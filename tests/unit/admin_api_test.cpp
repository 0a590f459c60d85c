// The admin console's routes without sockets (admin/admin_api.h), and the one JSON writer every
// command goes through (report::json_text): issue 10 items 1 and 13.
#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "admin/admin_api.h"
#include "admin/metrics.h"
#include "check/check.h"
#include "config/config.h"
#include "load/load_report.h"
#include "report/json_output.h"
#include "serve_process.h"
#include "test_pki.h"

namespace snibind::admin {
namespace {

using nlohmann::json;

struct Response {
    int status = 0;
    std::string content_type, body;
};

Response parse_response(const std::string& raw) {
    Response r;
    EXPECT_TRUE(raw.starts_with("HTTP/1.1 ")) << raw;
    r.status = std::atoi(raw.c_str() + 9);
    auto end = raw.find("\r\n\r\n");
    EXPECT_NE(end, std::string::npos) << raw;
    r.body = raw.substr(end + 4);
    auto ct = raw.find("Content-Type: ");
    if (ct < end) r.content_type = raw.substr(ct + 14, raw.find("\r\n", ct) - ct - 14);
    return r;
}

// A console over a small table, with stand-ins for the server's workers and netsh.
class AdminApi : public ::testing::Test {
  protected:
    AdminApi() {
        Record ip;
        ip.key = RecordKey::ip(IpAddress::from_v4(0), 8443);
        ip.certhash = Thumbprint::parse("1111111111111111111111111111111111111111");
        Record sni;
        sni.key = RecordKey::hostname("site.test", 8443);
        sni.certhash = Thumbprint::parse("2222222222222222222222222222222222222222");
        Record ccs;
        ccs.key = RecordKey::ccs(8443);
        model_->table.assign({ip, sni, ccs});
        model_->config.admin_hosts = {"console.example"};
        context_.model = [this] { return model_; };
        context_.collect_stats = [](std::function<void(stats::Stats)> done) {
            done(stats::Stats{});
        };
        // netsh quotes the words it refuses, bytes and all, as the real one does.
        context_.netsh = [](const std::vector<std::string>& words) {
            std::string out;
            for (const auto& w : words) out += w + " ";
            return std::pair<int, std::string>{1, out + ": The parameter is incorrect."};
        };
        context_.token = "admin-api-test-token";
        context_.warn = [this](std::string_view m) { warnings_.emplace_back(m); };
    }

    // One request; exactly one answer, and a JSON one parses as JSON (valid UTF-8).
    Response request(const std::string& method, const std::string& target,
                     const std::string& body = {}, std::optional<std::string> host = {}) {
        AdminRequest r;
        r.method = method;
        r.target = target;
        r.body = body;
        r.host = std::move(host);
        r.authorised = true;
        r.local = IpAddress::from_v4(0x7f000001);
        std::vector<std::string> answers;
        handle_admin_request(r, context_, [&](std::string a) { answers.push_back(std::move(a)); });
        EXPECT_EQ(answers.size(), 1u) << method << " " << target;
        if (answers.empty()) return {};
        Response resp = parse_response(answers.front());
        if (resp.content_type == "application/json") {
            EXPECT_TRUE(json::accept(resp.body)) << target << "\n" << resp.body;
        }
        return resp;
    }

    std::shared_ptr<model::Model> model_ = std::make_shared<model::Model>();
    AdminContext context_;
    std::vector<std::string> warnings_;
};

// Issue 10 item 1: bytes that are not UTF-8, from the query or the body, reach the JSON answer.
TEST_F(AdminApi, BytesThatAreNotUtf8AnswerValidJson) {
    struct Case {
        std::string method, target, body;
        int status;
    };
    const Case cases[] = {
        {"GET", "/api/explain?dst=127.0.0.1:8443&sni=%ff", "", 200},
        {"GET", "/api/explain?dst=127.0.0.1:8443&sni=%80", "", 200},
        {"GET", "/api/explain?dst=127.0.0.1:8443&sni=a%c3%28.test", "", 200},
        {"GET", "/api/explain?dst=127.0.0.1:8443&sni=\xff\xfe", "", 200},
        {"GET", "/api/explain?dst=127.0.0.1:8443&profile=%ff", "", 400},
        {"GET", "/api/explain?dst=127.0.0.1:8443&precedence=%ff", "", 400},
        {"GET", "/api/explain?dst=%ff", "", 400},
        {"POST", "/api/netsh", "http add sslcert hostnameport=\xff.test:443", 422},
        // Not JSON (invalid UTF-8 in a string), so taken as the raw command: not a netsh one.
        {"POST", "/api/netsh", "{\"command\": \"http add sslcert ipport=\xff\"}", 400},
        {"GET", "/api/records", "", 200},
        {"GET", "/api/stats", "", 200},
        {"GET", "/metrics", "", 200},
        {"GET", "/\xff", "", 404},
        {"DELETE", "/api/\xff", "", 405},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.method + " " + c.target);
        EXPECT_EQ(request(c.method, c.target, c.body).status, c.status);
    }
    // The SNI is shown as `snibind hello` and the lab responder show it: each byte kept.
    auto explained = json::parse(request("GET", "/api/explain?dst=127.0.0.1:8443&sni=%ff").body);
    EXPECT_EQ(explained["sni"], "\u00ff");
    EXPECT_EQ(explained["step"], "ipv4_any");
    EXPECT_TRUE(warnings_.empty());
}

// A route that throws answers 500 with a JSON error and is reported; the caller goes on.
TEST_F(AdminApi, AHandlerThatThrowsAnswers500) {
    context_.netsh = [](const std::vector<std::string>&) -> std::pair<int, std::string> {
        throw std::runtime_error("store exploded \xff");
    };
    auto r = request("POST", "/api/netsh", "http add sslcert ccs=443 appid={x}");
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(json::parse(r.body)["error"], "internal error: store exploded \xef\xbf\xbd");
    ASSERT_EQ(warnings_.size(), 1u);
    EXPECT_NE(warnings_[0].find("POST /api/netsh failed: store exploded"), std::string::npos)
        << warnings_[0];

    // The same for the answer that comes later (the workers' counters).
    context_.collect_stats = [](std::function<void(stats::Stats)>) { throw std::bad_alloc(); };
    EXPECT_EQ(request("GET", "/api/stats").status, 500);
    context_.model = []() -> std::shared_ptr<const model::Model> {
        throw std::logic_error("no model");
    };
    EXPECT_EQ(request("GET", "/api/records").status, 500);
    EXPECT_EQ(warnings_.size(), 3u);
}

// Issue 10 item 13: a Host that is not the console's own address is what a page on another site
// sends after DNS rebinding.
TEST_F(AdminApi, HostMustNameTheConsole) {
    struct Case {
        std::optional<std::string> host;
        int status;
    };
    const Case cases[] = {
        {std::nullopt, 200},  // no Host: not a browser
        {"127.0.0.1:9443", 200},       {"localhost", 200},
        {"Console.Example:8080", 200},  // admin_hosts
        {"evil.example", 421},         {"evil.example:9443", 421},
        {"127.0.0.2:9443", 421},       {"", 421},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.host.value_or("(none)"));
        auto r = request("GET", "/api/records", {}, c.host);
        EXPECT_EQ(r.status, c.status) << r.body;
        if (c.status == 421) {
            EXPECT_NE(json::parse(r.body)["error"].get<std::string>().find("admin_hosts"),
                      std::string::npos);
        }
    }
}

TEST(HostAllowed, OwnAddressLocalhostOrListedNames) {
    const IpAddress v4 = *IpAddress::parse("127.0.0.1");
    const IpAddress v6 = *IpAddress::parse("::1");
    const IpAddress any = IpAddress::v4_any();
    const IpAddress lan = *IpAddress::parse("192.0.2.7");
    const std::vector<std::string> names{"console.example", "trailing.example."};
    struct Case {
        std::string host;
        IpAddress listener;
        std::optional<IpAddress> local;
        bool allowed;
    };
    const Case cases[] = {
        {"127.0.0.1", v4, v4, true},
        {"127.0.0.1:9443", v4, v4, true},
        {"127.0.0.1:1", v4, v4, true},  // any port: ssh -L forwards change it
        {"[::ffff:127.0.0.1]:9443", v4, v4, true},
        {"localhost", v4, v4, true},
        {"LocalHost:9443", v4, v4, true},
        {"localhost.", v4, v4, true},
        {"console.example", v4, v4, true},
        {"CONSOLE.example.:80", v4, v4, true},
        {"trailing.example", v4, v4, true},
        {"[::1]", v6, v6, true},
        {"[::1]:9443", v6, v6, true},
        {"[0:0:0:0:0:0:0:1]:1", v6, v6, true},
        {"192.0.2.7:9443", any, lan, true},  // 0.0.0.0: the address the client reached
        {"0.0.0.0:9443", any, lan, true},
        {"evil.example", v4, v4, false},
        {"localhost.evil.example", v4, v4, false},
        {"evil.localhost", v4, v4, false},
        {"console.example.evil", v4, v4, false},
        {"127.0.0.2", v4, v4, false},
        {"192.0.2.8", any, lan, false},
        {"[::1]", v4, v4, false},
        {"127.0.0.1", v6, v6, false},
        {"", v4, v4, false},
        {":9443", v4, v4, false},
        {"127.0.0.1:", v4, v4, false},
        {"127.0.0.1:99999", v4, v4, false},
        {"127.0.0.1:http", v4, v4, false},
        {"localhost:9443:1", v4, v4, false},
        {"::1", v6, v6, false},  // IPv6 only in brackets
        {"[::1", v6, v6, false},
        {"[::1]x", v6, v6, false},
        {"[::1]:", v6, v6, false},
        {"[localhost]", v4, v4, false},
        {"localhost\xff", v4, v4, false},
        {"local host", v4, v4, false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(host_allowed(c.host, c.listener, c.local, names), c.allowed) << c.host;
    }
    EXPECT_TRUE(host_allowed("127.0.0.1", v4, std::nullopt, {}));
    EXPECT_FALSE(host_allowed("192.0.2.7", any, std::nullopt, {}));
}

// The settings of items 4 and 13: parsed, and refused with file, line and reason.
TEST(AdminSettings, ParsedAndChecked) {
    const std::string listen = "listen: [\"127.0.0.1:443\"]\n";
    config::ConfigError error;
    auto config =
        config::parse_config(listen +
                                 "admin_hosts: [Console.Example, other.test]\n"
                                 "limits: { admin_timeout: 250ms, admin_max_connections: 3 }\n",
                             "c.yaml", error);
    ASSERT_TRUE(config) << error.message();
    EXPECT_EQ(config->admin_hosts, (std::vector<std::string>{"console.example", "other.test"}));
    EXPECT_EQ(config->limits.admin_timeout, std::chrono::milliseconds(250));
    EXPECT_EQ(config->limits.admin_max_connections, 3u);
    auto defaults = config::parse_config(listen, "c.yaml", error);
    ASSERT_TRUE(defaults) << error.message();
    EXPECT_EQ(defaults->limits.admin_timeout, std::chrono::seconds(10));
    EXPECT_EQ(defaults->limits.admin_max_connections, 64u);

    struct Case {
        std::string yaml, message;
    };
    const Case refused[] = {
        {"admin_hosts: [\"console.example:9443\"]\n",
         "c.yaml:2: admin_hosts: 'console.example:9443' is not a host name (give names without "
         "port)"},
        {"admin_hosts: console.example\n", "c.yaml:2: admin_hosts"},
        {"limits: { admin_timeout: 0s }\n", "c.yaml:2: limits.admin_timeout: must be more than 0"},
        {"limits: { admin_max_connections: 0 }\n", "c.yaml:2: limits.admin_max_connections"},
    };
    for (const auto& c : refused) {
        EXPECT_FALSE(config::parse_config(listen + c.yaml, "c.yaml", error)) << c.yaml;
        EXPECT_TRUE(error.message().starts_with(c.message)) << error.message();
    }
}

// Every writer goes through report::json_text: bytes that are not UTF-8 become U+FFFD instead of
// nlohmann's type_error 316.
TEST(JsonText, ReplacesBytesThatAreNotUtf8) {
    EXPECT_EQ(report::json_text(json("a\xff"
                                     "b"),
                                -1),
              "\"a\xef\xbf\xbd"
              "b\"");
    EXPECT_EQ(report::json_text(json{{"k", "\xc3\xa9"}}, -1), "{\"k\":\"\xc3\xa9\"}");  // é kept
    EXPECT_THROW((void)json("\xff").dump(), json::type_error);  // what it guards against

    load::LoadReport load;
    load.target = "127.0.0.1:443";
    load.errors_by_kind["tls alert: \xff"] = 1;
    load.certificates["\x80.test"]["ab"] = 2;
    EXPECT_TRUE(json::accept(report::json_text(load::report_json(load))));

    check::Report check;
    check.hosts.push_back({"site \xff", "https/*:443:\xfe", "\xfe", {}, {}});
    check.findings.push_back(
        {check::Severity::error, "kind", "L8", "site \xff", "message \x80", "fix"});
    EXPECT_TRUE(json::accept(report::json_text(check::report_json(check))));
}

// `snibind check --json` on a config whose site name is not UTF-8 (YAML passes the bytes on):
// it aborted with type_error 316 (exit 134).
TEST(JsonText, CheckJsonWithASiteNameThatIsNotUtf8) {
    test::TempDir dir;
    test::write_file(dir.path() / "c.yaml",
                     "listen: [\"127.0.0.1:18443\"]\nadmin: off\nsites:\n"
                     "  - { name: \"s\xff\", bindings: [\"https/*:18443:a.test\"] }\n");
    auto r = test::run(
        {test::snibind_binary().string(), "check", (dir.path() / "c.yaml").string(), "--json"});
    EXPECT_EQ(r.status, 1) << r.err;  // a finding (no record), not an abort
    json j = json::parse(r.out);
    EXPECT_EQ(j["hosts"][0]["site"], "s\xef\xbf\xbd");
}

// A worker names at most kMaxRecordHitKeys records; the connections of the rest are counted,
// not lost, under one series of their own.
TEST(RecordHits, PastTheCapCountedAsOther) {
    stats::Stats s;
    for (std::size_t i = 0; i < stats::Stats::kMaxRecordHitKeys; ++i)
        s.count_record_hit("Hostname:port n" + std::to_string(i) + ".test:443");
    s.count_record_hit("Hostname:port n0.test:443");
    s.count_record_hit("Hostname:port late.test:443");
    s.count_record_hit("Hostname:port late.test:443");
    EXPECT_EQ(s.record_hits.size(), stats::Stats::kMaxRecordHitKeys);
    EXPECT_EQ(s.record_hits["Hostname:port n0.test:443"], 2u);
    EXPECT_FALSE(s.record_hits.contains("Hostname:port late.test:443"));
    EXPECT_EQ(s.record_hits_other, 2u);

    stats::Stats merged;
    merged.merge(s);
    merged.merge(s);
    EXPECT_EQ(merged.record_hits_other, 4u);
    const std::string text = prometheus_text(merged);
    EXPECT_NE(text.find("snibind_record_hits_total{record=\"Hostname:port n0.test:443\"} 4\n"),
              std::string::npos);
    EXPECT_NE(text.find("snibind_record_hits_other_total 4\n"), std::string::npos);
    EXPECT_EQ(stats_json(merged)["record_hits_other"], 4);
}

}  // namespace
}  // namespace snibind::admin
