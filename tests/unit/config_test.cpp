// The YAML configuration of `snibind serve`: good configs parse to the expected values, bad ones
// fail with the line of the offending node and a reason that names the key and the value.
#include "config/config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>

namespace snibind::config {
namespace {

namespace fs = std::filesystem;

// Relative paths in a config resolve against this file's folder; nothing is read from disk.
const fs::path kFile = "/etc/snibind/lab.yaml";

Config parse_ok(const std::string& yaml) {
    ConfigError error;
    auto config = parse_config(yaml, kFile, error);
    EXPECT_TRUE(config) << error.message() << "\n--- config ---\n" << yaml;
    return config ? *config : Config{};
}

std::string minimal(const std::string& more = "") {
    return "listen: [\"127.0.0.1:8443\"]\n" + more;
}

Endpoint endpoint(const std::string& text) {
    auto parsed = Endpoint::parse(text);
    EXPECT_TRUE(parsed) << text;
    return parsed.value_or(Endpoint{});
}

RecordKey key(Family family, const std::string& value) {
    std::string error;
    auto parsed = RecordKey::parse(family, value, error);
    EXPECT_TRUE(parsed) << value << ": " << error;
    return parsed.value_or(RecordKey{});
}

// Sets an environment variable for one test and restores its absence afterwards.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
    ~ScopedEnv() { ::unsetenv(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

  private:
    const char* name_;
};

// The example of the issue, every key used.
constexpr const char* kFullExample = R"(profile: windows-2022
precedence: sni-first
listen: ["127.0.0.1:8443", "[::1]:8443"]
store: sslcert.txt
certificates: [certs/]
ccs: { folder: ccs/, password_env: SNIBIND_CONFIG_TEST_CCS }
records:
  "hostnameport=a.example.com:8443": { certificate: certs/a.pem, action: forward, backend: "127.0.0.1:9001", proxy_protocol: v2 }
  "ipport=0.0.0.0:8443":             { certhash: 5226dc6c54559761cd471b86eb51c096252c90f2, action: terminate }
  "ipport=127.0.0.2:8443":           { certificate: certs/ip.pem, disablelegacytls: true }
sites:
  - name: siteV1
    bindings: ["https/*:8443:sitev1.mysite.com"]
    backend: "http://127.0.0.1:9101"
on_reject: reset
trailing_dot: strip
unusable_key: fail
limits: { hello_timeout: 5s, max_hello_bytes: 16384, idle_timeout: 60s, max_connections: 20000 }
access_log: stdout
)";

TEST(ConfigGood, FullExampleOfTheIssue) {
    ScopedEnv ccs_password("SNIBIND_CONFIG_TEST_CCS", "s3cret");
    Config c = parse_ok(kFullExample);

    EXPECT_EQ(c.file, kFile);
    EXPECT_EQ(c.selection.profile, Profile::windows_2022);
    EXPECT_EQ(c.selection.precedence, Precedence::sni_first);
    ASSERT_EQ(c.listen.size(), 2u);
    EXPECT_EQ(c.listen[0].endpoint, endpoint("127.0.0.1:8443"));
    EXPECT_EQ(c.listen[1].endpoint, endpoint("[::1]:8443"));
    EXPECT_FALSE(c.listen[0].accept_proxy);
    EXPECT_EQ(c.store, fs::path("/etc/snibind/sslcert.txt"));
    EXPECT_EQ(c.certificates, std::vector<fs::path>{"/etc/snibind/certs/"});
    EXPECT_EQ(c.ccs_folder, fs::path("/etc/snibind/ccs/"));
    EXPECT_EQ(c.ccs_password, "s3cret");

    ASSERT_EQ(c.records.size(), 3u);
    const RecordEntry& forward = c.records[0];
    EXPECT_EQ(forward.key, key(Family::host, "a.example.com:8443"));
    EXPECT_EQ(forward.line, 8);
    EXPECT_EQ(forward.action, Action::forward);
    EXPECT_EQ(forward.backend, endpoint("127.0.0.1:9001"));
    EXPECT_EQ(forward.proxy_protocol, proxy::ProxyVersion::v2);
    EXPECT_EQ(forward.certificate, fs::path("/etc/snibind/certs/a.pem"));
    EXPECT_FALSE(forward.certhash);

    const RecordEntry& by_hash = c.records[1];
    EXPECT_EQ(by_hash.key, key(Family::ip, "0.0.0.0:8443"));
    EXPECT_EQ(by_hash.line, 9);
    EXPECT_EQ(by_hash.action, Action::terminate);
    ASSERT_TRUE(by_hash.certhash);
    EXPECT_EQ(by_hash.certhash->hex(), "5226dc6c54559761cd471b86eb51c096252c90f2");
    EXPECT_FALSE(by_hash.certificate);

    const RecordEntry& legacy = c.records[2];
    EXPECT_EQ(legacy.key, key(Family::ip, "127.0.0.2:8443"));
    EXPECT_EQ(legacy.flags_set, static_cast<std::uint32_t>(kDisableLegacyTls));
    EXPECT_EQ(legacy.flags_cleared, 0u);
    EXPECT_EQ(legacy.action, Action::terminate);

    ASSERT_EQ(c.sites.size(), 1u);
    EXPECT_EQ(c.sites[0].name, "siteV1");
    ASSERT_EQ(c.sites[0].bindings.size(), 1u);
    EXPECT_EQ(c.sites[0].bindings[0].to_string(), "https/*:8443:sitev1.mysite.com");
    EXPECT_EQ(c.sites[0].backend, "http://127.0.0.1:9101");
    EXPECT_EQ(c.sites[0].path, "/");

    EXPECT_EQ(c.selection.on_reject, OnReject::reset);
    EXPECT_EQ(c.selection.trailing_dot, TrailingDot::strip);
    EXPECT_EQ(c.selection.unusable_key, UnusableKey::fail);
    EXPECT_EQ(c.limits.hello_timeout, std::chrono::seconds(5));
    EXPECT_EQ(c.limits.max_hello_bytes, 16384u);
    EXPECT_EQ(c.limits.idle_timeout, std::chrono::seconds(60));
    EXPECT_EQ(c.limits.max_connections, 20000u);
    EXPECT_EQ(c.access_log, "stdout");
    EXPECT_EQ(c.admin, endpoint("127.0.0.1:9443"));  // the default console (issue 5)
}

TEST(ConfigGood, DefaultsWhenKeysAreAbsent) {
    Config c = parse_ok(minimal());
    SelectionSettings defaults;
    EXPECT_EQ(c.selection.profile, defaults.profile);
    EXPECT_EQ(c.selection.precedence, Precedence::sni_first);  // L1
    EXPECT_EQ(c.selection.trailing_dot, TrailingDot::strip);   // L6
    EXPECT_EQ(c.selection.unusable_key, UnusableKey::fail);    // L9
    EXPECT_EQ(c.selection.on_reject, OnReject::reset);         // L8
    EXPECT_FALSE(c.store);
    EXPECT_TRUE(c.certificates.empty());
    EXPECT_TRUE(c.certificate_password.empty());
    EXPECT_FALSE(c.ccs_folder);
    EXPECT_TRUE(c.records.empty());
    EXPECT_TRUE(c.sites.empty());
    EXPECT_TRUE(c.backend_sni.empty());
    EXPECT_FALSE(c.backend_verify);
    EXPECT_EQ(c.limits.hello_timeout, std::chrono::milliseconds(5000));
    EXPECT_EQ(c.limits.max_hello_bytes, 16384u);
    EXPECT_EQ(c.limits.idle_timeout, std::chrono::milliseconds(60000));
    EXPECT_EQ(c.limits.max_connections, 20000u);
    EXPECT_EQ(c.limits.drain_timeout, std::chrono::milliseconds(10000));
    EXPECT_EQ(c.access_log, "stdout");
    EXPECT_EQ(c.admin, endpoint("127.0.0.1:9443"));
    EXPECT_TRUE(c.admin_token.empty());
    EXPECT_FALSE(c.urlacl_store);
    EXPECT_FALSE(c.iis_config);
}

TEST(ConfigGood, AdminOffAndTokenFile) {
    EXPECT_FALSE(parse_ok(minimal("admin: off\n")).admin);
    auto dir = std::filesystem::temp_directory_path() /
               ("snibind-config-token-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        std::ofstream(dir / "token") << "0123456789abcdef-token\r\n";
        std::ofstream(dir / "short") << "short\n";
    }
    ConfigError error;
    auto c = parse_config(minimal("admin_token_file: token\n"), dir / "lab.yaml", error);
    ASSERT_TRUE(c) << error.message();
    EXPECT_EQ(c->admin_token, "0123456789abcdef-token");
    EXPECT_FALSE(parse_config(minimal("admin_token_file: short\n"), dir / "lab.yaml", error));
    EXPECT_NE(error.reason.find("at least 16"), std::string::npos) << error.reason;
    EXPECT_FALSE(parse_config(minimal("admin_token_file: missing\n"), dir / "lab.yaml", error));
    EXPECT_NE(error.reason.find("cannot read"), std::string::npos) << error.reason;
    std::filesystem::remove_all(dir);
}

struct SettingCase {
    std::string yaml;
    SelectionSettings expected;
};

SelectionSettings with(auto SelectionSettings::*field, auto value) {
    SelectionSettings s;
    s.*field = value;
    return s;
}

TEST(ConfigGood, EverySettingValue) {
    using S = SelectionSettings;
    const std::vector<SettingCase> cases{
        {"profile: windows-2008r2", with(&S::profile, Profile::windows_2008r2)},
        {"profile: windows-2012", with(&S::profile, Profile::windows_2012)},
        {"profile: windows-2012r2", with(&S::profile, Profile::windows_2012r2)},
        {"profile: windows-2016", with(&S::profile, Profile::windows_2016)},
        {"profile: windows-2019", with(&S::profile, Profile::windows_2019)},
        {"profile: windows-2022", with(&S::profile, Profile::windows_2022)},
        {"precedence: sni-first", with(&S::precedence, Precedence::sni_first)},  // L1
        {"precedence: ip-first", with(&S::precedence, Precedence::ip_first)},    // L2
        {"trailing_dot: strip", with(&S::trailing_dot, TrailingDot::strip)},     // L6
        {"trailing_dot: reject", with(&S::trailing_dot, TrailingDot::reject)},
        {"unusable_key: fail", with(&S::unusable_key, UnusableKey::fail)},  // L9
        {"unusable_key: next", with(&S::unusable_key, UnusableKey::next)},
        {"on_reject: reset", with(&S::on_reject, OnReject::reset)},  // L8
        {"on_reject: alert", with(&S::on_reject, OnReject::alert)},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.yaml);
        Config config = parse_ok(minimal(c.yaml + "\n"));
        EXPECT_EQ(config.selection.profile, c.expected.profile);
        EXPECT_EQ(config.selection.precedence, c.expected.precedence);
        EXPECT_EQ(config.selection.trailing_dot, c.expected.trailing_dot);
        EXPECT_EQ(config.selection.unusable_key, c.expected.unusable_key);
        EXPECT_EQ(config.selection.on_reject, c.expected.on_reject);
    }
}

TEST(ConfigGood, Durations) {
    const std::vector<std::pair<std::string, std::chrono::milliseconds>> cases{
        {"5s", std::chrono::seconds(5)},      {"500ms", std::chrono::milliseconds(500)},
        {"2m", std::chrono::minutes(2)},      {"7", std::chrono::seconds(7)},
        {"\"30\"", std::chrono::seconds(30)}, {"1h", std::chrono::hours(1)},
    };
    for (const auto& [text, expected] : cases) {
        SCOPED_TRACE(text);
        Config c = parse_ok(minimal("limits: { hello_timeout: " + text + ", idle_timeout: " + text +
                                    ", drain_timeout: " + text + " }\n"));
        EXPECT_EQ(c.limits.hello_timeout, expected);
        EXPECT_EQ(c.limits.idle_timeout, expected);
        EXPECT_EQ(c.limits.drain_timeout, expected);
    }
    // Closing open connections at once on shutdown is a valid choice.
    EXPECT_EQ(parse_ok(minimal("limits: { drain_timeout: 0s }\n")).limits.drain_timeout,
              std::chrono::milliseconds(0));
}

// One grammar with the load generator (text/duration.h): decimals and sub-second units too.
TEST(ConfigGood, DurationsShareTheLoadGeneratorsGrammar) {
    Config c = parse_ok(minimal("limits: { hello_timeout: 1.5s, idle_timeout: 250000us }\n"));
    EXPECT_EQ(c.limits.hello_timeout, std::chrono::milliseconds(1500));
    EXPECT_EQ(c.limits.idle_timeout, std::chrono::milliseconds(250));
}

// The TLS handshake (terminate) and the backend connect (forward) each have their own limit;
// unset, each is hello_timeout, which bounded both before (issue 11).
TEST(ConfigGood, HandshakeAndConnectTimeoutsDefaultToHelloTimeout) {
    Config defaults = parse_ok(minimal());
    EXPECT_EQ(defaults.limits.handshake_timeout, std::chrono::seconds(5));
    EXPECT_EQ(defaults.limits.connect_timeout, std::chrono::seconds(5));
    Config follows = parse_ok(minimal("limits: { hello_timeout: 2s }\n"));
    EXPECT_EQ(follows.limits.handshake_timeout, std::chrono::seconds(2));
    EXPECT_EQ(follows.limits.connect_timeout, std::chrono::seconds(2));
    Config own = parse_ok(
        minimal("limits: { hello_timeout: 2s, handshake_timeout: 300ms, connect_timeout: 7s }\n"));
    EXPECT_EQ(own.limits.hello_timeout, std::chrono::seconds(2));
    EXPECT_EQ(own.limits.handshake_timeout, std::chrono::milliseconds(300));
    EXPECT_EQ(own.limits.connect_timeout, std::chrono::seconds(7));
}

// Issue 12: idle backend connections kept per backend and worker (nginx's upstream keepalive).
TEST(ConfigGood, BackendKeepalive) {
    Config defaults = parse_ok(minimal());
    EXPECT_EQ(defaults.backend_keepalive, 32u);
    EXPECT_EQ(defaults.limits.backend_keepalive_timeout, std::chrono::seconds(60));
    Config set =
        parse_ok(minimal("backend_keepalive: 0\nlimits: { backend_keepalive_timeout: 4s }\n"));
    EXPECT_EQ(set.backend_keepalive, 0u);
    EXPECT_EQ(set.limits.backend_keepalive_timeout, std::chrono::seconds(4));
}

TEST(ConfigGood, ListenMapFormAdminAndBackendSettings) {
    Config c = parse_ok(R"(listen:
  - "127.0.0.1:8443"
  - { address: "127.0.0.2:8443", accept_proxy: true }
  - address: "[::1]:8443"
    accept_proxy: false
    defer_accept: false
admin: "127.0.0.1:9443"
backend_sni: legacy.internal
backend_verify: true
access_log: logs/access.log
limits: { max_hello_bytes: 65536, max_connections: 1, drain_timeout: 500ms }
)");
    ASSERT_EQ(c.listen.size(), 3u);
    EXPECT_FALSE(c.listen[0].accept_proxy);
    EXPECT_TRUE(c.listen[0].defer_accept);  // the default
    EXPECT_TRUE(c.listen[1].defer_accept);
    EXPECT_FALSE(c.listen[2].defer_accept);
    EXPECT_EQ(c.listen[1].endpoint, endpoint("127.0.0.2:8443"));
    EXPECT_TRUE(c.listen[1].accept_proxy);
    EXPECT_EQ(c.listen[2].endpoint, endpoint("[::1]:8443"));
    EXPECT_FALSE(c.listen[2].accept_proxy);
    EXPECT_EQ(c.admin, endpoint("127.0.0.1:9443"));
    EXPECT_EQ(c.backend_sni, "legacy.internal");
    EXPECT_TRUE(c.backend_verify);
    EXPECT_EQ(c.access_log, "/etc/snibind/logs/access.log");
    EXPECT_EQ(c.limits.max_hello_bytes, 65536u);  // src/tls/README.md: configurable up to 64 KiB
    EXPECT_EQ(c.limits.max_connections, 1u);
    EXPECT_EQ(c.limits.drain_timeout, std::chrono::milliseconds(500));
    EXPECT_EQ(parse_ok(minimal("access_log: off\n")).access_log, "off");
}

TEST(ConfigGood, AbsolutePathsStayAsWritten) {
    Config c =
        parse_ok(minimal("store: /var/lib/snibind/sslcert.txt\ncertificates: [/a.pem, b.pfx]\n"
                         "access_log: /var/log/snibind.log\n"));
    EXPECT_EQ(c.store, fs::path("/var/lib/snibind/sslcert.txt"));
    EXPECT_EQ(c.certificates, (std::vector<fs::path>{"/a.pem", "/etc/snibind/b.pfx"}));
    EXPECT_EQ(c.access_log, "/var/log/snibind.log");
}

TEST(ConfigGood, PasswordsInlineAndFromTheEnvironment) {
    ScopedEnv env("SNIBIND_CONFIG_TEST_PFX", "from-env");
    Config inline_form =
        parse_ok(minimal("certificate_password: pfx-pass\nccs: { folder: ccs, password: lab }\n"));
    EXPECT_EQ(inline_form.certificate_password, "pfx-pass");
    EXPECT_EQ(inline_form.ccs_password, "lab");
    Config env_form =
        parse_ok(minimal("certificate_password_env: SNIBIND_CONFIG_TEST_PFX\n"
                         "ccs: { folder: ccs, password_env: SNIBIND_CONFIG_TEST_PFX }\n"));
    EXPECT_EQ(env_form.certificate_password, "from-env");
    EXPECT_EQ(env_form.ccs_password, "from-env");
}

// Record keys in netsh syntax, normalised like netsh keys (L6).
TEST(ConfigGood, RecordKeysOfEveryFamily) {
    const std::vector<std::pair<std::string, RecordKey>> cases{
        {"ipport=10.0.0.5:443", key(Family::ip, "10.0.0.5:443")},
        {"ipport=[::]:443", key(Family::ip, "[::]:443")},
        {"IPPORT=0.0.0.0:443", key(Family::ip, "0.0.0.0:443")},
        {"hostnameport=WWW.Contoso.com:443", key(Family::host, "www.contoso.com:443")},
        {"hostnameport=*.contoso.com:443", key(Family::host, "*.contoso.com:443")},
        {"hostnameport=www.contoso.com.:443", key(Family::host, "www.contoso.com:443")},  // L6
        {"hostnameport=bücher.example:443", key(Family::host, "xn--bcher-kva.example:443")},
        {"ccs=443", key(Family::ccs, "443")},
        {"scopedccs=www.contoso.com:443", key(Family::scoped_ccs, "www.contoso.com:443")},
    };
    for (const auto& [text, expected] : cases) {
        SCOPED_TRACE(text);
        Config c = parse_ok(minimal("records:\n  \"" + text + "\": {}\n"));
        ASSERT_EQ(c.records.size(), 1u);
        EXPECT_EQ(c.records[0].key, expected);
        EXPECT_EQ(c.records[0].line, 3);
    }
    // A key alone (no settings) names a record the store must hold.
    Config bare = parse_ok(minimal("records:\n  \"ccs=8443\":\n"));
    ASSERT_EQ(bare.records.size(), 1u);
    EXPECT_EQ(bare.records[0].key, key(Family::ccs, "8443"));
}

// Flag keys are the netsh parameter names of netsh_fields.h; true/false and enable/disable.
TEST(ConfigGood, RecordFlagsAndAppid) {
    Config c = parse_ok(minimal(R"(records:
  "ipport=0.0.0.0:443":
    clientcertnegotiation: enable
    usagecheck: false
    disablehttp2: true
    reject: disable
    verifyclientcertrevocation: "True"
    appid: "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
)"));
    ASSERT_EQ(c.records.size(), 1u);
    const RecordEntry& r = c.records[0];
    EXPECT_EQ(r.flags_set, static_cast<std::uint32_t>(kNegotiateClientCert | kDisableHttp2 |
                                                      kVerifyClientCertRevocation));
    EXPECT_EQ(r.flags_cleared, static_cast<std::uint32_t>(kUsageCheck | kRejectConnections));
    ASSERT_TRUE(r.appid);
    EXPECT_EQ(r.appid->to_string(), "{4dc3e181-e14b-4a21-b022-59fc669b0914}");
}

TEST(ConfigGood, ForwardWithProxyProtocolV1) {
    Config c = parse_ok(
        minimal("records:\n  \"ipport=0.0.0.0:443\": { action: forward, backend: \"[::1]:9000\", "
                "proxy_protocol: v1 }\n"));
    ASSERT_EQ(c.records.size(), 1u);
    EXPECT_EQ(c.records[0].action, Action::forward);
    EXPECT_EQ(c.records[0].backend, endpoint("[::1]:9000"));
    EXPECT_EQ(c.records[0].proxy_protocol, proxy::ProxyVersion::v1);
    EXPECT_EQ(to_string(Action::forward), "forward");
    EXPECT_EQ(to_string(Action::terminate), "terminate");
}

TEST(ConfigGood, ApplicationsMapAnAppidToAnAction) {
    Config c = parse_ok(minimal(R"(applications:
  "{4dc3e181-e14b-4a21-b022-59fc669b0914}": { action: forward, backend: "127.0.0.1:9000", proxy_protocol: v2 }
  "{00000000-0000-0000-0000-000000000001}": { action: terminate }
)"));
    ASSERT_EQ(c.applications.size(), 2u);
    const RecordEntry& a = c.applications[0];
    ASSERT_TRUE(a.appid);
    EXPECT_EQ(a.appid->to_string(), "{4dc3e181-e14b-4a21-b022-59fc669b0914}");
    EXPECT_EQ(a.action, Action::forward);
    EXPECT_EQ(a.backend, endpoint("127.0.0.1:9000"));
    EXPECT_EQ(a.proxy_protocol, proxy::ProxyVersion::v2);
    EXPECT_EQ(a.line, 3);  // after minimal()'s listen line and "applications:"
    EXPECT_EQ(c.applications[1].action, Action::terminate);
    EXPECT_TRUE(c.records.empty());
}

TEST(ConfigGood, SiteBackendsAndPaths) {
    Config c = parse_ok(minimal(R"(sites:
  - name: a
    bindings: ["https/*:8443:a.example", "https/10.0.0.5:8443:"]
    backend: "https://backend.internal:443"
    path: /app/
  - name: b
    bindings: ["https/[::1]:8443:"]
    backend: "http://[::1]:9101"
  - name: lab
    bindings: ["http/*:80:"]
)"));
    ASSERT_EQ(c.sites.size(), 3u);
    EXPECT_EQ(c.sites[0].bindings.size(), 2u);
    EXPECT_EQ(c.sites[0].backend, "https://backend.internal:443");
    EXPECT_EQ(c.sites[0].path, "/app/");
    EXPECT_EQ(c.sites[1].backend, "http://[::1]:9101");
    EXPECT_TRUE(c.sites[2].backend.empty());  // the lab responder answers
}

struct BadCase {
    std::string name;
    std::string yaml;
    int line;
    std::string reason;  // a substring of the reason
};

TEST(ConfigBad, LineAndReason) {
    const std::vector<BadCase> cases{
        {"bad listen",
         "profile: windows-2022\nlisten:\n  - \"127.0.0.1:8443\"\n  - \"127.0.0.1\"\n", 4,
         "listen: '127.0.0.1' is not ADDR:PORT (IPv6 as [::1]:8443)"},
        {"listen port 0", "listen: [\"127.0.0.1:0\"]\n", 1, "'127.0.0.1:0' is not ADDR:PORT"},
        {"unquoted IPv6 listen", "listen:\n  - [::1]\n", 2, "quote IPv6"},
        {"listen twice", "listen: [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n", 1,
         "127.0.0.1:1 is given twice"},
        {"listen missing", "profile: windows-2022\n", 1, "'listen' is required"},
        {"listen empty", "profile: windows-2022\nlisten: []\n", 2, "listen: at least one"},
        {"listen map without address", "listen:\n  - { accept_proxy: true }\n", 2,
         "listen: 'address' is required"},
        {"listen map unknown key",
         "listen:\n  - { address: \"127.0.0.1:1\", accept_proxi: true }\n", 2,
         "listen: unknown key 'accept_proxi' (did you mean 'accept_proxy'?)"},
        {"accept_proxy not boolean",
         "listen:\n  - { address: \"127.0.0.1:1\", accept_proxy: yes }\n", 2,
         "listen.accept_proxy: 'yes' is not true or false"},
        {"defer_accept not boolean", "listen:\n  - { address: \"127.0.0.1:1\", defer_accept: 1 }\n",
         2, "listen.defer_accept: '1' is not true or false"},
        {"unknown top-level key", minimal("profile: windows-2022\nlimts: {}\n"), 3,
         "unknown key 'limts' (did you mean 'limits'?)"},
        {"unknown key, nothing close", minimal("colour: blue\n"), 2, "unknown key 'colour'"},
        {"unknown limits key", minimal("limits:\n  hello_timout: 5s\n"), 3,
         "limits: unknown key 'hello_timout' (did you mean 'hello_timeout'?)"},
        {"key given twice", minimal("profile: windows-2022\nprofile: windows-2019\n"), 3,
         "'profile' is given twice"},
        {"bad profile", minimal("\nprofile: windows-2003\n"), 3,
         "profile: 'windows-2003' is not a profile (windows-2008r2"},
        {"bad precedence", minimal("precedence: dns-first\n"), 2,
         "precedence: 'dns-first' is not sni-first or ip-first"},
        {"bad trailing_dot", minimal("trailing_dot: keep\n"), 2, "'keep' is not strip or reject"},
        {"bad unusable_key", minimal("unusable_key: skip\n"), 2, "'skip' is not fail or next"},
        {"bad on_reject", minimal("on_reject: drop\n"), 2, "'drop' is not reset or alert"},
        {"bad duration", minimal("limits:\n  idle_timeout: 60s\n  hello_timeout: 5x\n"), 4,
         "limits.hello_timeout: '5x' is not a duration"},
        {"negative duration", minimal("limits: { idle_timeout: -1s }\n"), 2,
         "limits.idle_timeout: '-1s' is not a duration"},
        {"zero hello timeout", minimal("limits: { hello_timeout: 0 }\n"), 2,
         "limits.hello_timeout: must be more than 0"},
        {"zero handshake timeout", minimal("limits: { handshake_timeout: 0s }\n"), 2,
         "limits.handshake_timeout: must be more than 0"},
        {"duration finer than a millisecond", minimal("limits: { connect_timeout: 1500us }\n"), 2,
         "limits.connect_timeout: '1500us' is finer than a millisecond"},
        {"hello cap above 64 KiB", minimal("limits: { max_hello_bytes: 65537 }\n"), 2,
         "limits.max_hello_bytes: '65537' is not a number 512-65536"},
        {"max_connections not a number", minimal("limits: { max_connections: many }\n"), 2,
         "limits.max_connections: 'many' is not a number"},
        {"backend_keepalive negative", minimal("backend_keepalive: -1\n"), 2,
         "backend_keepalive: '-1' is not a number 0-100000"},
        {"backend_keepalive_timeout zero", minimal("limits: { backend_keepalive_timeout: 0s }\n"),
         2, "limits.backend_keepalive_timeout: must be more than 0"},
        {"bad record key: no port", minimal("records:\n  \"ipport=127.0.0.1\": {}\n"), 3,
         "records: 'ipport=127.0.0.1': '127.0.0.1' has no ':port'"},
        {"bad record key: no '='", minimal("records:\n  \"127.0.0.1:443\": {}\n"), 3,
         "'127.0.0.1:443' is not a record key (netsh key syntax"},
        {"bad record key: unknown type", minimal("records:\n  \"hostnamport=a.b:443\": {}\n"), 3,
         "unknown key type (did you mean 'hostnameport'?)"},
        {"bad record key: host", minimal("records:\n  \"hostnameport=a..b:443\": {}\n"), 3,
         "records: 'hostnameport=a..b:443'"},
        {"record key trailing dot under reject (L6)",
         minimal("trailing_dot: reject\nrecords:\n  \"hostnameport=a.example.:443\": {}\n"), 4,
         "'hostnameport=a.example.:443'"},
        {"record key twice after normalisation (L6)",
         minimal("records:\n  \"hostnameport=A.example:443\": {}\n"
                 "  \"hostnameport=a.example:443\": {}\n"),
         4, "hostnameport=a.example:443 is given twice (line 3)"},
        {"flag value not boolean",
         minimal("records:\n  \"ccs=443\":\n    disablelegacytls: maybe\n"), 4,
         "records[\"ccs=443\"].disablelegacytls: 'maybe' is not true/false or enable/disable"},
        {"unknown record key with suggestion",
         minimal("records:\n  \"ccs=443\":\n    disablelegacytl: true\n"), 4,
         "unknown key 'disablelegacytl' (did you mean 'disablelegacytls'?)"},
        {"forward without backend", minimal("records:\n  \"ccs=443\": { action: forward }\n"), 3,
         "action: forward needs a backend"},
        {"bad action", minimal("records:\n  \"ccs=443\": { action: pass }\n"), 3,
         "action: 'pass' is not terminate or forward"},
        {"proxy_protocol with terminate",
         minimal("records:\n  \"ccs=443\":\n    action: terminate\n    proxy_protocol: v2\n"), 5,
         "proxy_protocol: only with action: forward"},
        {"backend with terminate",
         minimal("records:\n  \"ccs=443\":\n    backend: \"127.0.0.1:9\"\n"), 4,
         "backend: only with action: forward"},
        {"bad proxy_protocol version",
         minimal("records:\n  \"ccs=443\": { action: forward, backend: \"127.0.0.1:9\", "
                 "proxy_protocol: v3 }\n"),
         3, "proxy_protocol: 'v3' is not v1 or v2"},
        {"forward backend is not ADDR:PORT",
         minimal("records:\n  \"ccs=443\": { action: forward, backend: \"localhost:9\" }\n"), 3,
         "backend: 'localhost:9' is not ADDR:PORT"},
        {"certhash and certificate both",
         minimal("records:\n  \"ipport=0.0.0.0:443\":\n    certhash: "
                 "5226dc6c54559761cd471b86eb51c096252c90f2\n    certificate: a.pem\n"),
         5, "certhash and certificate"},
        {"bad certhash", minimal("records:\n  \"ipport=0.0.0.0:443\": { certhash: 5226dc }\n"), 3,
         "certhash: '5226dc' is not 40 hex digits"},
        {"unquoted appid", minimal("records:\n  \"ipport=0.0.0.0:443\":\n    appid: {x}\n"), 4,
         "quote the GUID"},
        {"bad site binding", minimal(R"(sites:
  - name: a
    bindings:
      - "https/*:8443:a.example"
      - "https/*:0:b.example"
)"),
         6, "sites[0].bindings: 'https/*:0:b.example': port '0' is not 1-65535"},
        {"duplicate site name", minimal(R"(sites:
  - name: a
    bindings: ["https/*:8443:a.example"]
  - name: a
    bindings: ["https/*:8443:b.example"]
)"),
         5, "sites: name 'a' is given twice"},
        {"site without bindings", minimal("sites:\n  - name: a\n"), 3,
         "sites[0]: 'bindings' is required"},
        {"bad backend URL: scheme",
         minimal("sites:\n  - name: a\n    bindings: [\"https/*:1:\"]\n    backend: "
                 "\"ftp://127.0.0.1:21\"\n"),
         5, "sites[0].backend: 'ftp://127.0.0.1:21' is not http://HOST:PORT or https://HOST:PORT"},
        {"bad backend URL: no port",
         minimal("sites:\n  - name: a\n    bindings: [\"https/*:1:\"]\n    backend: "
                 "\"http://127.0.0.1\"\n"),
         5, "'http://127.0.0.1' is not http://HOST:PORT"},
        {"bad backend URL: path",
         minimal("sites:\n  - name: a\n    bindings: [\"https/*:1:\"]\n    backend: "
                 "\"http://127.0.0.1:80/app\"\n"),
         5, "'http://127.0.0.1:80/app' is not http://HOST:PORT"},
        {"bad backend URL: IPv6 without brackets",
         minimal("sites:\n  - name: a\n    bindings: [\"https/*:1:\"]\n    backend: "
                 "\"http://::1:80\"\n"),
         5, "an IPv6 address needs brackets"},
        {"bad backend URL: host",
         minimal("sites:\n  - name: a\n    bindings: [\"https/*:1:\"]\n    backend: "
                 "\"http://a b:80\"\n"),
         5, "'http://a b:80' is not http://HOST:PORT"},
        {"site path without slash",
         minimal("sites:\n  - name: a\n    bindings: [\"https/*:1:\"]\n    path: app\n"), 5,
         "sites[0].path: 'app' does not start with '/'"},
        {"env var unset", minimal("\ncertificate_password_env: SNIBIND_CONFIG_TEST_UNSET\n"), 3,
         "certificate_password_env: environment variable 'SNIBIND_CONFIG_TEST_UNSET' is not set"},
        {"ccs env var unset",
         minimal("ccs:\n  folder: ccs\n  password_env: SNIBIND_CONFIG_TEST_UNSET\n"), 4,
         "ccs.password_env: environment variable 'SNIBIND_CONFIG_TEST_UNSET' is not set"},
        {"password and password_env",
         minimal("ccs:\n  folder: ccs\n  password: a\n  password_env: B\n"), 5,
         "give password or password_env, not both"},
        {"ccs without folder", minimal("ccs:\n  password: a\n"), 3, "ccs: 'folder' is required"},
        {"YAML syntax error", minimal("records:\n  \"ccs=443\": { action: forward\nsites: []\n"), 4,
         "YAML syntax: end of map flow not found"},
        {"a map where a list is expected", minimal("certificates:\n  certs: a.pem\n"), 3,
         "certificates: expected a list, found a map"},
        {"a list where a map is expected", minimal("limits: [5s]\n"), 2,
         "limits: expected a map, found a list"},
        {"a list where a value is expected", minimal("store: [a, b]\n"), 2,
         "store: expected a single value, found a list"},
        {"listen as a single value", "listen: \"127.0.0.1:8443\"\n", 1,
         "listen: expected a list, found a single value"},
        {"not a map at all", "- listen\n", 1, "the config must be a map"},
        {"bad admin", minimal("admin: 9443\n"), 2, "admin: '9443' is not ADDR:PORT"},
        {"backend_verify not boolean", minimal("backend_verify: sometimes\n"), 2,
         "backend_verify: 'sometimes' is not true or false"},
        {"application not a GUID", minimal("applications:\n  \"app1\": { action: terminate }\n"), 3,
         "applications: 'app1' is not a GUID"},
        {"application twice",
         minimal("applications:\n  \"{00000000-0000-0000-0000-000000000001}\": { action: "
                 "terminate }\n  \"{00000000-0000-0000-0000-000000000001}\": { action: "
                 "terminate }\n"),
         4, "is given twice (line 3)"},
        {"application without settings",
         minimal("applications:\n  \"{00000000-0000-0000-0000-000000000001}\":\n"), 3,
         "give it an action"},
        {"application with a certificate",
         minimal("applications:\n  \"{00000000-0000-0000-0000-000000000001}\": { certificate: "
                 "a.pem }\n"),
         3, "unknown key 'certificate'"},
        // One config is one YAML document: a second one (a pasted block, a merge gone wrong)
        // would otherwise be ignored without a word. The line is the second '---'.
        {"second document", minimal("---\nlisten: [\"127.0.0.1:2\"]\n"), 2,
         "a second YAML document ('---') is not supported: a config is one document"},
        {"second, empty document", "---\n" + minimal() + "---\n", 3,
         "a second YAML document ('---')"},
        {"second document after an end marker", minimal("...\n---\nprofile: windows-2022\n"), 3,
         "a second YAML document"},
        {"application forward without backend",
         minimal("applications:\n  \"{00000000-0000-0000-0000-000000000001}\": { action: "
                 "forward }\n"),
         3, "action: forward needs a backend"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        ConfigError error;
        auto config = parse_config(c.yaml, kFile, error);
        ASSERT_FALSE(config) << c.yaml;
        EXPECT_EQ(error.file, kFile);
        EXPECT_EQ(error.line, c.line) << error.message();
        EXPECT_NE(error.reason.find(c.reason), std::string::npos)
            << "reason: " << error.reason << "\nexpected: " << c.reason;
    }
}

// A leading '---' or a trailing '...' marks the one document: still one config.
TEST(ConfigGood, OneDocumentWithMarkers) {
    EXPECT_EQ(parse_ok("---\n" + minimal()).listen.size(), 1u);
    EXPECT_EQ(parse_ok("--- # the lab\n" + minimal() + "...\n").listen.size(), 1u);
    EXPECT_EQ(parse_ok(minimal("# ---\n")).listen.size(), 1u);
}

// The token file is read as far as its first line and only when it is a regular file: a device
// or a FIFO (admin_token_file: /dev/zero, /dev/stdin) must not hang or exhaust the loader.
TEST(ConfigBad, TokenFileMustBeARegularFile) {
    struct Case {
        std::string path, reason;
    };
    const std::vector<Case> cases{
        {"/dev/zero", "admin_token_file: '/dev/zero' is not a regular file"},
        {"/tmp", "admin_token_file: '/tmp' is not a regular file"},
        {"/nonexistent/token", "admin_token_file: cannot read '/nonexistent/token'"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.path);
        ConfigError error;
        EXPECT_FALSE(parse_config(minimal("admin_token_file: " + c.path + "\n"), kFile, error));
        EXPECT_EQ(error.line, 2);
        EXPECT_NE(error.reason.find(c.reason), std::string::npos) << error.reason;
    }
}

TEST(ConfigBad, MessageNamesFileLineAndReason) {
    ConfigError error;
    ASSERT_FALSE(
        parse_config("profile: windows-2022\nlisten: [\"127.0.0.1\"]\n", "lab.yaml", error));
    EXPECT_EQ(error.message(),
              "lab.yaml:2: listen: '127.0.0.1' is not ADDR:PORT (IPv6 as [::1]:8443)");
    ConfigError untied{"lab.yaml", 0, "cannot read the config file"};
    EXPECT_EQ(untied.message(), "lab.yaml: cannot read the config file");
}

// A fresh folder under the system temp dir, removed with everything in it.
class TempDir {
  public:
    TempDir() {
        std::random_device random;
        path_ = fs::temp_directory_path() / ("snibind-config-test-" + std::to_string(random()));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

TEST(ConfigLoad, ReadsTheFileAndResolvesPathsAgainstItsFolder) {
    TempDir dir;
    fs::path file = dir.path() / "snibind.yaml";
    std::ofstream(file) << minimal("store: sslcert.txt\n");
    ConfigError error;
    auto config = load_config(file, error);
    ASSERT_TRUE(config) << error.message();
    EXPECT_EQ(config->file, file);
    EXPECT_EQ(config->store, dir.path() / "sslcert.txt");

    std::ofstream(file) << minimal("stroe: sslcert.txt\n");
    EXPECT_FALSE(load_config(file, error));
    EXPECT_EQ(error.message(), file.string() + ":2: unknown key 'stroe' (did you mean 'store'?)");
}

TEST(ConfigLoad, MissingFile) {
    TempDir dir;
    ConfigError error;
    EXPECT_FALSE(load_config(dir.path() / "absent.yaml", error));
    EXPECT_EQ(error.line, 0);
    EXPECT_NE(error.reason.find("cannot read"), std::string::npos);
}

// config/lab.yaml is what `snibind serve` runs with no argument: it must always parse, and it is
// the seed lab of src/bindings/README.md section 5 (a default record, an SNI record, a wildcard, a
// second loopback address, CCS).
TEST(ConfigLab, SeedLabParses) {
    const fs::path lab = fs::path(SNIBIND_TEST_DATA) / ".." / ".." / "config" / "lab.yaml";
    ConfigError error;
    auto config = load_config(lab, error);
    ASSERT_TRUE(config) << error.message();
    const fs::path certs = lab.parent_path() / "lab-certs";

    ASSERT_EQ(config->listen.size(), 2u);
    EXPECT_EQ(config->listen[0].endpoint, endpoint("127.0.0.1:8443"));
    EXPECT_EQ(config->listen[1].endpoint, endpoint("127.0.0.2:8443"));
    EXPECT_EQ(config->store, lab.parent_path() / "lab-sslcert.txt");  // starts empty
    EXPECT_EQ(config->admin, endpoint("127.0.0.1:9443"));
    EXPECT_TRUE(config->sites.empty());
    EXPECT_EQ(config->ccs_folder, certs / "ccs");
    EXPECT_EQ(config->ccs_password, "lab");

    const std::vector<std::pair<RecordKey, fs::path>> expected{
        {key(Family::ip, "0.0.0.0:8443"), certs / "default.pem"},
        {key(Family::host, "sitev2.mysite.com:8443"), certs / "sitev2.pem"},
        {key(Family::host, "*.wild.mysite.com:8443"), certs / "wildcard.pem"},
        {key(Family::ip, "127.0.0.2:8443"), certs / "ip2.pem"},
    };
    for (const auto& [record_key, certificate] : expected) {
        SCOPED_TRACE(record_key.display());
        auto it = std::find_if(config->records.begin(), config->records.end(),
                               [&](const RecordEntry& r) { return r.key == record_key; });
        ASSERT_NE(it, config->records.end());
        EXPECT_EQ(it->certificate, certificate);
        EXPECT_EQ(it->action, Action::terminate);
    }
    auto ccs = std::find_if(config->records.begin(), config->records.end(),
                            [](const RecordEntry& r) { return r.key == key(Family::ccs, "8443"); });
    ASSERT_NE(ccs, config->records.end());
    EXPECT_EQ(ccs->action, Action::terminate);
    EXPECT_EQ(config->records.size(), 5u);
}

}  // namespace
}  // namespace snibind::config
