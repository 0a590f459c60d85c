// IIS site bindings (I1) and HTTP.sys URL-prefix routing of a decrypted request (I5).
#include "http/sites.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace snibind::http {
namespace {

SiteBinding binding(const std::string& text) {
    std::string error;
    auto parsed = SiteBinding::parse(text, error);
    EXPECT_TRUE(parsed) << text << ": " << error;
    return parsed.value_or(SiteBinding{});
}

Site site(const std::string& name, std::initializer_list<const char*> bindings,
          const std::string& path = "/") {
    Site s;
    s.name = name;
    for (const char* b : bindings) s.bindings.push_back(binding(b));
    s.path = path;
    return s;
}

IpAddress ip(const std::string& text) {
    auto parsed = IpAddress::parse(text);
    EXPECT_TRUE(parsed) << text;
    return parsed.value_or(IpAddress{});
}

std::size_t index_of(const SiteRouter& router, const std::string& name) {
    for (std::size_t i = 0; i < router.sites().size(); ++i) {
        if (router.sites()[i].name == name) return i;
    }
    ADD_FAILURE() << "no site " << name;
    return 0;
}

// A URL reservation's strong wildcard (issue 5), e.g. "https://+:443/secure/".
UrlPrefix strong(std::size_t site, std::uint16_t port, const std::string& path) {
    UrlPrefix p;
    p.kind = PrefixKind::strong_wildcard;
    p.scheme = "https";
    p.port = port;
    p.path = path;
    p.site = site;
    return p;
}

struct Request {
    const char* host;  // "" for no Host header
    const char* dst;
    const char* path;
    const char* want;  // site name; "" for 400 Bad Request - Invalid Hostname
    const char* scheme = "https";
    std::uint16_t port = 443;
};

std::string routed(const SiteRouter& router, const Request& r) {
    auto route = router.route(r.scheme, r.host, ip(r.dst), r.port, r.path);
    EXPECT_EQ(route.site == nullptr, route.prefix == nullptr);
    return route.site ? route.site->name : "";
}

void expect_routes(const SiteRouter& router, std::initializer_list<Request> requests) {
    for (const auto& r : requests) {
        EXPECT_EQ(routed(router, r), r.want)
            << r.scheme << "://" << r.host << r.path << " on " << r.dst << ":" << r.port;
    }
}

// --- I1: bindings as IIS writes them -------------------------------------------------------

TEST(I1_SiteBinding, ParsesWhatIisWrites) {
    struct {
        const char* text;
        const char* protocol;
        const char* ip;  // "*" for any unassigned address
        std::uint16_t port;
        const char* host;
        const char* canonical;
    } cases[] = {
        {"https/*:443:www.contoso.com", "https", "*", 443, "www.contoso.com",
         "https/*:443:www.contoso.com"},
        {"HTTPS/*:443:WWW.Contoso.COM.", "https", "*", 443, "www.contoso.com",
         "https/*:443:www.contoso.com"},
        {"https/10.0.0.5:443:", "https", "10.0.0.5", 443, "", "https/10.0.0.5:443:"},
        {"http/*:80:", "http", "*", 80, "", "http/*:80:"},
        {"https/[2001:db8::1]:8443:", "https", "2001:db8::1", 8443, "",
         "https/[2001:db8::1]:8443:"},
        {"https/[::ffff:10.0.0.5]:443:", "https", "10.0.0.5", 443, "", "https/10.0.0.5:443:"},
        {"https/*:443:*.contoso.com", "https", "*", 443, "*.contoso.com",
         "https/*:443:*.contoso.com"},
        {"https/10.0.0.5:443:www.contoso.com", "https", "10.0.0.5", 443, "www.contoso.com",
         "https/10.0.0.5:443:www.contoso.com"},
        {"https/*:443:b\xc3\xbc"
         "cher.example",
         "https", "*", 443, "xn--bcher-kva.example", "https/*:443:xn--bcher-kva.example"},
    };
    for (const auto& c : cases) {
        std::string error;
        auto b = SiteBinding::parse(c.text, error);
        ASSERT_TRUE(b) << c.text << ": " << error;
        EXPECT_EQ(b->protocol, c.protocol) << c.text;
        EXPECT_EQ(b->ip ? b->ip->to_string() : "*", c.ip) << c.text;
        EXPECT_EQ(b->port, c.port) << c.text;
        EXPECT_EQ(b->host, c.host) << c.text;
        EXPECT_EQ(b->to_string(), c.canonical);
        EXPECT_EQ(SiteBinding::parse(b->to_string(), error), b) << "round trip of " << c.text;
    }
}

TEST(I1_SiteBinding, RejectsWithAReason) {
    const std::string usage = "expected protocol/IP:port:host, as in https/*:443:www.contoso.com";
    struct {
        const char* text;
        std::string error;
    } cases[] = {
        {"", usage},
        {"*:443:www.contoso.com", usage},
        {"/*:443:", usage},
        {"https/*", usage},
        {"ftp/*:21:", "protocol 'ftp' is not http or https"},
        {"https/*:0:", "port '0' is not 1-65535"},
        {"https/*:65536:", "port '65536' is not 1-65535"},
        {"https/*:https:", "port 'https' is not 1-65535"},
        {"https/*:443", "expected IP:port:host (the host may be empty, but its ':' may not)"},
        {"https/[::1:443:", "IPv6 address has no closing ']'"},
        {"https/[::1]443:", "expected ':' and a port after the address"},
        {"https/10.0.0:443:", "address '10.0.0' is not '*' or an IP address"},
        {"https/www.contoso.com:443:", "address 'www.contoso.com' is not '*' or an IP address"},
        {"https/*:443:a..b", "host 'a..b': 'a..b' is not a host name: has an empty label"},
        {"https/*:443:10.0.0.5", "host '10.0.0.5' is an IP address: write https/10.0.0.5:443:"},
        {"https/*:443:[::1]", "host '[::1]' is an IP address: write https/[::1]:443:"},
    };
    for (const auto& c : cases) {
        std::string error;
        EXPECT_FALSE(SiteBinding::parse(c.text, error)) << c.text;
        EXPECT_EQ(error, c.error) << c.text;
    }
}

// --- I5: the prefix each binding registers --------------------------------------------------

TEST(I5_PrefixFor, EachBindingShapeHasItsCategory) {
    struct {
        const char* binding;
        const char* path;
        PrefixKind kind;
        const char* prefix;
    } cases[] = {
        {"https/*:443:www.contoso.com", "/", PrefixKind::explicit_host,
         "https://www.contoso.com:443/"},
        {"https/10.0.0.5:443:", "/app", PrefixKind::ip_bound, "https://10.0.0.5:443/app/"},
        {"https/[2001:db8::1]:443:", "/", PrefixKind::ip_bound, "https://[2001:db8::1]:443/"},
        {"http/*:80:", "", PrefixKind::weak_wildcard, "http://*:80/"},
        {"https/*:8443:", "app/x/", PrefixKind::weak_wildcard, "https://*:8443/app/x/"},
        {"https/10.0.0.5:443:www.contoso.com", "/", PrefixKind::explicit_host,
         "https://www.contoso.com:443:10.0.0.5/"},
        {"https/*:443:*.contoso.com", "/", PrefixKind::explicit_host, "https://*.contoso.com:443/"},
    };
    for (const auto& c : cases) {
        auto p = prefix_for(binding(c.binding), c.path, 7);
        EXPECT_EQ(p.kind, c.kind) << c.binding;
        EXPECT_EQ(p.to_string(), c.prefix) << c.binding;
        EXPECT_EQ(p.site, 7u);
    }
    EXPECT_EQ(strong(0, 443, "/").to_string(), "https://+:443/");
}

TEST(I5_PrefixFor, KindNames) {
    EXPECT_EQ(to_string(PrefixKind::strong_wildcard), "strong_wildcard");
    EXPECT_EQ(to_string(PrefixKind::explicit_host), "explicit_host");
    EXPECT_EQ(to_string(PrefixKind::ip_bound), "ip_bound");
    EXPECT_EQ(to_string(PrefixKind::weak_wildcard), "weak_wildcard");
}

TEST(I5_Router, RegistersOnlyHttpAndHttpsBindingsKeepingTheScheme) {
    Site tcp;
    tcp.name = "wcf";
    tcp.bindings.push_back({"net.tcp", std::nullopt, 808, ""});
    SiteRouter router({site("web", {"http/*:80:", "https/*:443:www.contoso.com"}, "/web"), tcp});
    ASSERT_EQ(router.prefixes().size(), 2u);
    EXPECT_EQ(router.prefixes()[0].to_string(), "http://*:80/web/");
    EXPECT_EQ(router.prefixes()[1].to_string(), "https://www.contoso.com:443/web/");
    EXPECT_EQ(router.prefixes()[1].site, 0u);
    EXPECT_FALSE(router.empty());
    EXPECT_TRUE(SiteRouter().empty());
}

TEST(I5_Router, AddPrefixNormalisesAndChecksTheSite) {
    SiteRouter router({site("api", {"https/*:443:"})});
    auto p = strong(0, 443, "secure");
    p.scheme = "HTTPS";
    router.add_prefix(p);
    ASSERT_EQ(router.prefixes().size(), 2u);
    EXPECT_EQ(router.prefixes()[1].to_string(), "https://+:443/secure/");
    EXPECT_THROW(router.add_prefix(strong(1, 443, "/")), std::out_of_range);
    EXPECT_EQ(router.prefixes().size(), 2u);
}

// --- I5: routing -----------------------------------------------------------------------------

// One site per category on port 443; the strong wildcard owns /secure/ only, so the weaker
// categories stay reachable elsewhere.
SiteRouter four_categories() {
    SiteRouter router({site("weak", {"https/*:443:"}), site("ip", {"https/10.0.0.5:443:"}),
                       site("explicit", {"https/*:443:www.contoso.com"}), site("strong", {})});
    router.add_prefix(strong(index_of(router, "strong"), 443, "/secure/"));
    return router;
}

TEST(I5_Route, StrongThenExplicitThenIpBoundThenWeak) {
    expect_routes(four_categories(),
                  {
                      {"www.contoso.com", "10.0.0.5", "/secure/x", "strong"},
                      {"www.contoso.com", "10.0.0.5", "/secure", "strong"},
                      {"www.contoso.com", "10.0.0.5", "/securex", "explicit"},
                      {"www.contoso.com", "10.0.0.5", "/", "explicit"},
                      {"www.contoso.com", "10.0.0.9", "/", "explicit"},
                      {"other.example", "10.0.0.5", "/", "ip"},
                      {"other.example", "::ffff:10.0.0.5", "/", "ip"},  // mapped = IPv4 (S3)
                      {"other.example", "10.0.0.9", "/", "weak"},
                      {"other.example", "10.0.0.9", "/secure/", "strong"},
                  });
}

TEST(I5_Route, NoHostHeaderStillReachesIpBoundAndWildcards) {
    expect_routes(four_categories(), {
                                         {"", "10.0.0.5", "/", "ip"},
                                         {"", "10.0.0.9", "/", "weak"},
                                         {"", "10.0.0.5", "/secure/a", "strong"},
                                         {"  ", "10.0.0.9", "/", "weak"},
                                     });
    SiteRouter named_only({site("explicit", {"https/*:443:www.contoso.com"})});
    expect_routes(named_only, {{"", "10.0.0.5", "/", ""}});
}

// A client that connects by address sends the address as Host. The IP-bound prefix is chosen
// by the connection's local address, never by the Host text.
TEST(I5_Route, IpLiteralHostReachesOnlyIpBoundAndWildcards) {
    expect_routes(four_categories(), {
                                         {"10.0.0.5", "10.0.0.5", "/", "ip"},
                                         {"10.0.0.5:443", "10.0.0.9", "/", "weak"},
                                         {"[::1]:443", "10.0.0.5", "/", "ip"},
                                         {"[::1]", "::1", "/", "weak"},
                                     });
}

TEST(I5_Route, ExplicitPrefixWithALiteralHostMatchesThatAddress) {
    SiteRouter router({site("literal", {}), site("weak", {"https/*:443:"})});
    UrlPrefix p;
    p.kind = PrefixKind::explicit_host;
    p.scheme = "https";
    p.host = "[::1]";
    p.port = 443;
    p.site = 0;
    router.add_prefix(p);
    expect_routes(router, {
                              {"[::1]", "10.0.0.9", "/", "literal"},
                              {"[0:0::1]:443", "10.0.0.9", "/", "literal"},
                              {"[::2]", "10.0.0.9", "/", "weak"},
                              {"localhost", "::1", "/", "weak"},
                          });
}

TEST(I5_Route, CategoryBeatsPathLength) {
    SiteRouter router({site("deep-weak", {"https/*:443:"}, "/a/b/c"),
                       site("root-explicit", {"https/*:443:www.contoso.com"})});
    router.add_prefix(strong(index_of(router, "deep-weak"), 443, "/a/"));
    expect_routes(router, {
                              {"www.contoso.com", "10.0.0.5", "/a/b/c/d", "deep-weak"},  // strong
                              {"www.contoso.com", "10.0.0.5", "/x", "root-explicit"},
                              {"other.example", "10.0.0.5", "/a/b/c", "deep-weak"},
                              {"other.example", "10.0.0.5", "/x", ""},
                          });
    // The strong prefix above owns /a/ for every host, so check the weak one without it.
    SiteRouter plain({site("deep-weak", {"https/*:443:"}, "/a/b/c"),
                      site("root-explicit", {"https/*:443:www.contoso.com"})});
    expect_routes(plain, {{"www.contoso.com", "10.0.0.5", "/a/b/c/d", "root-explicit"}});
}

TEST(I5_Route, LongestPrefixOnWholeSegmentsIgnoringCase) {
    const char* host = "www.contoso.com";
    SiteRouter router({site("root", {"https/*:443:www.contoso.com"}),
                       site("app", {"https/*:443:www.contoso.com"}, "/app"),
                       site("admin", {"https/*:443:www.contoso.com"}, "/app/admin/")});
    expect_routes(router, {
                              {host, "10.0.0.5", "/", "root"},
                              {host, "10.0.0.5", "", "root"},
                              {host, "10.0.0.5", "*", "root"},
                              {host, "10.0.0.5", "/app", "app"},
                              {host, "10.0.0.5", "/app/", "app"},
                              {host, "10.0.0.5", "/app/x", "app"},
                              {host, "10.0.0.5", "/APP/X", "app"},
                              {host, "10.0.0.5", "/app?q=/app/admin", "app"},
                              {host, "10.0.0.5", "/app#admin", "app"},
                              {host, "10.0.0.5", "/apple", "root"},
                              {host, "10.0.0.5", "/app/admin", "admin"},
                              {host, "10.0.0.5", "/App/Admin/users", "admin"},
                              {host, "10.0.0.5", "/app/administrator", "app"},
                          });
}

TEST(I5_Route, PortAndSchemeMustBeEqual) {
    SiteRouter router({site("secure", {"https/*:443:www.contoso.com"}),
                       site("plain", {"http/*:80:www.contoso.com"})});
    const char* host = "www.contoso.com";
    expect_routes(router, {
                              {host, "10.0.0.5", "/", "secure", "https", 443},
                              {host, "10.0.0.5", "/", "plain", "http", 80},
                              {host, "10.0.0.5", "/", "", "https", 80},
                              {host, "10.0.0.5", "/", "", "http", 443},
                              {host, "10.0.0.5", "/", "", "https", 8443},
                              // The Host's port is not the connection's port (S4 is on the latter).
                              {"www.contoso.com:8443", "10.0.0.5", "/", "secure", "https", 443},
                          });
}

TEST(I5_Route, HostHeaderForms) {
    SiteRouter router({site("named", {"https/*:443:www.contoso.com"})});
    struct {
        const char* host;
        bool routed;
    } cases[] = {
        {"www.contoso.com", true},        {"WWW.Contoso.COM", true},
        {"www.contoso.com:443", true},    {"www.contoso.com:", true},
        {"www.contoso.com.", true},       {"www.contoso.com.:443", true},
        {" www.contoso.com\t", true},     {"www.contoso.com..", false},
        {"contoso.com", false},           {"www.contoso.com.evil", false},
        {"xwww.contoso.com", false},      {"www.contoso.com:https", false},
        {"www.contoso.com:443:1", false},
    };
    for (const auto& c : cases) {
        auto route = router.route("https", c.host, ip("10.0.0.5"), 443, "/");
        EXPECT_EQ(route.site != nullptr, c.routed) << "Host: " << c.host;
    }
}

// A Host header that is not a host name is refused even by a weak wildcard.
TEST(I5_Route, MalformedHostMatchesNothing) {
    SiteRouter router({site("weak", {"https/*:443:"})});
    struct {
        const char* host;
        bool routed;
    } cases[] = {
        {"[::1]:8443", true},  {"[2001:DB8::1]", true}, {"a.example", true},
        {"[::1", false},       {"::1", false},          {"[::1]x", false},
        {"[10.0.0.5]", false}, {"a b", false},          {"a..b", false},
        {".a", false},         {"a/b", false},          {"caf\xc3\xa9.example", false},
        {"a:b", false},        {"[::1]:8443:1", false}, {":443", false},
    };
    for (const auto& c : cases) {
        auto route = router.route("https", c.host, ip("::1"), 443, "/");
        EXPECT_EQ(route.site != nullptr, c.routed) << "Host: " << c.host;
    }
    EXPECT_FALSE(router.route("https", std::string(256, 'a'), ip("::1"), 443, "/").site);
    EXPECT_TRUE(router.route("https", std::string(255, 'a'), ip("::1"), 443, "/").site);
}

TEST(I5_Route, Ipv6BindingAndHostWithPort) {
    SiteRouter router(
        {site("v6", {"https/[::1]:8443:"}), site("named", {"https/*:8443:localhost"})});
    expect_routes(router, {
                              {"[::1]:8443", "::1", "/", "v6", "https", 8443},
                              {"localhost:8443", "::1", "/", "named", "https", 8443},
                              {"[::1]:8443", "127.0.0.1", "/", "", "https", 8443},
                          });
}

TEST(I5_Route, WildcardHostCoversOneLabelAndLosesToAnExactName) {
    SiteRouter router({site("wild", {"https/*:443:*.contoso.com"}),
                       site("www", {"https/*:443:www.contoso.com"})});
    expect_routes(router, {
                              {"hr.contoso.com", "10.0.0.5", "/", "wild"},
                              {"HR.Contoso.com.", "10.0.0.5", "/", "wild"},
                              {"www.contoso.com", "10.0.0.5", "/", "www"},
                              {"contoso.com", "10.0.0.5", "/", ""},
                              {"a.b.contoso.com", "10.0.0.5", "/", ""},
                              {"hrcontoso.com", "10.0.0.5", "/", ""},
                          });
}

// I1: a binding that names an IP and a host serves only requests for that host arriving on
// that IP; it beats the same host bound on every address.
TEST(I1_Route, BindingWithIpAndHostNeedsBoth) {
    SiteRouter both({site("scoped", {"https/10.0.0.5:443:www.contoso.com"}),
                     site("anywhere", {"https/*:443:www.contoso.com"})});
    expect_routes(both, {
                            {"www.contoso.com", "10.0.0.5", "/", "scoped"},
                            {"www.contoso.com", "10.0.0.6", "/", "anywhere"},
                        });
    SiteRouter scoped_only({site("scoped", {"https/10.0.0.5:443:www.contoso.com"})});
    expect_routes(scoped_only, {
                                   {"www.contoso.com", "10.0.0.5", "/", "scoped"},
                                   {"www.contoso.com", "10.0.0.6", "/", ""},
                                   {"other.example", "10.0.0.5", "/", ""},
                               });
}

TEST(I5_Route, NoMatchIsInvalidHostname) {
    SiteRouter router({site("named", {"https/*:443:www.contoso.com"})});
    auto route = router.route("https", "other.example", ip("10.0.0.5"), 443, "/");
    EXPECT_EQ(route.site, nullptr);  // the proxy answers 400 Bad Request - Invalid Hostname
    EXPECT_EQ(route.prefix, nullptr);
    EXPECT_EQ(SiteRouter().route("https", "www.contoso.com", ip("10.0.0.5"), 443, "/").site,
              nullptr);
}

TEST(I5_Route, RouteNamesThePrefixThatMatched) {
    SiteRouter router({site("root", {"https/*:443:www.contoso.com"}),
                       site("app", {"https/*:443:www.contoso.com"}, "/app")});
    auto route = router.route("https", "www.contoso.com", ip("10.0.0.5"), 443, "/app/x");
    ASSERT_NE(route.prefix, nullptr);
    EXPECT_EQ(route.prefix->to_string(), "https://www.contoso.com:443/app/");
    EXPECT_EQ(route.site, &router.sites()[1]);
}

// HTTP.sys refuses a second registration of the same prefix (IIS stops the second site); the
// router keeps going and the first site registered wins.
TEST(I5_Route, FirstOfTwoEqualPrefixesWins) {
    SiteRouter router({site("first", {"https/*:443:www.contoso.com"}),
                       site("second", {"https/*:443:WWW.contoso.com"})});
    expect_routes(router, {{"www.contoso.com", "10.0.0.5", "/", "first"}});
}

// The seed lab: two sites on one IP:port, told apart by Host after decryption (I4, I5).
TEST(I5_Route, SeedLabTwoSitesOnOneIpPort) {
    SiteRouter router({site("sitev1", {"https/*:8443:sitev1.mysite.com"}),
                       site("sitev2", {"https/*:8443:sitev2.mysite.com"})});
    expect_routes(router, {
                              {"sitev1.mysite.com", "127.0.0.1", "/", "sitev1", "https", 8443},
                              {"sitev2.mysite.com:8443", "127.0.0.1", "/", "sitev2", "https", 8443},
                              {"SITEV2.mysite.com", "::1", "/x", "sitev2", "https", 8443},
                              {"sitev3.mysite.com", "127.0.0.1", "/", "", "https", 8443},
                              {"127.0.0.1:8443", "127.0.0.1", "/", "", "https", 8443},
                              {"", "127.0.0.1", "/", "", "https", 8443},
                              {"sitev1.mysite.com", "127.0.0.1", "/", "", "https", 443},
                          });
}

}  // namespace
}  // namespace snibind::http
