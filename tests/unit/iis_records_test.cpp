// The HTTP.sys records IIS writes for https bindings (I2), their sharing (I3), and the IIS
// Manager operations that replace or delete them (I3, pitfalls 1 and 4).
#include "iis/iis_records.h"

#include <gtest/gtest.h>

namespace snibind::iis {
namespace {

const std::string kData = std::string(SNIBIND_TEST_DATA) + "/iis/";

Thumbprint hash(char digit) {
    return *Thumbprint::parse(std::string(40, digit));
}

RecordKey key(Family family, const std::string& value) {
    std::string error;
    auto k = RecordKey::parse(family, value, error);
    EXPECT_TRUE(k) << value << ": " << error;
    return k.value_or(RecordKey{});
}

ApplicationHost load(const std::string& name) {
    netsh::ImportError error;
    auto host = ApplicationHost::load(kData + name, error);
    if (!host) throw std::runtime_error(error.message());
    return std::move(*host);
}

std::vector<Notice::Kind> kinds(const std::vector<Notice>& notices) {
    std::vector<Notice::Kind> out;
    for (const auto& n : notices) out.push_back(n.kind);
    return out;
}

TEST(IisRecords, RecordKeyForEachBinding_I2) {
    struct Case {
        const char* info;
        std::uint32_t ssl_flags;
        Profile profile;
        const char* want;  // netsh argument, or "" when no record
    } cases[] = {
        {"*:443:", 0, Profile::windows_2022, "ipport=0.0.0.0:443"},
        {"*:443:www.contoso.com", 0, Profile::windows_2022, "ipport=0.0.0.0:443"},
        {"10.0.0.5:443:", 0, Profile::windows_2022, "ipport=10.0.0.5:443"},
        {"[2001:db8::5]:8443:", 0, Profile::windows_2022, "ipport=[2001:db8::5]:8443"},
        {"*:443:WWW.Contoso.com", 1, Profile::windows_2022, "hostnameport=www.contoso.com:443"},
        {"10.0.0.5:443:www.contoso.com", 1, Profile::windows_2022,
         "hostnameport=www.contoso.com:443"},
        {"*:443:www.contoso.com", 2, Profile::windows_2022, "ccs=443"},
        {"*:8443:www.contoso.com", 3, Profile::windows_2022, "ccs=8443"},
        {"*:443:www.contoso.com", 1 | 32, Profile::windows_2022,
         "hostnameport=www.contoso.com:443"},
        {"*:443:", 1, Profile::windows_2022, ""},  // SNI without a host name
        {"*:443:*.contoso.com", 1, Profile::windows_2016, "hostnameport=*.contoso.com:443"},
        {"*:443:*.contoso.com", 1, Profile::windows_2012, ""},
        // IIS 7.5 has no SNI: every https binding is an IP:port one (pitfall 6).
        {"*:443:www.contoso.com", 1, Profile::windows_2008r2, "ipport=0.0.0.0:443"},
        {"*:443:www.contoso.com", 3, Profile::windows_2008r2, "ipport=0.0.0.0:443"},
    };
    for (const auto& c : cases) {
        IisBinding b{"https", c.info, c.ssl_flags, {}, {}, 0};
        std::string error;
        auto k = record_key_for(b, c.profile, error);
        if (*c.want) {
            ASSERT_TRUE(k) << c.info << ": " << error;
            EXPECT_EQ(k->netsh_argument(), c.want) << c.info;
        } else {
            EXPECT_FALSE(k) << c.info;
            EXPECT_FALSE(error.empty());
        }
    }
    std::string error;
    EXPECT_FALSE(record_key_for({"http", "*:80:", 0, {}, {}, 0}, Profile::windows_2022, error));
}

TEST(IisRecords, SslFlagBitsBecomeRecordFlags_I1) {
    struct Case {
        std::uint32_t ssl_flags;
        Profile profile;
        std::uint32_t want_extra;
    } cases[] = {
        {0, Profile::windows_2022, 0},
        {1 | 2, Profile::windows_2022, 0},
        {4, Profile::windows_2022, kDisableHttp2},
        {8, Profile::windows_2022, kDisableOcspStapling},
        {16, Profile::windows_2022, kDisableQuic},
        {32, Profile::windows_2022, kDisableTls13},
        {64, Profile::windows_2022, kDisableLegacyTls},
        {4 | 8 | 16 | 32 | 64, Profile::windows_2019,
         kDisableHttp2 | kDisableOcspStapling | kDisableLegacyTls},
        {4 | 64, Profile::windows_2012, 0},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(record_flags_for(c.ssl_flags, c.profile), kDefaultRecordFlags | c.want_extra)
            << c.ssl_flags << " " << to_string(c.profile);
    }
}

TEST(IisRecords, IisRecordCarriesIisAppIdAndStore_I6) {
    IisBinding b{"https", "*:443:", 0, {}, "WebHosting", 0};
    Record r = iis_record(key(Family::ip, "0.0.0.0:443"), b, hash('a'), Profile::windows_2022);
    EXPECT_EQ(r.appid->to_string(), kIisAppId);
    EXPECT_EQ(r.certhash, hash('a'));
    EXPECT_EQ(r.cert_store_name, "WebHosting");
    b.certificate_store_name.clear();
    EXPECT_EQ(iis_record(r.key, b, hash('a'), Profile::windows_2022).cert_store_name, "MY");
    Record ccs = iis_record(key(Family::ccs, "443"), b, hash('a'), Profile::windows_2022);
    EXPECT_FALSE(ccs.certhash) << "a CCS record takes no certificate hash";
}

TEST(IisRecords, NonSniSitesShareOneRecordFirstSiteWins_I3) {
    auto host = load("kb2405568.config");
    auto plan = plan_records(host.sites(), {{"SITE1", hash('a')}, {"Site2", hash('b')}},
                             Profile::windows_2008r2);
    ASSERT_EQ(plan.records.size(), 1u);
    EXPECT_EQ(plan.records[0].record.key.netsh_argument(), "ipport=0.0.0.0:443");
    EXPECT_EQ(plan.records[0].record.certhash, hash('a'));
    ASSERT_EQ(plan.records[0].users.size(), 2u);
    EXPECT_EQ(plan.records[0].users[1], (BindingRef{"Site2", "*:443:site2.contoso.com"}));
    EXPECT_EQ(kinds(plan.notices),
              (std::vector{Notice::Kind::shares_record, Notice::Kind::cert_overridden}));
    EXPECT_NE(plan.notices[1].message.find("wants certificate " + hash('b').hex()),
              std::string::npos);
}

TEST(IisRecords, ALaterSiteWithACertificateCreatesTheSharedRecord) {
    auto host = load("kb2405568.config");
    auto plan = plan_records(host.sites(), {{"Site2", hash('b')}}, Profile::windows_2022);
    ASSERT_EQ(plan.records.size(), 1u);
    EXPECT_EQ(plan.records[0].record.certhash, hash('b'));
    EXPECT_EQ(plan.records[0].users[0].site, "Site2");
    EXPECT_EQ(kinds(plan.notices), std::vector{Notice::Kind::shares_record});
}

TEST(IisRecords, NoCertificateIsReported) {
    auto host = load("kb2405568.config");
    auto plan = plan_records(host.sites(), {}, Profile::windows_2022);
    EXPECT_TRUE(plan.records.empty());
    EXPECT_EQ(kinds(plan.notices),
              (std::vector{Notice::Kind::no_certificate, Notice::Kind::no_certificate}));
}

TEST(IisRecords, SniConfigUsesCertificateHashAttributes) {
    auto host = load("sni.config");
    auto plan = plan_records(host.sites(), {{"Fabrikam", hash('f')}}, Profile::windows_2022);
    std::vector<std::string> keys;
    for (const auto& p : plan.records) keys.push_back(p.record.key.netsh_argument());
    EXPECT_EQ(keys,
              (std::vector<std::string>{"ipport=0.0.0.0:443", "hostnameport=www.contoso.com:443",
                                        "hostnameport=shop.contoso.com:443", "ipport=10.0.0.5:443",
                                        "ipport=[2001:db8::5]:443"}));
    EXPECT_EQ(plan.records[1].record.certhash, hash('2'));
    EXPECT_EQ(plan.records[1].record.cert_store_name, "WebHosting");
    EXPECT_TRUE(plan.records[2].record.has(kDisableTls13)) << "sslFlags 'Sni, DisableTLS13'";
    EXPECT_TRUE(plan.records[3].record.has(kDisableHttp2)) << "sslFlags 68";
    EXPECT_TRUE(plan.records[3].record.has(kDisableLegacyTls));
    EXPECT_TRUE(plan.notices.empty());
    // --certificate wins over the attribute.
    auto overridden = plan_records(host.sites(), {{"Contoso", hash('c')}}, Profile::windows_2022);
    EXPECT_EQ(overridden.records[1].record.certhash, hash('c'));
}

TEST(IisRecords, CcsSitesShareOneCcsRecordPerPort_I2) {
    auto host = load("ccs.config");
    auto plan = plan_records(host.sites(), {}, Profile::windows_2022);
    ASSERT_EQ(plan.records.size(), 2u);
    EXPECT_EQ(plan.records[0].record.key.netsh_argument(), "ccs=443");
    EXPECT_EQ(plan.records[0].users.size(), 2u);
    EXPECT_EQ(plan.records[1].record.key.netsh_argument(), "ccs=8443");
    EXPECT_FALSE(plan.records[0].record.certhash);
    EXPECT_TRUE(plan.notices.empty()) << "sharing ccs=port is by design";
    auto old = plan_records(host.sites(), {}, Profile::windows_2008r2);
    EXPECT_EQ(kinds(old.notices).size(), 3u) << "IIS 7.5: ipport records, no certificate";
}

TEST(IisRecords, ImportNeverOverwrites_S2) {
    auto host = load("kb2405568.config");
    netsh::Store store;
    Record existing =
        iis_record(key(Family::ip, "0.0.0.0:443"), {}, hash('e'), Profile::windows_2022);
    ASSERT_EQ(store.add(existing), netsh::StoreStatus::ok);
    auto plan = plan_records(host.sites(), {{"Site1", hash('a')}}, Profile::windows_2022);
    EXPECT_TRUE(import_records(plan, store).empty());
    EXPECT_EQ(store.find(existing.key)->certhash, hash('e'));
    ASSERT_EQ(plan.notices.back().kind, Notice::Kind::kept_existing);
    EXPECT_NE(plan.notices.back().message.find("At least one other site is using the same HTTPS "
                                               "binding"),
              std::string::npos);

    auto same = plan_records(host.sites(), {{"Site1", hash('e')}}, Profile::windows_2022);
    import_records(same, store);
    EXPECT_EQ(same.notices.back().kind, Notice::Kind::already_present);
}

TEST(IisRecords, IisExpressPortsAgainstARealDump_I6) {
    // s1.txt holds 0.0.0.0:44307 with the IIS Express development certificate.
    netsh::ImportError error;
    auto store = netsh::Store::load(std::string(SNIBIND_TEST_DATA) + "/netsh/s1.txt",
                                    netsh::MissingFile::error, error);
    ASSERT_TRUE(store) << error.message();
    auto host = load("iisexpress.config");
    auto dev = *Thumbprint::parse("61d34f532da121bbab64723c4871e72c92f03735");
    auto plan = plan_records(host.sites(), {{"WebApplication1", dev}, {"WebApplication2", dev}},
                             Profile::windows_2022);
    auto added = import_records(plan, *store);
    ASSERT_EQ(added.size(), 1u);
    EXPECT_EQ(added[0].netsh_argument(), "ipport=0.0.0.0:44399");
    EXPECT_EQ(plan.notices.back().kind, Notice::Kind::already_present);
}

struct Lab {
    ApplicationHost config = load("kb2405568.config");
    netsh::Store store;
    Lab() {
        auto plan = plan_records(config.sites(), {{"Site1", hash('a')}}, Profile::windows_2022);
        import_records(plan, store);
    }
    std::optional<Thumbprint> cert(const std::string& k) const {
        const Record* r = store.find(key(Family::ip, k));
        return r ? r->certhash : std::nullopt;
    }
};

TEST(IisRecords, BindCertificateChangesEverySibling_I3) {
    Lab lab;
    auto r = bind_certificate(lab.config, lab.store, "Site2", "*:443:site2.contoso.com", hash('b'),
                              Profile::windows_2022);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.actions,
              (std::vector<std::string>{"deleted ipport=0.0.0.0:443",
                                        "added ipport=0.0.0.0:443 certhash=" + hash('b').hex() +
                                            " appid={4dc3e181-e14b-4a21-b022-59fc669b0914}"}));
    EXPECT_EQ(lab.cert("0.0.0.0:443"), hash('b'));
    ASSERT_EQ(kinds(r.notices), std::vector{Notice::Kind::sibling_changed});
    EXPECT_EQ(r.notices[0].binding.site, "Site1");
    // IIS 8.5+ also records the certificate on both bindings.
    EXPECT_EQ(lab.config.find_site("Site1")->bindings[1].certificate_hash, hash('b'));
    EXPECT_EQ(lab.config.find_site("Site2")->bindings[1].certificate_hash, hash('b'));

    auto again = bind_certificate(lab.config, lab.store, "Site2", "https/*:443:site2.contoso.com",
                                  hash('b'), Profile::windows_2022);
    EXPECT_TRUE(again.ok);
    EXPECT_TRUE(again.notices.empty()) << "the same certificate changes nobody";
}

TEST(IisRecords, BindCertificateRefusals) {
    Lab lab;
    struct Case {
        const char* site;
        const char* binding;
        const char* error;
    } cases[] = {
        {"Nope", "*:443:", "Cannot find SITE object with identifier \"Nope\"."},
        {"Site2", "*:443:other", "has no https binding '*:443:other'"},
        {"Site2", "http/*:80:site2.contoso.com", "has no https binding"},
    };
    for (const auto& c : cases) {
        auto r = bind_certificate(lab.config, lab.store, c.site, c.binding, hash('b'),
                                  Profile::windows_2022);
        EXPECT_FALSE(r.ok);
        EXPECT_NE(r.error.find(c.error), std::string::npos) << r.error;
    }
    EXPECT_EQ(lab.cert("0.0.0.0:443"), hash('a')) << "a refusal changes nothing";
    auto ccs = load("ccs.config");
    auto r = bind_certificate(ccs, lab.store, "Blog", "*:443:blog.contoso.com", hash('b'),
                              Profile::windows_2022);
    EXPECT_NE(r.error.find("Central Certificate Store"), std::string::npos);
}

TEST(IisRecords, RemovingABindingDeletesTheSharedRecord_Pitfall4) {
    Lab lab;
    auto r = remove_binding(lab.config, lab.store, "Site2", "*:443:site2.contoso.com",
                            Profile::windows_2022);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_FALSE(lab.cert("0.0.0.0:443")) << "Site1 used it";
    ASSERT_EQ(kinds(r.notices), std::vector{Notice::Kind::sibling_lost});
    EXPECT_EQ(r.notices[0].binding, (BindingRef{"Site1", "*:443:site1.contoso.com"}));
    EXPECT_EQ(lab.config.find_site("Site2")->bindings.size(), 1u);

    auto missing = remove_binding(lab.config, lab.store, "Site2", "*:443:site2.contoso.com",
                                  Profile::windows_2022);
    EXPECT_FALSE(missing.ok);
    auto http = remove_binding(lab.config, lab.store, "Site2", "http/*:80:site2.contoso.com",
                               Profile::windows_2022);
    EXPECT_TRUE(http.ok) << http.error;
    EXPECT_TRUE(lab.config.find_site("Site2")->bindings.empty());
}

TEST(IisRecords, DeletingASiteDeletesItsRecords_Pitfall4) {
    Lab lab;
    auto r = delete_site(lab.config, lab.store, "site1", Profile::windows_2022);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_TRUE(lab.store.empty());
    EXPECT_EQ(r.actions.back(), "deleted site 'Site1'");
    ASSERT_EQ(kinds(r.notices), std::vector{Notice::Kind::sibling_lost});
    EXPECT_EQ(r.notices[0].binding.site, "Site2");
    EXPECT_FALSE(lab.config.find_site("Site1"));
    EXPECT_FALSE(delete_site(lab.config, lab.store, "Site1", Profile::windows_2022).ok);
}

TEST(IisRecords, CcsRecordStaysWhileOtherCcsBindingsUseIt) {
    auto config = load("ccs.config");
    netsh::Store store;
    auto plan = plan_records(config.sites(), {}, Profile::windows_2022);
    import_records(plan, store);
    auto r = delete_site(config, store, "Blog", Profile::windows_2022);
    ASSERT_TRUE(r.ok);
    EXPECT_TRUE(store.find(RecordKey::ccs(443)));
    EXPECT_TRUE(r.notices.empty());
    r = delete_site(config, store, "Shop", Profile::windows_2022);
    EXPECT_TRUE(store.empty());
}

TEST(IisRecords, AddBindingWithACertificate) {
    Lab lab;
    IisBinding sni{"https", "*:443:site2.contoso.com", kSslSni, hash('b'), "MY", 0};
    ASSERT_TRUE(remove_binding(lab.config, lab.store, "Site2", "*:443:site2.contoso.com",
                               Profile::windows_2022)
                    .ok);
    auto r = add_binding(lab.config, lab.store, "Site2", sni, Profile::windows_2022);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(lab.store.find(key(Family::host, "site2.contoso.com:443"))->certhash, hash('b'));
    EXPECT_TRUE(r.notices.empty());
    EXPECT_FALSE(add_binding(lab.config, lab.store, "Site2", sni, Profile::windows_2022).ok)
        << "duplicate";

    IisBinding bare{"https", "*:8443:", 0, {}, {}, 0};
    auto no_cert = add_binding(lab.config, lab.store, "Site2", bare, Profile::windows_2022);
    EXPECT_TRUE(no_cert.ok);
    EXPECT_EQ(kinds(no_cert.notices), std::vector{Notice::Kind::no_certificate});
}

}  // namespace
}  // namespace snibind::iis
