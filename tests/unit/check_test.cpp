// snibind check: the findings for the traps of src/bindings/README.md section 5, on configurations
// loaded the way `snibind serve` loads them (real certificate files from a throwaway PKI).
#include <gtest/gtest.h>

#include <fstream>

#include "check/check.h"
#include "config/config.h"
#include "serve_process.h"
#include "test_pki.h"

namespace snibind::check {
namespace {

using test::TempDir;
using test::TestPki;

class Check : public ::testing::Test {
  protected:
    Check() : pki_(dir_.path() / "certs") {
        site1_ = pki_.issue("site1", "site1.test", {"site1.test"});
        site2_ = pki_.issue("site2", "site2.test", {"site2.test"});
        both_ = pki_.issue("both", "both", {"site1.test", "site2.test"});
        expired_ = pki_.issue("expired", "old.test", {"old.test"}, test::KeyType::ec_p256,
                              expired_options());
    }

    static test::IssueOptions expired_options() {
        test::IssueOptions o;
        o.not_before = std::chrono::hours(-48);
        o.not_after = std::chrono::hours(-24);
        return o;
    }

    Report run(const std::string& yaml) {
        auto path = dir_.path() / "config.yaml";
        std::ofstream(path) << "listen: [\"127.0.0.1:443\"]\nadmin: off\n" << yaml;
        config::ConfigError error;
        auto config = config::load_config(path, error);
        EXPECT_TRUE(config) << error.message();
        std::string why;
        auto rt = model::load_model(*config, why);
        EXPECT_TRUE(rt) << why;
        return check(*rt);
    }

    static const Finding* find(const Report& r, std::string_view kind) {
        for (const auto& f : r.findings)
            if (f.kind == kind) return &f;
        return nullptr;
    }

    std::string site(const std::string& name, const std::string& binding) {
        return "  - name: " + name + "\n    bindings: [\"" + binding + "\"]\n";
    }

    TempDir dir_;
    TestPki pki_;
    TestPki::Issued site1_, site2_, both_, expired_;
};

TEST_F(Check, CleanConfigurationHasNoFindings) {
    auto r =
        run("records:\n"
            "  \"hostnameport=site1.test:443\": { certificate: certs/site1.pem }\n"
            "  \"hostnameport=site2.test:443\": { certificate: certs/site2.pem }\n"
            "  \"ipport=0.0.0.0:443\": { certificate: certs/both.pem }\n"
            "sites:\n" +
            site("Site1", "https/*:443:site1.test") + site("Site2", "https/*:443:site2.test"));
    EXPECT_EQ(r.exit_status(), 0) << report_text(r);
    ASSERT_EQ(r.hosts.size(), 2u);
    EXPECT_EQ(r.hosts[0].probes[0].label, "with SNI");
    EXPECT_EQ(r.hosts[0].probes[0].decision.step, Step::sni_exact);
    EXPECT_EQ(r.hosts[0].probes[0].covers, true);
    EXPECT_EQ(r.hosts[0].probes[1].label, "without SNI");
    EXPECT_EQ(r.hosts[0].probes[1].decision.step, Step::ipv4_any);
    // Under windows-2008r2 the SNI record does not exist: the shared record answers.
    bool saw_2008 = false;
    for (const auto& p : r.hosts[0].probes)
        if (p.label == "windows-2008r2") {
            saw_2008 = true;
            EXPECT_EQ(p.decision.step, Step::ipv4_any);
        }
    EXPECT_TRUE(saw_2008);
}

// Pitfall 1, I3/I4 (KB2405568): two sites without SNI on one IP:port share one certificate.
TEST_F(Check, SharedIpPortCertificate_I3) {
    // site2's own certificate is loaded (certificates:) but no record names it.
    auto r =
        run("certificates: [certs/site2.pem]\n"
            "records:\n  \"ipport=0.0.0.0:443\": { certificate: certs/site1.pem }\nsites:\n" +
            site("Site1", "https/*:443:site1.test") + site("Site2", "https/*:443:site2.test"));
    EXPECT_EQ(r.exit_status(), 1);
    const Finding* shared = find(r, "shared_certificate");
    ASSERT_TRUE(shared) << report_text(r);
    EXPECT_EQ(shared->rule, "I3");
    EXPECT_NE(shared->message.find("site2.test"), std::string::npos);
    const Finding* mismatch = find(r, "certificate_mismatch");
    ASSERT_TRUE(mismatch);
    EXPECT_EQ(mismatch->subject, "site 'Site2' https/*:443:site2.test");
    // The fix names the certificate that does cover site2.test.
    EXPECT_NE(mismatch->fix.find("hostnameport=site2.test:443"), std::string::npos);
    EXPECT_NE(mismatch->fix.find(site2_.thumbprint.hex()), std::string::npos) << mismatch->fix;
}

// Pitfall 2, L2: a fixed-IP record shadows the SNI record under ip-first.
TEST_F(Check, FixedIpRecordShadowsSniUnderIpFirst_L2) {
    std::string records =
        "records:\n"
        "  \"hostnameport=site1.test:443\": { certificate: certs/site1.pem }\n"
        "  \"ipport=127.0.0.1:443\": { certificate: certs/site2.pem }\n";
    auto ip_first = run("precedence: ip-first\n" + records);
    const Finding* f = find(ip_first, "ip_first_shadow");
    ASSERT_TRUE(f) << report_text(ip_first);
    EXPECT_EQ(f->severity, Severity::warning);
    EXPECT_EQ(f->fix, "netsh http delete sslcert ipport=127.0.0.1:443");
    auto sni_first = run(records);
    f = find(sni_first, "ip_first_shadow");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->severity, Severity::info);  // only a risk while precedence is sni-first
}

// Pitfall 3, L3/L8: SNI-only port: clients without SNI are reset.
TEST_F(Check, SniOnlyPortResetsClientsWithoutSni_L3) {
    auto r =
        run("records:\n  \"hostnameport=site1.test:443\": { certificate: certs/site1.pem }\n"
            "sites:\n" +
            site("Site1", "https/*:443:site1.test"));
    const Finding* f = find(r, "sni_only_port");
    ASSERT_TRUE(f) << report_text(r);
    EXPECT_NE(f->fix.find("netsh http add sslcert ipport=0.0.0.0:443"), std::string::npos);
    EXPECT_EQ(r.hosts[0].probes[1].decision.outcome, Outcome::no_match);
}

TEST_F(Check, MissingAndExpiredCertificates_L9_I7) {
    auto r =
        run("records:\n"
            "  \"ipport=0.0.0.0:443\": { certhash: 0123456789012345678901234567890123456789 }\n"
            "  \"hostnameport=old.test:443\": { certificate: certs/expired.pem }\n");
    const Finding* missing = find(r, "certificate_missing");
    ASSERT_TRUE(missing) << report_text(r);
    EXPECT_EQ(missing->severity, Severity::error);
    EXPECT_EQ(missing->rule, "L9");
    const Finding* expired = find(r, "certificate_expired");
    ASSERT_TRUE(expired);
    EXPECT_EQ(expired->subject, "hostnameport=old.test:443");
}

// Pitfall 7: CCS needs SNI and an exact file name.
TEST_F(Check, CcsSiteWithoutPfx) {
    std::filesystem::create_directories(dir_.path() / "ccs");
    auto r =
        run("ccs: { folder: ccs, password: test }\nrecords:\n"
            "  \"ccs=443\": {}\n  \"ipport=0.0.0.0:443\": { certificate: certs/both.pem }\n"
            "sites:\n" +
            site("Site3", "https/*:443:site3.test"));
    const Finding* f = find(r, "ccs_file_missing");
    ASSERT_TRUE(f) << report_text(r);
    EXPECT_NE(f->fix.find("site3.test.pfx"), std::string::npos);
}

// I6: IIS Express's port range.
TEST_F(Check, IisExpressPortRange_I6) {
    auto r =
        run("records:\n  \"ipport=0.0.0.0:44300\": { certificate: certs/both.pem, appid: "
            "\"{214124cd-d05b-4309-9af9-9caa44b2b74a}\" }\n");
    const Finding* f = find(r, "iis_express_port");
    ASSERT_TRUE(f) << report_text(r);
    EXPECT_EQ(f->rule, "I6");
}

TEST_F(Check, JsonCarriesHostsFindingsAndExitStatus) {
    auto r = run("records:\n  \"ipport=0.0.0.0:443\": { certificate: certs/site1.pem }\nsites:\n" +
                 site("Site2", "https/*:443:site2.test"));
    auto j = report_json(r);
    EXPECT_EQ(j["exit_status"], 1);
    EXPECT_EQ(j["hosts"][0]["site"], "Site2");
    EXPECT_EQ(j["hosts"][0]["probes"][0]["covers"], false);
    EXPECT_FALSE(j["findings"].empty());
    EXPECT_EQ(j["findings"][0]["severity"], "error");
}

// The command: exit status 1 with findings, 2 for unusable input.
TEST_F(Check, CommandExitStatus) {
    auto path = dir_.path() / "bad.yaml";
    std::ofstream(path) << "listen: [\"127.0.0.1:443\"]\nrecords:\n  \"ipport=0.0.0.0:443\": {}\n";
    auto bad = test::run({test::snibind_binary().string(), "check", path.string()});
    EXPECT_EQ(bad.status, 2) << bad.err;
    EXPECT_NE(bad.err.find("bad.yaml:3:"), std::string::npos) << bad.err;
    auto good = dir_.path() / "good.yaml";
    std::ofstream(good) << "listen: [\"127.0.0.1:443\"]\nadmin: off\nrecords:\n"
                           "  \"hostnameport=site1.test:443\": { certificate: certs/site1.pem }\n";
    auto findings = test::run({test::snibind_binary().string(), "check", good.string()});
    EXPECT_EQ(findings.status, 1) << findings.out << findings.err;
    EXPECT_NE(findings.out.find("sni_only_port"), std::string::npos) << findings.out;
}

}  // namespace
}  // namespace snibind::check
