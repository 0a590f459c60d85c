// appcmd list|set|add|delete site with appcmd's syntax and messages; appcmd edits the
// configuration only (I3), which is how the host name IIS 7 greys out gets added (I4).
#include "iis/appcmd.h"

#include <gtest/gtest.h>

#include <sstream>

namespace snibind::iis {
namespace {

const std::string kData = std::string(SNIBIND_TEST_DATA) + "/iis/";

ApplicationHost load(const std::string& name) {
    netsh::ImportError error;
    auto host = ApplicationHost::load(kData + name, error);
    if (!host) throw std::runtime_error(error.message());
    return std::move(*host);
}

std::vector<std::string> words(const std::string& line) {
    // Split like a shell with '...' quoting: appcmd's own single quotes are inside [...].
    std::vector<std::string> out;
    std::string current;
    bool quoted = false, any = false;
    for (char c : line) {
        if (c == '"') {
            quoted = !quoted;
            any = true;
        } else if (c == ' ' && !quoted) {
            if (any) out.push_back(current);
            current.clear();
            any = false;
        } else {
            current += c;
            any = true;
        }
    }
    if (any) out.push_back(current);
    return out;
}

struct Run {
    AppcmdResult result;
    bool modified = false;
};

Run run(ApplicationHost& host, const std::string& line) {
    Run r;
    auto w = words(line);
    r.result = run_appcmd(w, host, r.modified);
    return r;
}

TEST(IisAppcmd, ListSite) {
    auto host = load("kb2405568.config");
    struct Case {
        const char* command;
        const char* out;
        int exit_code;
    } cases[] = {
        {"list site",
         "SITE \"Default Web Site\" (id:1,bindings:http/*:80:,state:Stopped)\n"
         "SITE \"Site1\" (id:2,bindings:http/*:80:site1.contoso.com,https/*:443:site1.contoso.com,"
         "state:Started)\n"
         "SITE \"Site2\" (id:3,bindings:http/*:80:site2.contoso.com,https/*:443:site2.contoso.com,"
         "state:Started)\n",
         0},
        {"LIST SITES /id:3",
         "SITE \"Site2\" (id:3,bindings:http/*:80:site2.contoso.com,https/*:443:site2.contoso.com,"
         "state:Started)\n",
         0},
        {"list site \"site1\"",
         "SITE \"Site1\" (id:2,bindings:http/*:80:site1.contoso.com,https/*:443:site1.contoso.com,"
         "state:Started)\n",
         0},
        {"list site /name:Nope", "", 0},
        {"list site Nope", "ERROR ( message:Cannot find SITE object with identifier \"Nope\". )\n",
         1},
        {"list site /state:Started",
         "ERROR ( message:Unknown attribute \"state\".  Replace with -? for help. )\n", 1},
        {"list apppool",
         "Object 'APPPOOL' is not supported.  Run 'appcmd.exe /?' to display supported "
         "objects.\n",
         1},
    };
    for (const auto& c : cases) {
        auto r = run(host, c.command);
        EXPECT_EQ(r.result.out, c.out) << c.command;
        EXPECT_EQ(r.result.exit_code, c.exit_code) << c.command;
        EXPECT_FALSE(r.modified) << c.command;
    }
}

TEST(IisAppcmd, SetSiteAddsTheGreyedOutHostName_I4) {
    auto host = load("kb2405568.config");
    auto r = run(host,
                 "set site /site.name:\"Site2\" "
                 "/+bindings.[protocol='https',bindingInformation='*:443:www2.contoso.com',"
                 "sslFlags='1']");
    EXPECT_EQ(r.result.out, "SITE object \"Site2\" changed\n");
    EXPECT_EQ(r.result.exit_code, 0);
    EXPECT_TRUE(r.modified);
    const auto& b = host.find_site("Site2")->bindings.back();
    EXPECT_EQ(b.to_string(), "https/*:443:www2.contoso.com");
    EXPECT_EQ(b.ssl_flags, kSslSni);
    EXPECT_NE(host.text().find("bindingInformation=\"*:443:www2.contoso.com\" sslFlags=\"1\""),
              std::string::npos);
}

TEST(IisAppcmd, SetSiteRemovesAndReportsErrors) {
    struct Case {
        const char* command;
        const char* out;
        bool modified;
    } cases[] = {
        {"set site Site1 "
         "/-bindings.[protocol='https',bindingInformation='*:443:site1.contoso.com']",
         "SITE object \"Site1\" changed\n", true},
        {"set site Site1 /-bindings.[bindingInformation='*:80:site1.contoso.com'] "
         "/+bindings.[protocol='http',bindingInformation='*:8080:site1.contoso.com']",
         "SITE object \"Site1\" changed\n", true},
        {"set site Site1 /-bindings.[protocol='https',bindingInformation='*:444:']",
         "ERROR ( message:Cannot find requested collection element. )\n", false},
        {"set site Site1 /+bindings.[protocol='http',bindingInformation='*:80:site1.contoso.com']",
         "ERROR ( message:Cannot add duplicate collection entry of type 'binding' with combined "
         "key attributes 'protocol, bindingInformation' respectively set to 'http, "
         "*:80:site1.contoso.com'\n. )\n",
         false},
        {"set site /site.name:Nope /+bindings.[protocol='https',bindingInformation='*:443:']",
         "ERROR ( message:Cannot find SITE object with identifier \"Nope\". )\n", false},
        {"set site /+bindings.[protocol='https',bindingInformation='*:443:']",
         "ERROR ( message:Must specify the SITE object with identifier or \"SITE.NAME\" "
         "parameter. )\n",
         false},
        {"set site Site1 /+bindings.[protocol='https',bindingInformation='*:443:',color='red']",
         "ERROR ( message:Unknown attribute \"color\".  Replace with -? for help. )\n", false},
        {"set site Site1 /+bindings.[protocol='https',bindingInformation='*:99999:']",
         "ERROR ( hresult:80070057, message:Failed to commit configuration changes.\n"
         "The parameter is incorrect.\n )\n",
         false},
        {"set site Site1 /serverAutoStart:false",
         "ERROR ( message:Unknown attribute \"serverautostart\".  Replace with -? for help. )\n",
         false},
    };
    for (const auto& c : cases) {
        auto host = load("kb2405568.config");
        auto r = run(host, c.command);
        EXPECT_EQ(r.result.out, c.out) << c.command;
        EXPECT_EQ(r.modified, c.modified) << c.command;
        EXPECT_EQ(r.result.exit_code, c.modified ? 0 : 1) << c.command;
    }
}

TEST(IisAppcmd, AddAndDeleteSite) {
    auto host = load("kb2405568.config");
    auto r = run(host,
                 "add site /name:Site3 /bindings:http/*:80:site3.contoso.com,https/*:443:site3."
                 "contoso.com /physicalPath:D:\\Sites\\site3");
    EXPECT_EQ(r.result.out,
              "SITE object \"Site3\" added\nAPP object \"Site3/\" added\nVDIR object \"Site3/\" "
              "added\n");
    EXPECT_TRUE(r.modified);
    EXPECT_EQ(format_site_line(*host.find_site("Site3")),
              "SITE \"Site3\" (id:4,bindings:http/*:80:site3.contoso.com,https/*:443:site3."
              "contoso.com,state:Started)");
    EXPECT_EQ(host.find_site("Site3")->physical_path(), "D:\\Sites\\site3");

    EXPECT_EQ(run(host, "add site /name:site3 /id:9").result.out,
              "ERROR ( message:Failed to add duplicate collection element \"site3\". )\n");
    EXPECT_EQ(run(host, "add site /name:Bare /id:9").result.out, "SITE object \"Bare\" added\n");
    EXPECT_EQ(host.find_site("Bare")->id, 9u);
    EXPECT_EQ(run(host, "add site /id:10").result.exit_code, 1);

    EXPECT_EQ(run(host, "delete site \"Site3\"").result.out, "SITE object \"Site3\" deleted\n");
    EXPECT_EQ(run(host, "delete site /site.name:Bare").result.out,
              "SITE object \"Bare\" deleted\n");
    auto missing = run(host, "delete site Site3");
    EXPECT_EQ(missing.result.out,
              "ERROR ( message:Cannot find SITE object with identifier \"Site3\". )\n");
    EXPECT_FALSE(missing.modified);
    EXPECT_EQ(host.sites().size(), 3u);
}

TEST(IisAppcmd, UsageErrors) {
    auto host = load("kb2405568.config");
    EXPECT_EQ(run(host, "list").result.exit_code, 2);
    EXPECT_EQ(run(host, "start site Site1").result.exit_code, 1);
    auto bad = run(host, "set site Site1 /+bindings.protocol='https'");
    EXPECT_EQ(bad.result.exit_code, 1);
    EXPECT_FALSE(bad.result.err.empty());
}

}  // namespace
}  // namespace snibind::iis
