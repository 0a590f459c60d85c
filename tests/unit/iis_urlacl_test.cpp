// URL reservations: the text of `netsh http show urlacl` as a store, netsh's urlacl commands, and
// the URL prefixes reservations register for routing (I5).
#include "iis/urlacl.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace snibind::iis {
namespace {

namespace fs = std::filesystem;
const std::string kNetsh = std::string(SNIBIND_TEST_DATA) + "/netsh/";

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(IisUrlacl, ImportsTheRealCaptures) {
    struct Case {
        const char* file;
        UrlReservation want;
    } cases[] = {
        {"u1-urlacl.txt",
         {"http://+:80/Temporary_Listen_Addresses/",
          {{"\\Everyone", true, false}},
          "D:(A;;GX;;;WD)"}},
        {"u2-urlacl.txt",
         {"https://host.domain.com:443/", {{"\\Everyone", true, false}}, "D:(A;;GX;;;WD)"}},
        {"u3-urlacl.txt",
         {"https://+:443/ReportServer/",
          {{"NT SERVICE\\ReportServer", true, false}},
          "D:(A;;GX;;;S-1-5-80-2885764129-887777008-271615777-1616004480-2722851051)"}},
    };
    for (const auto& c : cases) {
        auto result = parse_urlacl_text(slurp(kNetsh + c.file), c.file);
        ASSERT_TRUE(result.ok()) << result.error->message();
        ASSERT_EQ(result.reservations.size(), 1u) << c.file;
        EXPECT_EQ(result.reservations[0], c.want) << c.file;
        // What snibind prints reads back the same.
        auto again = parse_urlacl_text(format_urlacl(result.reservations), "again");
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(again.reservations, result.reservations);
    }
}

TEST(IisUrlacl, PrintsNetshsLayout) {
    auto result = parse_urlacl_text(slurp(kNetsh + "u2-urlacl.txt"), "u2");
    EXPECT_EQ(format_urlacl(result.reservations),
              "\nURL Reservations:\n-----------------\n\n"
              "    Reserved URL            : https://host.domain.com:443/\n"
              "        User: \\Everyone\n"
              "            Listen: Yes\n"
              "            Delegate: No\n"
              "            SDDL: D:(A;;GX;;;WD)\n\n");
}

TEST(IisUrlacl, ImportsSeveralUsersCrlfAndBom) {
    std::string text =
        "\xEF\xBB\xBF\r\nURL Reservations:\r\n-----------------\r\n\r\n"
        "    Reserved URL            : http://*:2869/\r\n"
        "        User: NT AUTHORITY\\LOCAL SERVICE\r\n"
        "            Listen: Yes\r\n"
        "            Delegate: Yes\r\n"
        "        User: BUILTIN\\Users\r\n"
        "            Listen: Yes\r\n"
        "            Delegate: No\r\n"
        "            SDDL: D:(A;;GA;;;LS)(A;;GX;;;BU)\r\n\r\n";
    auto result = parse_urlacl_text(text, "x");
    ASSERT_TRUE(result.ok()) << result.error->message();
    ASSERT_EQ(result.reservations[0].users.size(), 2u);
    EXPECT_TRUE(result.reservations[0].users[0].delegate);
    EXPECT_FALSE(result.reservations[0].users[1].delegate);
}

TEST(IisUrlacl, ImportErrorsCarryLineAndReason) {
    using namespace std::string_literals;
    struct Case {
        std::string text;
        int line;
        const char* reason;
    } cases[] = {
        {"User: \\Everyone\n", 1, "'User' before the first Reserved URL"},
        {"Reserved URL : http://+:80/a/\nListen: Yes\n", 2, "Listen before the first User"},
        {"Reserved URL : http://+:80/a/\nUser: x\nListen: Maybe\n", 3, "'Maybe' is not Yes or No"},
        {"Reserved URL : http://+:80/a\n", 1, "must end with '/'"},
        {"Reserved URL : http://+:80/a/\nReserved URL : HTTP://+:80/A/\n", 2, "given twice"},
        {"IP:port : 0.0.0.0:443\n", 1, "'netsh http show sslcert' output"},
        {"URL-Reservierungen:\n", 1, "'URL-Reservierungen' before the first"},
        {"Reserved URL : http://+:80/a/\nBenutzer: x\n", 2, "unknown label 'Benutzer'"},
        {"Reserved URL : http://+:80/\nnonsense\n", 2, "not 'label: value'"},
        {"R\0e"s, 0, "NUL byte"},
    };
    for (const auto& c : cases) {
        auto result = parse_urlacl_text(c.text, "f.txt");
        ASSERT_FALSE(result.ok()) << c.text;
        EXPECT_TRUE(result.reservations.empty());
        EXPECT_EQ(result.error->line, c.line) << result.error->message();
        EXPECT_NE(result.error->reason.find(c.reason), std::string::npos)
            << result.error->message();
    }
}

TEST(IisUrlacl, ChecksUrlsAsHttpSys) {
    struct Case {
        const char* url;
        const char* error;  // "" when valid
    } cases[] = {
        {"https://+:443/app/", ""},           {"http://*:80/", ""},
        {"https://www.contoso.com:443/", ""}, {"https://10.0.0.5:8443/x/y/", ""},
        {"https://[2001:db8::1]:443/", ""},   {"https://+:443/app", "must end with '/'"},
        {"https://+/app/", "no port"},        {"ftp://+:21/", "http:// or https://"},
        {"https://:443/", "no host"},         {"https://+:0/", "port '0'"},
        {"https://+:65536/", "port '65536'"}, {"https://[2001:db8::1:443/", "no closing ']'"},
        {"https://a+b:443/", "stand alone"},  {"https://a b:443/", "cannot have"},
    };
    for (const auto& c : cases) {
        auto error = check_reservation_url(c.url);
        if (!*c.error) {
            EXPECT_EQ(error, "") << c.url;
        } else {
            EXPECT_NE(error.find(c.error), std::string::npos) << c.url << ": " << error;
        }
    }
}

TEST(IisUrlacl, ReservationsBecomeUrlPrefixes_I5) {
    struct Case {
        const char* url;
        http::PrefixKind kind;
        const char* prefix;
    } cases[] = {
        {"https://+:443/app/", http::PrefixKind::strong_wildcard, "https://+:443/app/"},
        {"http://*:80/", http::PrefixKind::weak_wildcard, "http://*:80/"},
        {"https://WWW.Contoso.com:443/", http::PrefixKind::explicit_host,
         "https://www.contoso.com:443/"},
        {"https://10.0.0.5:443/", http::PrefixKind::ip_bound, "https://10.0.0.5:443/"},
        {"https://[2001:db8::1]:443/", http::PrefixKind::ip_bound, "https://[2001:db8::1]:443/"},
    };
    for (const auto& c : cases) {
        std::string error;
        auto p = url_prefix_for(c.url, 7, error);
        ASSERT_TRUE(p) << c.url << ": " << error;
        EXPECT_EQ(p->kind, c.kind) << c.url;
        EXPECT_EQ(p->to_string(), c.prefix);
        EXPECT_EQ(p->site, 7u);
    }
    std::string error;
    EXPECT_FALSE(url_prefix_for("https://+:443/app", 0, error));
    EXPECT_FALSE(error.empty());
}

TEST(IisUrlacl, StrongWildcardReservationBeatsAHostBinding_I5) {
    // SQL Server Reporting Services (u3): https://+:443/ReportServer/ wins over a site's
    // explicit host binding for that path, whatever the Host header.
    http::Site web{"Web", {}, "", "/"};
    std::string error;
    web.bindings.push_back(*http::SiteBinding::parse("https/*:443:www.contoso.com", error));
    http::Site reports{"ReportServer", {}, "", "/ReportServer/"};
    http::SiteRouter router({web, reports});
    auto prefix = url_prefix_for("https://+:443/ReportServer/", 1, error);
    ASSERT_TRUE(prefix) << error;
    router.add_prefix(*prefix);
    auto dst = *IpAddress::parse("10.0.0.1");
    EXPECT_EQ(router.route("https", "www.contoso.com", dst, 443, "/ReportServer/x").site->name,
              "ReportServer");
    EXPECT_EQ(router.route("https", "www.contoso.com", dst, 443, "/index.html").site->name, "Web");
}

struct Netsh {
    UrlaclStore store;
    netsh::NetshResult run(const std::string& line, bool* modified_out = nullptr) {
        std::vector<std::string> words;
        std::istringstream in(line);
        for (std::string w; in >> w;) words.push_back(w);
        bool modified = false;
        auto r = run_netsh_urlacl(words, store, modified);
        if (modified_out) *modified_out = modified;
        return r;
    }
};

TEST(IisUrlacl, NetshAddShowDelete) {
    Netsh n;
    bool modified = false;
    auto added = n.run("http add urlacl url=https://+:443/app/ user=CONTOSO\\svc-web", &modified);
    EXPECT_EQ(added.out, "\nURL reservation successfully added\n\n");
    EXPECT_EQ(added.exit_code, 0);
    EXPECT_TRUE(modified);
    EXPECT_EQ(n.store.find("HTTPS://+:443/APP/")->users[0].user, "CONTOSO\\svc-web");

    auto dup = n.run("http add urlacl url=https://+:443/app/ user=Everyone", &modified);
    EXPECT_EQ(dup.out,
              "Url reservation add failed, Error: 183\n"
              "Cannot create a file when that file already exists.\n\n");
    EXPECT_EQ(dup.exit_code, 1);
    EXPECT_FALSE(modified);

    n.run("http add urlacl url=http://+:80/Temporary_Listen_Addresses/ user=Everyone");
    EXPECT_EQ(n.run("http show urlacl url=http://+:80/Temporary_Listen_Addresses/").out,
              std::string(kUrlaclHeader) +
                  format_reservation(*n.store.find("http://+:80/Temporary_Listen_Addresses/")));
    EXPECT_EQ(n.store.find("http://+:80/Temporary_Listen_Addresses/")->sddl, "D:(A;;GX;;;WD)")
        << "as u1-urlacl.txt";
    EXPECT_EQ(n.run("http show urlacl").out, n.store.text());

    auto gone = n.run("http show urlacl url=http://+:81/");
    EXPECT_EQ(gone.out,
              std::string(kUrlaclHeader) + "The system cannot find the file specified.\n\n");
    EXPECT_EQ(gone.exit_code, 1);

    EXPECT_EQ(n.run("http delete urlacl url=https://+:443/app/", &modified).out,
              "\nURL reservation successfully deleted\n\n");
    EXPECT_TRUE(modified);
    EXPECT_EQ(n.run("http delete urlacl url=https://+:443/app/").out,
              "Url reservation delete failed, Error: 2\n"
              "The system cannot find the file specified.\n\n");
}

TEST(IisUrlacl, NetshParameterErrorsAre87) {
    const char* commands[] = {
        "http add urlacl url=https://+:443/app user=Everyone",  // no trailing slash
        "http add urlacl url=https://+:443/app/",
        "http add urlacl user=Everyone",
        "http add urlacl url=https://+:443/app/ user=Everyone listen=maybe",
        "http add urlacl url=https://+:443/app/ user=Everyone listen=no delegate=no",
        "http add urlacl url=https://+:443/app/ user=Everyone sddl=D:(A;;GX;;;WD)",
        "http add urlacl url=https://+:443/app/ sddl=garbage",
        "http add urlacl url=https://+:443/app/ user=Everyone color=red",
        "http add urlacl url=https://+:443/app/ url=https://+:443/b/ user=Everyone",
    };
    for (const char* c : commands) {
        Netsh n;
        auto r = n.run(c);
        EXPECT_EQ(r.out, "Url reservation add failed, Error: 87\nThe parameter is incorrect.\n\n")
            << c;
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_TRUE(n.store.reservations().empty());
    }
}

TEST(IisUrlacl, NetshAddOptionsAndSddl) {
    Netsh n;
    n.run("http add urlacl url=http://+:8080/ user=Users listen=yes delegate=yes");
    const auto* r = n.store.find("http://+:8080/");
    EXPECT_EQ(r->users[0], (UrlAce{"BUILTIN\\Users", true, true}));
    EXPECT_EQ(r->sddl, "D:(A;;GA;;;BU)");
    n.run("http add urlacl url=http://+:8081/ sddl=D:(A;;GX;;;NS)(A;;GW;;;S-1-5-21-1-2-3-1001)");
    r = n.store.find("http://+:8081/");
    ASSERT_EQ(r->users.size(), 2u);
    EXPECT_EQ(r->users[0], (UrlAce{"NT AUTHORITY\\NETWORK SERVICE", true, false}));
    EXPECT_EQ(r->users[1], (UrlAce{"S-1-5-21-1-2-3-1001", false, true}));
    EXPECT_EQ(n.run("http frob urlacl").exit_code, 1);
}

TEST(IisUrlacl, StoreFileRoundTrip) {
    fs::path dir = fs::temp_directory_path() / ("snibind-urlacl-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    netsh::ImportError error;
    auto empty = UrlaclStore::load(dir / "none.txt", netsh::MissingFile::empty, error);
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->reservations().empty());
    EXPECT_FALSE(UrlaclStore::load(dir / "none.txt", netsh::MissingFile::error, error));
    EXPECT_NE(error.message().find("No such file"), std::string::npos);

    auto store = UrlaclStore::load(kNetsh + "u3-urlacl.txt", netsh::MissingFile::error, error);
    ASSERT_TRUE(store) << error.message();
    std::string save_error;
    ASSERT_TRUE(store->save(dir / "urlacl.txt", save_error)) << save_error;
    auto again = UrlaclStore::load(dir / "urlacl.txt", netsh::MissingFile::error, error);
    fs::remove_all(dir);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->reservations(), store->reservations());
}

}  // namespace
}  // namespace snibind::iis
