// select_certificate against src/bindings/README.md: every rule of sections 1-3 (S3, S4, L1-L9,
// profiles).
#include "bindings/selection.h"

#include <gtest/gtest.h>

#include <set>

namespace snibind {
namespace {

Thumbprint hash_of(char c) {
    return *Thumbprint::parse(std::string(40, c));
}

Record record(const std::string& arg, char hash = 'a', std::uint32_t extra_flags = 0) {
    auto eq = arg.find('=');
    std::string kind = arg.substr(0, eq), value = arg.substr(eq + 1);
    Family f = kind == "ipport"         ? Family::ip
               : kind == "hostnameport" ? Family::host
               : kind == "ccs"          ? Family::ccs
                                        : Family::scoped_ccs;
    std::string error;
    auto key = RecordKey::parse(f, value, error);
    EXPECT_TRUE(key) << arg << ": " << error;
    Record r;
    r.key = *key;
    if (f == Family::ip || f == Family::host) r.certhash = hash_of(hash);
    r.flags |= extra_flags;
    return r;
}

struct Lab {
    BindingTable table;
    SelectionSettings settings;
    explicit Lab(std::vector<Record> records) : table(std::move(records)) {}

    Decision connect(const std::string& dst, const std::string& sni = "",
                     const CertificateSource* certs = nullptr, bool sni_sent = true) const {
        auto ep = Endpoint::parse(dst);
        EXPECT_TRUE(ep) << dst;
        Connection c{ep->addr, ep->port, {}, HostProblem::none, sni_sent && !sni.empty()};
        std::string host;
        if (c.sni_sent) {
            c.sni_problem = normalise_sni(sni, settings.trailing_dot, host);
            c.host = host;
        }
        return select_certificate(table.read(), c, settings, certs);
    }
};

std::string chosen(const Decision& d) {
    if (!d.step) return "none";
    const std::string display = d.key(*d.step).display();
    EXPECT_EQ(d.record_name(*d.step).view(), display);  // the proxy's name for it, unallocated
    return display;
}

// The seed lab of the issue: two sites on one IP:port, a default record, an SNI record, a
// second loopback address with its own IP record.
std::vector<Record> seed() {
    return {record("ipport=0.0.0.0:443", 'd'), record("hostnameport=sitev2.mysite.com:443", 'b'),
            record("ipport=127.0.0.2:443", 'c'), record("hostnameport=*.wild.example:443", 'e')};
}

TEST(L1_SniFirst, ExactHostRecordWins) {
    Lab lab(seed());
    auto d = lab.connect("127.0.0.2:443", "sitev2.mysite.com");
    EXPECT_EQ(d.outcome, Outcome::selected);
    EXPECT_EQ(chosen(d), "Hostname:port sitev2.mysite.com:443");
    EXPECT_EQ(d.certhash, hash_of('b'));
    ASSERT_EQ(d.trace_size, 1u);
    EXPECT_EQ(d.trace[0].result, StepResult::hit);
}

TEST(L1_SniFirst, WildcardOneLabelOnly) {
    Lab lab(seed());
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "hr.wild.example")),
              "Hostname:port *.wild.example:443");
    // Never two labels, never the bare parent (L1 step 2): those fall to the IP records.
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "a.b.wild.example")), "IP:port 0.0.0.0:443");
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "wild.example")), "IP:port 0.0.0.0:443");
}

TEST(L1_SniFirst, TraceListsEveryStepTriedInOrder) {
    Lab lab(seed());
    auto d = lab.connect("127.0.0.1:443", "unknown.example.org");
    std::vector<std::pair<Step, StepResult>> got;
    for (std::size_t i = 0; i < d.trace_size; ++i)
        got.emplace_back(d.trace[i].step, d.trace[i].result);
    std::vector<std::pair<Step, StepResult>> want = {
        {Step::sni_exact, StepResult::miss},  {Step::sni_wildcard, StepResult::miss},
        {Step::scoped_ccs, StepResult::miss}, {Step::ccs, StepResult::miss},
        {Step::ip_exact, StepResult::miss},   {Step::ipv6_any, StepResult::skipped},
        {Step::ipv4_any, StepResult::hit}};
    EXPECT_EQ(got, want);
    EXPECT_EQ(d.key(Step::sni_wildcard).display(), "Hostname:port *.example.org:443");
    // Every family's name, as the proxy writes it for its stats and access log.
    for (const auto& [step, result] : want)
        EXPECT_EQ(d.record_name(step).view(), d.key(step).display());
    EXPECT_EQ(d.record_name(Step::ccs).view(), "Central Certificate Store 443");
    EXPECT_EQ(d.describe(d.trace[5]), "the destination is IPv4; [::] covers IPv6 only (S3)");
}

TEST(L1_SniFirst, ExactIpBeatsAnyAddress) {
    Lab lab(seed());
    EXPECT_EQ(chosen(lab.connect("127.0.0.2:443")), "IP:port 127.0.0.2:443");
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443")), "IP:port 0.0.0.0:443");
}

TEST(L2_IpFirst, StaleIpRecordBeatsSniRecord) {  // pitfall 2
    Lab lab(seed());
    lab.settings.precedence = Precedence::ip_first;
    auto d = lab.connect("127.0.0.2:443", "sitev2.mysite.com");
    EXPECT_EQ(chosen(d), "IP:port 127.0.0.2:443");
    EXPECT_EQ(d.certhash, hash_of('c'));
    // Only the exact IP step moves: 0.0.0.0 still comes after the host records.
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "sitev2.mysite.com")),
              "Hostname:port sitev2.mysite.com:443");
}

TEST(L3_NoSni, OnlyIpRecordsCanMatch) {
    Lab lab(seed());
    auto d = lab.connect("127.0.0.1:443");
    EXPECT_EQ(chosen(d), "IP:port 0.0.0.0:443");
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(d.trace[i].result, StepResult::skipped);
        EXPECT_EQ(d.trace[i].reason, Reason::no_sni);
    }
}

TEST(L3_NoSni, SniThatIsNotAHostNameCountsAsNone) {
    // An IP literal cannot be a host key either (L6).
    std::string error;
    EXPECT_FALSE(RecordKey::parse(Family::host, "10.0.0.5:443", error));
    Lab lab(seed());
    for (std::string sni : {"10.0.0.5", "a/b.example", "a..b"}) {
        auto d = lab.connect("127.0.0.1:443", sni);
        EXPECT_EQ(chosen(d), "IP:port 0.0.0.0:443") << sni;
        EXPECT_EQ(d.trace[0].reason, Reason::sni_not_host) << sni;
    }
}

TEST(L4_UnknownSni, FallsThroughToIpRecords) {
    Lab lab(seed());
    EXPECT_EQ(chosen(lab.connect("127.0.0.2:443", "nobody.example")), "IP:port 127.0.0.2:443");
}

TEST(L5_Reject, SelectedThenDroppedWithoutFallback) {
    auto records = seed();
    records.push_back(record("hostnameport=blocked.example:443", 'f', kRejectConnections));
    Lab lab(records);
    auto d = lab.connect("127.0.0.1:443", "blocked.example");
    EXPECT_EQ(d.outcome, Outcome::rejected);
    EXPECT_EQ(chosen(d), "Hostname:port blocked.example:443");
    EXPECT_EQ(d.trace_size, 1u);  // 0.0.0.0 was never tried
}

TEST(L6_Normalisation, CaseTrailingDotAndIdnKeys) {
    Lab lab({record("hostnameport=WWW.Example.COM.:443", 'b'), record("hostnameport=b\xc3\xbc"
                                                                      "cher.example:443",
                                                                      'c')});
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "www.EXAMPLE.com.")),
              "Hostname:port www.example.com:443");
    // A U-label key matches the A-label a client sends.
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "xn--bcher-kva.example")),
              "Hostname:port xn--bcher-kva.example:443");
    lab.settings.trailing_dot = TrailingDot::reject;
    auto d = lab.connect("127.0.0.1:443", "www.example.com.");
    EXPECT_EQ(d.outcome, Outcome::no_match);
    EXPECT_EQ(d.trace[0].reason, Reason::sni_not_host);
}

TEST(L7_Flags, CarriedToTheDecisionNeverCausingFallback) {
    Lab lab({record("hostnameport=a.example:443", 'b', kDisableLegacyTls | kDisableHttp2),
             record("ipport=0.0.0.0:443", 'd')});
    auto d = lab.connect("127.0.0.1:443", "a.example");
    EXPECT_EQ(d.outcome, Outcome::selected);
    EXPECT_EQ(d.flags & (kDisableLegacyTls | kDisableHttp2), kDisableLegacyTls | kDisableHttp2);
}

TEST(L8_NoMatch, NothingMatchesMeansNoMatch) {
    Lab lab({record("hostnameport=a.example:443")});  // SNI-only configuration (pitfall 3)
    auto d = lab.connect("127.0.0.1:443");
    EXPECT_EQ(d.outcome, Outcome::no_match);
    EXPECT_FALSE(d.step);
    EXPECT_FALSE(d.certhash);
}

class FakeCertificates : public CertificateSource {
  public:
    std::set<std::string> ccs_files;
    std::set<std::string> unusable;  // certificate hashes whose key cannot be used
    bool has_ccs_file(std::string_view f) const override {
        return ccs_files.contains(std::string(f));
    }
    bool key_usable(const Record& r, std::string_view ccs) const override {
        if (!ccs.empty()) return !unusable.contains(std::string(ccs));
        return !r.certhash || !unusable.contains(r.certhash->hex());
    }
};

TEST(L9_UnusableKey, FailByDefaultNextOnRequest) {  // pitfall 5
    Lab lab(seed());
    FakeCertificates certs;
    certs.unusable.insert(hash_of('b').hex());
    auto d = lab.connect("127.0.0.1:443", "sitev2.mysite.com", &certs);
    EXPECT_EQ(d.outcome, Outcome::failed);
    EXPECT_EQ(d.trace[0].result, StepResult::unusable_key);
    lab.settings.unusable_key = UnusableKey::next;
    d = lab.connect("127.0.0.1:443", "sitev2.mysite.com", &certs);
    EXPECT_EQ(d.outcome, Outcome::selected);
    EXPECT_EQ(chosen(d), "IP:port 0.0.0.0:443");  // the "wrong certificate" symptom
}

TEST(L1_Ccs, ExactFileThenWildcardFileElseGoOn) {  // pitfall 7
    Lab lab({record("ccs=443"), record("ipport=0.0.0.0:443", 'd')});
    FakeCertificates certs;
    certs.ccs_files = {"www.contoso.com.pfx", "_.fabrikam.com.pfx"};
    auto d = lab.connect("127.0.0.1:443", "WWW.contoso.com", &certs);
    EXPECT_EQ(chosen(d), "Central Certificate Store 443");
    EXPECT_EQ(d.ccs_file(), "www.contoso.com.pfx");
    EXPECT_FALSE(d.certhash);
    EXPECT_EQ(lab.connect("127.0.0.1:443", "hr.fabrikam.com", &certs).ccs_file(),
              "_.fabrikam.com.pfx");
    // A SAN certificate must be copied once per name: no file, so on to the IP records.
    d = lab.connect("127.0.0.1:443", "shop.contoso.com", &certs);
    EXPECT_EQ(chosen(d), "IP:port 0.0.0.0:443");
    EXPECT_EQ(d.trace[3].reason, Reason::ccs_file_missing);
    // CCS needs SNI.
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "", &certs)), "IP:port 0.0.0.0:443");
}

TEST(L1_Ccs, ScopedCcsBeforeCcsOnWindows2022) {
    Lab lab({record("scopedccs=www.contoso.com:443"), record("ccs=443")});
    FakeCertificates certs;
    certs.ccs_files = {"www.contoso.com.pfx"};
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "www.contoso.com", &certs)),
              "Scoped CCS www.contoso.com:443");
    lab.settings.profile = Profile::windows_2019;
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "www.contoso.com", &certs)),
              "Central Certificate Store 443");
}

TEST(S3_Addresses, AnyV4CoversIpv6AndV6AnyCoversOnlyIpv6) {
    Lab lab({record("ipport=0.0.0.0:443", 'd')});
    EXPECT_EQ(chosen(lab.connect("[::1]:443")), "IP:port 0.0.0.0:443");
    Lab lab6({record("ipport=[::]:443", 'e'), record("ipport=0.0.0.0:443", 'd')});
    EXPECT_EQ(chosen(lab6.connect("[::1]:443")), "IP:port [::]:443");
    EXPECT_EQ(chosen(lab6.connect("127.0.0.1:443")), "IP:port 0.0.0.0:443");
}

TEST(S3_Addresses, Ipv4MappedDestinationIsTheIpv4Address) {
    Lab lab({record("ipport=127.0.0.2:443", 'c'), record("ipport=[::]:443", 'e')});
    auto d = lab.connect("[::ffff:127.0.0.2]:443");
    EXPECT_EQ(chosen(d), "IP:port 127.0.0.2:443");
}

TEST(S4_Ports, MatchExactlyWithNoWildcard) {
    Lab lab({record("ipport=0.0.0.0:443", 'd'), record("hostnameport=a.example:443", 'b')});
    EXPECT_EQ(lab.connect("127.0.0.1:8443", "a.example").outcome, Outcome::no_match);
}

TEST(Profiles, Windows2008R2ServesFromIpRecordsOnly) {  // pitfall 6
    Lab lab(seed());
    lab.settings.profile = Profile::windows_2008r2;
    auto d = lab.connect("127.0.0.1:443", "sitev2.mysite.com");
    EXPECT_EQ(chosen(d), "IP:port 0.0.0.0:443");
    EXPECT_EQ(d.trace[0].reason, Reason::profile_no_sni);
}

TEST(Profiles, Windows2012HasSniButNoWildcards) {
    Lab lab(seed());
    lab.settings.profile = Profile::windows_2012;
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "sitev2.mysite.com")),
              "Hostname:port sitev2.mysite.com:443");
    auto d = lab.connect("127.0.0.1:443", "hr.wild.example");
    EXPECT_EQ(chosen(d), "IP:port 0.0.0.0:443");
    EXPECT_EQ(d.trace[1].reason, Reason::profile_no_wildcard);
    lab.settings.profile = Profile::windows_2016;
    EXPECT_EQ(chosen(lab.connect("127.0.0.1:443", "hr.wild.example")),
              "Hostname:port *.wild.example:443");
}

TEST(Decision, OutlivesTheHostItWasMadeFor) {
    Lab lab(seed());
    Decision d;
    {
        std::string sni = "sitev2.mysite.com";
        d = lab.connect("127.0.0.1:443", sni);
        sni.assign(sni.size(), 'x');
    }
    EXPECT_EQ(d.host(), "sitev2.mysite.com");
}

}  // namespace
}  // namespace snibind
