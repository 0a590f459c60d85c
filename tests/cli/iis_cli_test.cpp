// snibind iis, appcmd and netsh urlacl as a user runs them, and the two IIS stories of
// src/bindings/README.md section 4 replayed step by step, checked with `snibind explain`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "serve_process.h"

namespace {

namespace fs = std::filesystem;
const std::string kData = SNIBIND_TEST_DATA;

// The certificates of the stories: site 1's, site 2's, and a wildcard *.contoso.com.
const std::string kCert1 = std::string(40, 'a');
const std::string kCert2 = std::string(40, 'b');
const std::string kWildcard = std::string(40, 'c');

using Result = snibind::test::RunResult;

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

class IisCli : public ::testing::Test {
  protected:
    fs::path dir;
    std::string config, store;

    void SetUp() override {
        dir = fs::temp_directory_path() /
              ("snibind-iis-cli-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir);
        config = (dir / "applicationHost.config").string();
        store = (dir / "sslcert.txt").string();
        fs::copy_file(kData + "/iis/kb2405568.config", config);
    }
    void TearDown() override { fs::remove_all(dir); }

    Result run(const std::string& args) { return snibind::test::snibind_command(args); }

    Result ok(const std::string& args) {
        auto r = run(args);
        EXPECT_EQ(r.status, 0) << args << "\n" << r.out << r.err;
        return r;
    }

    Result iis(const std::string& args) {
        return ok("iis " + args + " --config " + config + " --store " + store +
                  " --profile windows-2008r2");
    }

    Result appcmd(const std::string& args) { return ok("appcmd --config " + config + " " + args); }

    // The certificate HTTP.sys serves a client that connects to 10.0.0.1:443 (with SNI when
    // `sni` is not empty), or "" when the connection is rejected.
    std::string served(const std::string& sni) {
        auto r = ok("explain --json --profile windows-2008r2 --store " + store +
                    " --dst 10.0.0.1:443" + (sni.empty() ? "" : " --sni " + sni));
        auto j = nlohmann::json::parse(r.out);
        if (j["outcome"] != "selected") return "";
        return j["certhash"].get<std::string>();
    }
};

TEST_F(IisCli, Kb2405568StoryStepByStep_I3) {
    // 1. IIS 7.5 imports two non-SNI sites on *:443 with a certificate each: one record.
    auto imported = iis("import " + config + " --certificate Site1=" + kCert1 +
                        " --certificate Site2=" + kCert2);
    EXPECT_EQ(imported.out.find("added ipport=0.0.0.0:443 certhash=" + kCert1), 0u) << imported.out;
    EXPECT_TRUE(contains(imported.out,
                         "note: site 'Site2' (https/*:443:site2.contoso.com) "
                         "shares IP:port 0.0.0.0:443 with site 'Site1'"));
    EXPECT_TRUE(contains(imported.out,
                         "warning: site 'Site2' (https/*:443:site2.contoso.com) "
                         "wants certificate " +
                             kCert2 + " but gets " + kCert1));

    // 2. "Site 2 shows site 1's certificate" (pitfall 1).
    EXPECT_EQ(served("site2.contoso.com"), kCert1);

    // 3. IIS Manager: choose site 2's certificate for site 2. The shared record is replaced...
    auto bound = iis(
        "bind-certificate --site Site2 --binding '*:443:site2.contoso.com' --certhash " + kCert2);
    EXPECT_TRUE(contains(bound.out,
                         "deleted ipport=0.0.0.0:443\nadded ipport=0.0.0.0:443 "
                         "certhash=" +
                             kCert2));
    EXPECT_TRUE(contains(bound.out,
                         "warning: site 'Site1' (https/*:443:site1.contoso.com) now "
                         "gets certificate " +
                             kCert2));
    EXPECT_EQ(served("site2.contoso.com"), kCert2);
    // ... and now site 1 shows site 2's certificate.
    EXPECT_EQ(served("site1.contoso.com"), kCert2);

    // 4. The fix of the KB: one certificate that covers both names (I4).
    iis("bind-certificate --site Site1 --binding '*:443:site1.contoso.com' --certhash " +
        kWildcard);
    EXPECT_EQ(served("site1.contoso.com"), kWildcard);
    EXPECT_EQ(served("site2.contoso.com"), kWildcard);
    EXPECT_EQ(served(""), kWildcard) << "clients without SNI too";
    EXPECT_TRUE(
        contains(snibind::test::read_file(config), "certificateHash=\"" + kWildcard + "\""));

    // 5. Deleting site 1 deletes the record site 2 used (pitfall 4).
    auto deleted = iis("delete-site --site Site1");
    EXPECT_TRUE(contains(deleted.out, "deleted ipport=0.0.0.0:443"));
    EXPECT_TRUE(contains(deleted.out,
                         "warning: site 'Site2' (https/*:443:site2.contoso.com) "
                         "loses HTTPS"));
    EXPECT_EQ(served("site2.contoso.com"), "");
    auto listed = appcmd("list site");
    EXPECT_FALSE(contains(listed.out, "\"Site1\""));
    EXPECT_TRUE(contains(listed.out, "SITE \"Site2\" (id:3,"));
}

TEST_F(IisCli, HostNameGreyedOutStoryStepByStep_I4) {
    // Site 2 starts with HTTP only; site 1 has https on *:443 with a *.contoso.com certificate.
    appcmd(
        "set site /site.name:Site2 "
        "\"/-bindings.[protocol='https',bindingInformation='*:443:site2.contoso.com']\"");
    iis("import " + config + " --certificate Site1=" + kWildcard);
    std::string store_before = snibind::test::read_file(store);

    // IIS 7's Add Site Binding dialog greys out the host name for https; appcmd adds it.
    auto set = appcmd(
        "set site /site.name:\"Site2\" "
        "\"/+bindings.[protocol='https',bindingInformation='*:443:site2.contoso."
        "com']\"");
    EXPECT_EQ(set.out, "SITE object \"Site2\" changed\n");
    EXPECT_EQ(snibind::test::read_file(store), store_before)
        << "appcmd never touches HTTP.sys records (I3)";
    EXPECT_TRUE(contains(appcmd("list site Site2").out, "https/*:443:site2.contoso.com"));

    // Both host names get the one shared certificate, which covers both (I4).
    EXPECT_EQ(served("site1.contoso.com"), kWildcard);
    EXPECT_EQ(served("site2.contoso.com"), kWildcard);
    EXPECT_EQ(served(""), kWildcard);

    // appcmd can take the binding away again and the record stays...
    appcmd(
        "set site Site2 "
        "\"/-bindings.[protocol='https',bindingInformation='*:443:site2.contoso.com']\"");
    EXPECT_EQ(snibind::test::read_file(store), store_before);
    // ... while IIS Manager removing site 1's binding deletes it for everyone.
    auto removed = iis("remove-binding --site Site1 --binding '*:443:site1.contoso.com'");
    EXPECT_TRUE(contains(removed.out, "deleted ipport=0.0.0.0:443"));
    EXPECT_EQ(served("site1.contoso.com"), "");
}

TEST_F(IisCli, ImportWritesTheSitesYaml) {
    std::string yaml = (dir / "sites.yaml").string();
    auto r =
        ok("iis import " + kData + "/iis/sni.config --store " + store + " --sites-yaml " + yaml);
    EXPECT_TRUE(
        contains(r.out, "added hostnameport=www.contoso.com:443 certhash=" + std::string(40, '2')));
    EXPECT_TRUE(contains(r.out, "warning: site 'Fabrikam' (https/10.0.0.5:443:): no certificate"));
    EXPECT_TRUE(contains(snibind::test::read_file(yaml),
                         "  - name: \"Contoso\"\n    bindings: "
                         "[\"https/*:443:www.contoso.com\", "
                         "\"https/*:443:shop.contoso.com\"]\n"));
    auto shown =
        ok("netsh --store " + store + " http show sslcert hostnameport=shop.contoso.com:443");
    EXPECT_TRUE(contains(shown.out, "Disable TLS1.3               : Set"));
    EXPECT_TRUE(contains(shown.out, "Certificate Store Name       : WebHosting"));

    // S2: a second import adds nothing and says so.
    auto again = ok("iis import " + kData + "/iis/sni.config --store " + store);
    EXPECT_FALSE(contains(again.out, "added"));
    EXPECT_TRUE(contains(again.out, "note: IP:port 0.0.0.0:443 is already in the store"));
}

TEST_F(IisCli, UsageAndInputErrors) {
    struct Case {
        std::string args;
        int status;
        std::string err;
    } cases[] = {
        {"iis import " + config + " --store " + store + " --certificate Site1=xyz", 2,
         "is not SITE=THUMBPRINT"},
        {"iis import " + config + " --store " + store + " --certificate Nope=" + kCert1, 2,
         "no site 'Nope'"},
        {"iis import " + kData + "/netsh/s1.txt --store " + store, 2, "s1.txt:1: XML: "},
        {"iis import " + config + " --store " + store + " --profile windows-95", 2,
         "unknown profile"},
        {"iis delete-site --site Nope --config " + config + " --store " + store, 1,
         "Cannot find SITE object with identifier \"Nope\". (nothing changed)"},
        {"iis bind-certificate --site Site1 --binding '*:443:' --certhash 12 --config " + config +
             " --store " + store,
         2, "--certhash is not 40 hex digits"},
        {"appcmd list site", 2, "give --config"},
        {"appcmd --config " + kData + "/iis/missing.config list site", 2, "cannot open"},
    };
    for (const auto& c : cases) {
        auto r = run(c.args);
        EXPECT_EQ(r.status, c.status) << c.args << "\n" << r.out << r.err;
        EXPECT_TRUE(contains(r.err, c.err)) << c.args << "\n" << r.err;
    }
    EXPECT_FALSE(fs::exists(store)) << "failed commands write nothing";
}

TEST_F(IisCli, AppcmdErrorsAreAppcmdsAndChangeNothing) {
    std::string before = snibind::test::read_file(config);
    auto r = run("appcmd --config " + config +
                 " set site Site1 \"/+bindings.[protocol='http',bindingInformation='*:80:site1."
                 "contoso.com']\"");
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(r.out.starts_with("ERROR ( message:Cannot add duplicate collection entry"));
    auto added = appcmd(
        "add site /name:Site3 /bindings:https/*:443:site3.contoso.com "
        "/physicalPath:D:\\\\Sites\\\\site3");
    EXPECT_EQ(added.out,
              "SITE object \"Site3\" added\nAPP object \"Site3/\" added\nVDIR object \"Site3/\" "
              "added\n");
    EXPECT_NE(snibind::test::read_file(config), before);
    EXPECT_EQ(appcmd("delete site Site3").out, "SITE object \"Site3\" deleted\n");
    auto help = ok("appcmd --help");
    EXPECT_TRUE(contains(help.out, "/+bindings.[protocol='https'"));
}

TEST_F(IisCli, NetshUrlacl) {
    std::string urlacl = (dir / "urlacl.txt").string();
    fs::copy_file(kData + "/netsh/u3-urlacl.txt", urlacl);
    std::string netsh = "netsh --urlacl-store " + urlacl + " http ";
    auto shown = ok(netsh + "show urlacl");
    EXPECT_TRUE(contains(shown.out,
                         "    Reserved URL            : https://+:443/ReportServer/\n"
                         "        User: NT SERVICE\\ReportServer\n"));

    auto added = ok(netsh + "add urlacl url=https://+:443/app/ 'user=CONTOSO\\web' listen=yes");
    EXPECT_EQ(added.out, "\nURL reservation successfully added\n\n");
    auto dup = run(netsh + "add urlacl url=https://+:443/app/ user=Everyone");
    EXPECT_EQ(dup.status, 1);
    EXPECT_EQ(dup.out,
              "Url reservation add failed, Error: 183\nCannot create a file when that file "
              "already exists.\n\n");
    auto one = ok(netsh + "show urlacl url=https://+:443/app/");
    EXPECT_TRUE(contains(one.out, "User: CONTOSO\\web"));
    EXPECT_FALSE(contains(one.out, "ReportServer"));
    EXPECT_EQ(ok(netsh + "delete urlacl url=https://+:443/app/").out,
              "\nURL reservation successfully deleted\n\n");
    auto missing = run(netsh + "delete urlacl url=https://+:443/app/");
    EXPECT_EQ(missing.status, 1);
    EXPECT_EQ(missing.out,
              "Url reservation delete failed, Error: 2\nThe system cannot find the file "
              "specified.\n\n");
    EXPECT_EQ(snibind::test::read_file(urlacl), shown.out)
        << "the store is the text of show urlacl";

    auto bad = run("netsh --urlacl-store " + kData + "/netsh/s3.txt http show urlacl");
    EXPECT_EQ(bad.status, 2);
    EXPECT_TRUE(contains(bad.err, "s3.txt:1:")) << bad.err;
    auto none = run("netsh http show urlacl");
    EXPECT_EQ(none.status, 2);
    EXPECT_TRUE(contains(none.err, "--urlacl-store"));
}

}  // namespace
