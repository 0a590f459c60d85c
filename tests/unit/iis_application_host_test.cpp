// applicationHost.config: the <sites> section read with libxml2, edited in place (I1), and turned
// into the proxy's sites (I5 routing after decryption, I4 SSL host headers).
#include "iis/application_host.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.h"

namespace snibind::iis {
namespace {

namespace fs = std::filesystem;
const std::string kData = std::string(SNIBIND_TEST_DATA) + "/iis/";

ApplicationHost load_ok(const std::string& name) {
    netsh::ImportError error;
    auto host = ApplicationHost::load(kData + name, error);
    EXPECT_TRUE(host) << error.message();
    if (!host) throw std::runtime_error(error.message());
    return std::move(*host);
}

ApplicationHost parse_ok(const std::string& xml) {
    netsh::ImportError error;
    auto host = ApplicationHost::parse(xml, "applicationHost.config", error);
    EXPECT_TRUE(host) << error.message();
    if (!host) throw std::runtime_error(error.message());
    return std::move(*host);
}

std::string wrap_sites(const std::string& sites) {
    return "<configuration>\n<system.applicationHost>\n<sites>\n" + sites +
           "</sites>\n</system.applicationHost>\n</configuration>\n";
}

TEST(IisApplicationHost, ReadsTheKb2405568Config) {
    auto host = load_ok("kb2405568.config");
    ASSERT_EQ(host.sites().size(), 3u);
    const IisSite& site1 = host.sites()[1];
    EXPECT_EQ(site1.name, "Site1");
    EXPECT_EQ(site1.id, 2u);
    EXPECT_TRUE(site1.server_auto_start);
    EXPECT_FALSE(host.sites()[0].server_auto_start);
    ASSERT_EQ(site1.bindings.size(), 2u);
    EXPECT_EQ(site1.bindings[1].to_string(), "https/*:443:site1.contoso.com");
    EXPECT_EQ(site1.bindings[1].ssl_flags, 0u);
    EXPECT_EQ(site1.bindings[1].line, 47);
    EXPECT_EQ(site1.line, 38);
    ASSERT_EQ(site1.applications.size(), 2u);
    EXPECT_EQ(site1.applications[1].path, "/api");
    EXPECT_EQ(site1.applications[1].virtual_directories[0].physical_path, "D:\\Sites\\site1-api");
    EXPECT_EQ(site1.physical_path(), "D:\\Sites\\site1");
    EXPECT_EQ(host.find_site("site2"), &host.sites()[2]) << "IIS site names ignore case";
}

TEST(IisApplicationHost, ReadsSslFlagsAndCertificateAttributes) {
    auto host = load_ok("sni.config");
    const auto& contoso = host.find_site("Contoso")->bindings;
    EXPECT_EQ(contoso[0].ssl_flags, kSslSni);
    EXPECT_EQ(contoso[1].ssl_flags, kSslSni | kSslDisableTls13) << "flag names, as IIS's schema";
    EXPECT_EQ(contoso[0].certificate_hash->hex(), std::string(40, '2'));
    EXPECT_EQ(contoso[0].certificate_store_name, "WebHosting");
    const auto& dws = host.find_site("Default Web Site")->bindings;
    EXPECT_EQ(dws[2].to_string(), "net.tcp/808:*") << "other protocols are kept, unchecked";
    EXPECT_FALSE(dws[2].is_http_family());
}

TEST(IisApplicationHost, ReadsIisExpressAndCcsConfigs) {
    auto express = load_ok("iisexpress.config");
    EXPECT_EQ(express.sites()[0].bindings[0].binding_information, ":8080:localhost");
    auto sites = to_http_sites(express.sites());
    EXPECT_EQ(sites[0].bindings[0].to_string(), "http/*:8080:localhost") << "':port' is '*:port'";
    auto ccs = load_ok("ccs.config");
    EXPECT_EQ(ccs.find_site("Shop")->bindings[1].ssl_flags, kSslSni | kSslCentralCertStore);
}

TEST(IisApplicationHost, ParsesSslFlags) {
    struct Case {
        const char* text;
        std::optional<std::uint32_t> want;
    } cases[] = {
        {"0", 0u},
        {"3", 3u},
        {"None", 0u},
        {"Sni", 1u},
        {"sni,centralcertstore", 3u},
        {" Sni , DisableHTTP2 , DisableOCSPStp ", 13u},
        {"DisableQUIC,DisableTLS13,DisableLegacyTLS", 112u},
        {"", std::nullopt},
        {"Sni,", std::nullopt},
        {"-1", std::nullopt},
        {"Ssl", std::nullopt},
    };
    for (const auto& c : cases) EXPECT_EQ(parse_ssl_flags(c.text), c.want) << c.text;
}

TEST(IisApplicationHost, ErrorsCarryFileLineAndReason) {
    struct Case {
        std::string xml;
        int line;
        std::string reason;  // a part of it
    } cases[] = {
        {"<configuration><sites>", 1, "XML: "},
        {"<notconfig/>", 1, "not <configuration>"},
        {"<configuration>\n<system.applicationHost>\n</system.applicationHost>\n</configuration>",
         2, "no <system.applicationHost><sites> section"},
        {wrap_sites("<site id=\"1\"/>\n"), 4, "<site> has no name"},
        {wrap_sites("<site name=\"A\" id=\"one\"/>\n"), 4, "site 'A': id 'one' is not a number"},
        {wrap_sites("<site name=\"A\" id=\"1\"/>\n<site name=\"a\" id=\"2\"/>\n"), 5,
         "Cannot add duplicate collection entry of type 'site' with unique key attribute 'name' "
         "set to 'a'"},
        {wrap_sites("<site name=\"A\" id=\"1\"/>\n<site name=\"B\" id=\"1\"/>\n"), 5,
         "id 1 is already the id of site 'A'"},
        {wrap_sites("<site name=\"A\" id=\"1\"><bindings>\n<binding protocol=\"https\" "
                    "bindingInformation=\"*:99999:\"/>\n</bindings></site>\n"),
         5, "site 'A': binding https/*:99999:: "},
        {wrap_sites("<site name=\"A\" id=\"1\"><bindings>\n<binding protocol=\"https\" "
                    "bindingInformation=\"*:443:\" sslFlags=\"Fast\"/>\n</bindings></site>\n"),
         5, "sslFlags 'Fast' is not a number"},
        {wrap_sites("<site name=\"A\" id=\"1\"><bindings>\n<binding protocol=\"https\" "
                    "bindingInformation=\"*:443:\" certificateHash=\"abc\"/>\n</bindings>"
                    "</site>\n"),
         5, "certificateHash 'abc' is not 40 hex digits"},
        {wrap_sites("<site name=\"A\" id=\"1\"><bindings>\n<binding protocol=\"https\"/>\n"
                    "</bindings></site>\n"),
         5, "has no bindingInformation"},
        {wrap_sites("<site name=\"A\" id=\"1\"><bindings>\n<binding protocol=\"http\" "
                    "bindingInformation=\"*:80:\"/>\n<binding protocol=\"HTTP\" "
                    "bindingInformation=\"*:80:\"/>\n</bindings></site>\n"),
         6, "respectively set to 'HTTP, *:80:'"},
    };
    for (const auto& c : cases) {
        netsh::ImportError error;
        EXPECT_FALSE(ApplicationHost::parse(c.xml, "applicationHost.config", error)) << c.xml;
        EXPECT_EQ(error.file, "applicationHost.config");
        EXPECT_EQ(error.line, c.line) << error.message();
        EXPECT_NE(error.reason.find(c.reason), std::string::npos) << error.message();
    }
}

TEST(IisApplicationHost, RefusesExternalEntities) {
    // An applicationHost.config from someone else must not read local files.
    std::string xml =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE c [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n" +
        wrap_sites("<site name=\"&x;\" id=\"1\"/>\n");
    netsh::ImportError error;
    EXPECT_FALSE(ApplicationHost::parse(xml, "x.config", error));
    EXPECT_EQ(error.line, 6);
    EXPECT_EQ(error.reason, "XML: Attribute references external entity 'x'");
}

TEST(IisApplicationHost, MissingFileIsAnError) {
    netsh::ImportError error;
    EXPECT_FALSE(ApplicationHost::load(kData + "nope.config", error));
    EXPECT_EQ(error.line, 0);
    EXPECT_NE(error.message().find("cannot open"), std::string::npos);
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(IisApplicationHost, WritesAnUnchangedFileBackByteForByte) {
    for (const char* name : {"kb2405568.config", "sni.config", "ccs.config", "iisexpress.config"}) {
        EXPECT_EQ(load_ok(name).text(), slurp(kData + name)) << name;
    }
    // Windows line ends survive; "/>" inside comments is left alone.
    std::string crlf =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- <br/> -->\r\n<configuration>\r\n"
        "<system.applicationHost>\r\n<sites>\r\n<site name=\"a/&gt;b\" id=\"1\" />\r\n</sites>\r\n"
        "</system.applicationHost>\r\n</configuration>\r\n";
    EXPECT_EQ(parse_ok(crlf).text(), crlf);
}

TEST(IisApplicationHost, EditsKeepTheRestOfTheFile) {
    auto host = load_ok("kb2405568.config");
    IisBinding b{"https", "*:443:site2b.contoso.com", kSslSni, {}, {}, 0};
    EXPECT_EQ(host.add_binding("site2", b), EditStatus::ok);
    EXPECT_EQ(host.add_binding("Site2", b), EditStatus::duplicate);
    EXPECT_EQ(host.add_binding("Nope", b), EditStatus::no_site);
    EXPECT_EQ(host.add_binding("Site2", {"https", "*:0:", 0, {}, {}, 0}), EditStatus::invalid);
    std::string text = host.text();
    EXPECT_NE(
        text.find("<binding protocol=\"https\" bindingInformation=\"*:443:site2b.contoso.com\" "
                  "sslFlags=\"1\" />"),
        std::string::npos);
    // Other sections, comments and the indentation of siblings survive.
    EXPECT_NE(text.find("KB2405568 scenario"), std::string::npos);
    EXPECT_NE(text.find("<add value=\"Default.htm\" />"), std::string::npos);
    EXPECT_NE(text.find("site2.contoso.com\" />\n                    <binding protocol=\"https\" "
                        "bindingInformation=\"*:443:site2b"),
              std::string::npos)
        << text;

    auto reread = parse_ok(text);
    EXPECT_EQ(reread.find_site("Site2")->bindings.size(), 3u);

    EXPECT_EQ(host.remove_binding("Site2", "https", "*:443:SITE2B.contoso.com"), EditStatus::ok);
    EXPECT_EQ(host.remove_binding("Site2", "https", "*:443:site2b.contoso.com"),
              EditStatus::no_binding);
    EXPECT_EQ(host.find_site("Site2")->bindings.size(), 2u);

    Thumbprint hash = *Thumbprint::parse(std::string(40, 'a'));
    EXPECT_EQ(host.set_binding_certificate("Site1", "https", "*:443:site1.contoso.com", hash, "MY"),
              EditStatus::ok);
    EXPECT_EQ(host.find_site("Site1")->bindings[1].certificate_hash, hash);
}

TEST(IisApplicationHost, AddsAndDeletesSites) {
    auto host = load_ok("kb2405568.config");
    IisSite site;
    site.name = "Site3";
    site.bindings.push_back({"http", "*:80:site3.contoso.com", 0, {}, {}, 0});
    EXPECT_EQ(host.add_site(site, "D:\\Sites\\site3"), EditStatus::ok);
    const IisSite* added = host.find_site("Site3");
    ASSERT_TRUE(added);
    EXPECT_EQ(added->id, 4u) << "largest id + 1";
    EXPECT_EQ(added->physical_path(), "D:\\Sites\\site3");
    EXPECT_EQ(&host.sites().back(), added) << "after the last <site>, before <siteDefaults>";
    EXPECT_LT(host.text().find("Site3"), host.text().find("<siteDefaults>"));
    EXPECT_EQ(host.add_site(site, ""), EditStatus::duplicate);
    site.name = "Other";
    site.id = 2;
    EXPECT_EQ(host.add_site(site, ""), EditStatus::duplicate) << "id 2 is Site1's";

    EXPECT_EQ(host.delete_site("site1"), EditStatus::ok);
    EXPECT_EQ(host.delete_site("Site1"), EditStatus::no_site);
    EXPECT_EQ(host.sites().size(), 3u);
    EXPECT_EQ(parse_ok(host.text()).sites().size(), 3u);
}

TEST(IisApplicationHost, SaveWritesTheFileAtomically) {
    fs::path dir = fs::temp_directory_path() / ("snibind-iis-save-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto host = load_ok("ccs.config");
    ASSERT_EQ(host.delete_site("Blog"), EditStatus::ok);
    std::string error;
    ASSERT_TRUE(host.save(dir / "applicationHost.config", error)) << error;
    netsh::ImportError load_error;
    auto again = ApplicationHost::load(dir / "applicationHost.config", load_error);
    EXPECT_FALSE(host.save(dir / "missing-dir" / "x.config", error));
    EXPECT_NE(error.find("cannot create"), std::string::npos);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1)
        << "no temporary file left";
    fs::remove_all(dir);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->sites().size(), 1u);
}

TEST(IisApplicationHost, SitesForTheProxyConfig) {
    std::string error;
    auto sites = load_iis_sites(kData + "sni.config", error);
    ASSERT_TRUE(sites) << error;
    ASSERT_EQ(sites->size(), 3u);
    EXPECT_EQ((*sites)[0].bindings.size(), 2u) << "net.tcp is not an HTTP.sys binding";
    EXPECT_EQ((*sites)[2].bindings[1].to_string(), "https/[2001:db8::5]:443:");

    EXPECT_FALSE(load_iis_sites(kData + "nope.config", error));
    EXPECT_NE(error.find("nope.config"), std::string::npos);
}

TEST(IisApplicationHost, SitesYamlIsAValidProxyConfig) {
    std::string error;
    auto sites = load_iis_sites(kData + "kb2405568.config", error);
    ASSERT_TRUE(sites) << error;
    std::string yaml = "listen: [\"127.0.0.1:8443\"]\n" + sites_yaml(*sites);
    config::ConfigError config_error;
    auto config = config::parse_config(yaml, "/tmp/lab.yaml", config_error);
    ASSERT_TRUE(config) << config_error.message() << "\n" << yaml;
    ASSERT_EQ(config->sites.size(), 3u);
    EXPECT_EQ(config->sites[1].name, "Site1");
    EXPECT_EQ(config->sites[1].bindings, (*sites)[1].bindings);
}

TEST(IisApplicationHost, HostHeadersRouteAfterDecryption) {
    // I4: both sites share one certificate; the Host header picks the site (I5).
    std::string error;
    auto sites = load_iis_sites(kData + "kb2405568.config", error);
    ASSERT_TRUE(sites) << error;
    http::SiteRouter router(*sites);
    auto dst = *IpAddress::parse("10.0.0.1");
    EXPECT_EQ(router.route("https", "site2.contoso.com", dst, 443, "/").site->name, "Site2");
    EXPECT_EQ(router.route("https", "SITE1.contoso.com:443", dst, 443, "/").site->name, "Site1");
    EXPECT_EQ(router.route("https", "other.contoso.com", dst, 443, "/").site, nullptr);
}

}  // namespace
}  // namespace snibind::iis
