// `netsh http add|delete|update|show sslcert` on a Store, and the store file
// (src/bindings/README.md S1, S2, section 3).
#include "netsh/netsh_command.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "netsh/netsh_fields.h"
#include "netsh/netsh_text.h"
#include "netsh/store_file.h"

namespace snibind::netsh {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr std::array<Profile, 6> kAllProfiles{Profile::windows_2008r2, Profile::windows_2012,
                                              Profile::windows_2012r2, Profile::windows_2016,
                                              Profile::windows_2019,   Profile::windows_2022};

constexpr const char* kHash = "61d34f532da121bbab64723c4871e72c92f03735";
constexpr const char* kHash2 = "5226dc6c54559761cd471b86eb51c096252c90f2";
constexpr const char* kAppid = "{4dc3e181-e14b-4a21-b022-59fc669b0914}";

constexpr std::string_view kAdded = "\nSSL Certificate successfully added\n\n";
constexpr std::string_view kDeleted = "\nSSL Certificate successfully deleted\n\n";
constexpr std::string_view kUpdated = "\nSSL Certificate successfully updated\n\n";
constexpr std::string_view kAdd183 =
    "SSL Certificate add failed, Error: 183\n"
    "Cannot create a file when that file already exists.\n\n";
constexpr std::string_view kAdd87 =
    "SSL Certificate add failed, Error: 87\nThe parameter is incorrect.\n\n";
constexpr std::string_view kDelete2 =
    "SSL Certificate deletion failed, Error: 2\nThe system cannot find the file specified.\n\n";
constexpr std::string_view kUpdate2 =
    "SSL Certificate update failed, Error: 2\nThe system cannot find the file specified.\n\n";

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

class NetshCommand : public ::testing::Test {
  protected:
    NetshResult run(std::vector<std::string> words, Profile profile = Profile::windows_2022) {
        modified = false;
        return run_netsh(words, store, profile, modified);
    }
    NetshResult add(std::string key, std::vector<std::string> extra = {},
                    Profile profile = Profile::windows_2022) {
        std::vector<std::string> words{"http",
                                       "add",
                                       "sslcert",
                                       key,
                                       std::string("certhash=") + kHash,
                                       std::string("appid=") + kAppid};
        if (key.starts_with("ccs=") || key.starts_with("scopedccs="))
            words.erase(words.begin() + 4);
        words.insert(words.end(), extra.begin(), extra.end());
        return run(words, profile);
    }

    Store store;
    bool modified = false;
};

// ---- add (S1, S2) ----

TEST_F(NetshCommand, S1_AddStoresTheRecordWithNetshDefaults) {
    auto r = add("ipport=0.0.0.0:443");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, kAdded);
    EXPECT_EQ(r.err, "");
    EXPECT_TRUE(modified);
    ASSERT_EQ(store.size(), 1u);
    const Record& rec = store.records()[0];
    EXPECT_EQ(rec.key, RecordKey::ip(IpAddress::v4_any(), 443));
    EXPECT_EQ(rec.certhash, Thumbprint::parse(kHash));
    EXPECT_EQ(rec.appid, Guid::parse(kAppid));
    EXPECT_EQ(rec.cert_store_name, "");  // printed "(null)", as Windows (s3.txt)
    EXPECT_EQ(rec.flags, kDefaultRecordFlags);
    EXPECT_THAT(run({"http", "show", "sslcert"}).out,
                HasSubstr("    Certificate Store Name       : (null)\n"));
}

TEST_F(NetshCommand, S1_AddTakesEveryParameterCaseInsensitively) {
    auto r = run({"HTTP", "Add", "SSLCERT", "IPPort=[::]:443",
                  std::string("CertHash=") + "61D34F532DA121BBAB64723C4871E72C92F03735",
                  "APPID=4dc3e181-e14b-4a21-b022-59fc669b0914", "certstorename=WebHosting",
                  "verifyclientcertrevocation=disable", "usagecheck=DISABLE",
                  "clientcertnegotiation=enable", "revocationfreshnesstime=3600",
                  "urlretrievaltimeout=15000", "sslctlidentifier=MyCtl", "sslctlstorename=Root",
                  "disabletls13=enable", "disablelegacytls=enable", "enablesessionticket=enable"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const Record& rec = store.records().at(0);
    EXPECT_EQ(rec.key, RecordKey::ip(IpAddress::v6_any(), 443));
    EXPECT_EQ(rec.certhash, Thumbprint::parse(kHash));
    EXPECT_EQ(rec.appid, Guid::parse(kAppid));
    EXPECT_EQ(rec.cert_store_name, "WebHosting");
    EXPECT_EQ(rec.flags,
              kNegotiateClientCert | kDisableTls13 | kDisableLegacyTls | kEnableSessionTicket);
    EXPECT_EQ(rec.revocation_freshness_time, 3600u);
    EXPECT_EQ(rec.url_retrieval_timeout, 15000u);
    EXPECT_EQ(rec.ctl_identifier, "MyCtl");
    EXPECT_EQ(rec.ctl_store_name, "Root");
}

TEST_F(NetshCommand, S2_AddOfAnExistingKeyFailsWith183AndLeavesTheStoreAlone) {
    ASSERT_EQ(add("hostnameport=www.contoso.com:443").exit_code, 0);
    auto before = store.text();
    auto r = run({"http", "add", "sslcert", "hostnameport=WWW.Contoso.com:443",
                  std::string("certhash=") + kHash2, std::string("appid=") + kAppid,
                  "clientcertnegotiation=enable"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, kAdd183);
    EXPECT_FALSE(modified);
    EXPECT_EQ(store.text(), before);
    EXPECT_EQ(store.records().at(0).certhash, Thumbprint::parse(kHash));
}

TEST_F(NetshCommand, S1_AddKeepsTheHostAsWritten) {
    ASSERT_EQ(add("hostnameport=SNI.IIS8.com:443").exit_code, 0);
    EXPECT_EQ(store.records().at(0).key, RecordKey::hostname("sni.iis8.com", 443));
    EXPECT_THAT(run({"http", "show", "sslcert", "hostnameport=sni.iis8.com:443"}).out,
                HasSubstr("    Hostname:port                : SNI.IIS8.com:443\n"));
}

TEST_F(NetshCommand, S1_AddWithoutRequiredParametersPrintsUsage) {
    struct Case {
        std::vector<std::string> words;
        const char* missing;
    } cases[] = {
        {{"http", "add", "sslcert", "ipport=0.0.0.0:443", std::string("appid=") + kAppid},
         "parameter certhash"},
        {{"http", "add", "sslcert", "hostnameport=a.example:443", std::string("appid=") + kAppid},
         "parameter certhash"},
        {{"http", "add", "sslcert", "ipport=0.0.0.0:443", std::string("certhash=") + kHash},
         "parameter appid"},
        {{"http", "add", "sslcert", "ccs=443"}, "parameter appid"},
        {{"http", "add", "sslcert", std::string("certhash=") + kHash,
          std::string("appid=") + kAppid},
         "key parameter"},
        {{"http", "delete", "sslcert"}, "key parameter"},
        {{"http", "update", "sslcert", "clientcertnegotiation=enable"}, "key parameter"},
    };
    for (auto& c : cases) {
        SCOPED_TRACE(c.words.back());
        auto r = run(c.words);
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_THAT(r.out, ::testing::StartsWith("\nUsage: "));
        EXPECT_THAT(r.out, ::testing::EndsWith("\nThe parameter is incorrect.\n\n"));
        EXPECT_THAT(r.err, HasSubstr(std::string("missing ") + c.missing));
        EXPECT_TRUE(store.empty());
        EXPECT_FALSE(modified);
    }
}

TEST_F(NetshCommand, S1_CcsRecordsHaveNoHash) {
    auto r = run({"http", "add", "sslcert", "ccs=443", std::string("appid=") + kAppid});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(store.records().at(0).certhash);
    r = run({"http", "add", "sslcert", "ccs=8443", std::string("certhash=") + kHash,
             std::string("appid=") + kAppid});
    EXPECT_EQ(r.out, kAdd87);
    EXPECT_THAT(r.err, HasSubstr("take no certhash"));
    EXPECT_EQ(store.size(), 1u);
}

// ---- delete, update, show (S2) ----

TEST_F(NetshCommand, S2_DeleteRemovesOrFailsWith2) {
    ASSERT_EQ(add("ipport=10.0.0.5:443").exit_code, 0);
    auto r = run({"http", "delete", "sslcert", "ipport=10.0.0.5:443"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, kDeleted);
    EXPECT_TRUE(modified);
    EXPECT_TRUE(store.empty());
    r = run({"http", "delete", "sslcert", "ipport=10.0.0.5:443"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, kDelete2);
    EXPECT_FALSE(modified);
}

TEST_F(NetshCommand, S2_UpdateReplacesOnlyTheGivenParameters) {
    ASSERT_EQ(
        add("ipport=0.0.0.0:443", {"clientcertnegotiation=enable", "certstorename=MY"}).exit_code,
        0);
    ASSERT_EQ(add("ipport=0.0.0.0:8443").exit_code, 0);
    auto r = run({"http", "update", "sslcert", "ipport=0.0.0.0:443", "disablehttp2=enable",
                  std::string("certhash=") + kHash2});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, kUpdated);
    EXPECT_TRUE(modified);
    const Record& rec = store.records().at(0);  // still first: file order is kept
    EXPECT_EQ(rec.key.port, 443);
    EXPECT_EQ(rec.certhash, Thumbprint::parse(kHash2));
    EXPECT_EQ(rec.appid, Guid::parse(kAppid));
    EXPECT_EQ(rec.cert_store_name, "MY");
    EXPECT_EQ(rec.flags, kDefaultRecordFlags | kNegotiateClientCert | kDisableHttp2);
}

TEST_F(NetshCommand, S2_UpdateOfAMissingKeyFailsWith2) {
    auto r = run({"http", "update", "sslcert", "ipport=0.0.0.0:443", "disablehttp2=enable"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, kUpdate2);
    EXPECT_FALSE(modified);
    // A bad value is error 87 even for a missing record: netsh validates first.
    r = run({"http", "update", "sslcert", "ipport=0.0.0.0:443", "disablehttp2=maybe"});
    EXPECT_EQ(r.out, "SSL Certificate update failed, Error: 87\nThe parameter is incorrect.\n\n");
}

TEST_F(NetshCommand, S2_ShowPrintsAllOneOrNotFound) {
    ASSERT_EQ(add("ipport=0.0.0.0:443").exit_code, 0);
    ASSERT_EQ(add("hostnameport=www.contoso.com:443").exit_code, 0);
    auto all = run({"http", "show", "sslcert"});
    EXPECT_EQ(all.exit_code, 0);
    EXPECT_EQ(all.out, format_sslcert(store.records(), Profile::windows_2022));
    EXPECT_FALSE(modified);

    auto one = run({"http", "show", "sslcert", "hostnameport=www.contoso.com:443"});
    EXPECT_EQ(one.exit_code, 0);
    EXPECT_EQ(one.out, std::string(kSslcertHeader) +
                           format_record(store.records()[1], Profile::windows_2022));

    auto missing = run({"http", "show", "sslcert", "ipport=10.0.0.5:443"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_EQ(missing.out,
              "\nSSL Certificate bindings:\n-------------------------\n\n"
              "The system cannot find the file specified.\n\n");

    EXPECT_EQ(run({"http", "show", "sslcert"}, Profile::windows_2016).out,
              format_sslcert(store.records(), Profile::windows_2016));
}

TEST_F(NetshCommand, S2_ShowOfARealDumpRoundTrips) {
    for (const char* file : {"s1.txt", "s2.txt", "s3.txt", "s5.txt"}) {
        SCOPED_TRACE(file);
        auto text = read_file(fs::path(SNIBIND_TEST_DATA) / "netsh" / file);
        auto imported = parse_sslcert_text(text, file);
        ASSERT_TRUE(imported.ok());
        store = Store(imported.records);
        auto shown = run({"http", "show", "sslcert"});
        auto again = parse_sslcert_text(shown.out, "shown");
        ASSERT_TRUE(again.ok()) << again.error->message();
        EXPECT_EQ(again.records, imported.records);
    }
}

// ---- error 87 per profile (section 3) ----

struct ProfileCase {
    const char* name;
    Profile profile;
    std::vector<std::string> words;
    int exit_code;
    std::string_view out;
};

std::vector<ProfileCase> profile_cases() {
    std::string hash = std::string("certhash=") + kHash, appid = std::string("appid=") + kAppid;
    auto add = [&](std::string key, std::vector<std::string> extra = {}) {
        std::vector<std::string> w{"http", "add", "sslcert", key, hash, appid};
        if (key.starts_with("ccs=") || key.starts_with("scopedccs=")) w.erase(w.begin() + 4);
        w.insert(w.end(), extra.begin(), extra.end());
        return w;
    };
    using P = Profile;
    return {
        {"IpAlways", P::windows_2008r2, add("ipport=0.0.0.0:443"), 0, kAdded},
        {"NoSniOn2008r2", P::windows_2008r2, add("hostnameport=a.example:443"), 1, kAdd87},
        {"NoCcsOn2008r2", P::windows_2008r2, add("ccs=443"), 1, kAdd87},
        {"SniOn2012", P::windows_2012, add("hostnameport=a.example:443"), 0, kAdded},
        {"CcsOn2012r2", P::windows_2012r2, add("ccs=443"), 0, kAdded},
        {"NoWildcardOn2012r2", P::windows_2012r2, add("hostnameport=*.example.com:443"), 1, kAdd87},
        {"WildcardOn2016", P::windows_2016, add("hostnameport=*.example.com:443"), 0, kAdded},
        {"NoScopedCcsOn2019", P::windows_2019, add("scopedccs=a.example:443"), 1, kAdd87},
        {"ScopedCcsOn2022", P::windows_2022, add("scopedccs=a.example:443"), 0, kAdded},
        {"NoRejectOn2012r2", P::windows_2012r2, add("ipport=0.0.0.0:443", {"reject=enable"}), 1,
         kAdd87},
        {"RejectOn2016", P::windows_2016, add("ipport=0.0.0.0:443", {"reject=enable"}), 0, kAdded},
        {"NoOcspOn2016", P::windows_2016, add("ipport=0.0.0.0:443", {"disableocspstapling=enable"}),
         1, kAdd87},
        {"NoTls13On2019", P::windows_2019, add("ipport=0.0.0.0:443", {"disabletls13=enable"}), 1,
         kAdd87},
        {"UnknownParameter", P::windows_2022, add("ipport=0.0.0.0:443", {"foo=bar"}), 1, kAdd87},
        {"PositionalWord", P::windows_2022, add("ipport=0.0.0.0:443", {"enable"}), 1, kAdd87},
        {"DuplicateParameter", P::windows_2022,
         add("ipport=0.0.0.0:443", {"usagecheck=enable", "USAGECHECK=disable"}), 1, kAdd87},
        {"TwoKeys", P::windows_2022, add("ipport=0.0.0.0:443", {"ccs=443"}), 1, kAdd87},
        {"BadHash",
         P::windows_2022,
         {"http", "add", "sslcert", "ipport=0.0.0.0:443", "certhash=xyz", appid},
         1,
         kAdd87},
        {"BadGuid",
         P::windows_2022,
         {"http", "add", "sslcert", "ipport=0.0.0.0:443", hash, "appid=nope"},
         1,
         kAdd87},
        {"BadBool", P::windows_2022, add("ipport=0.0.0.0:443", {"usagecheck=yes"}), 1, kAdd87},
        {"BadNumber", P::windows_2022, add("ipport=0.0.0.0:443", {"urlretrievaltimeout=x"}), 1,
         kAdd87},
        {"BadKey", P::windows_2022, add("ipport=0.0.0.0"), 1, kAdd87},
        // A value the store file could not keep: a line break would inject a record.
        {"LineBreakInValue", P::windows_2022,
         add("ipport=0.0.0.0:443", {"sslctlidentifier=a\nIP:port : 10.0.0.1:443"}), 1, kAdd87},
        {"BlankAroundValue", P::windows_2022, add("ipport=0.0.0.0:443", {"certstorename=MY "}), 1,
         kAdd87},
        {"BadHost", P::windows_2022, add("hostnameport=10.0.0.5:443"), 1, kAdd87},
        {"DeleteTakesOnlyAKey",
         P::windows_2022,
         {"http", "delete", "sslcert", "ipport=0.0.0.0:443", hash},
         1,
         "SSL Certificate deletion failed, Error: 87\nThe parameter is incorrect.\n\n"},
        {"UpdateUnknownToProfile",
         P::windows_2016,
         {"http", "update", "sslcert", "ipport=0.0.0.0:443", "disablequic=enable"},
         1,
         "SSL Certificate update failed, Error: 87\nThe parameter is incorrect.\n\n"},
        {"ShowHostOn2008r2",
         P::windows_2008r2,
         {"http", "show", "sslcert", "hostnameport=a.example:443"},
         1,
         "\nSSL Certificate bindings:\n-------------------------\n\n"
         "The parameter is incorrect.\n\n"},
    };
}

TEST_F(NetshCommand, Section3_Error87PerProfile) {
    for (auto& c : profile_cases()) {
        SCOPED_TRACE(c.name);
        store = Store();
        auto r = run(c.words, c.profile);
        EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
        EXPECT_EQ(r.out, c.out);
        EXPECT_EQ(r.err.empty(), c.exit_code == 0) << r.err;
        EXPECT_EQ(store.size(), c.out == kAdded ? 1u : 0u);
    }
}

TEST_F(NetshCommand, Section3_EveryParameterIsGatedByItsSinceProfile) {
    for (auto& field : kSslcertFields) {
        if (!field.flag) continue;
        for (auto p : kAllProfiles) {
            SCOPED_TRACE(std::string(field.parameter) + " " + std::string(to_string(p)));
            store = Store();
            auto r = add("ipport=0.0.0.0:443", {std::string(field.parameter) + "=enable"}, p);
            if (known_in(field, p)) {
                EXPECT_EQ(r.out, kAdded);
                EXPECT_TRUE(store.records().at(0).has(static_cast<RecordFlag>(field.flag)));
            } else {
                EXPECT_EQ(r.out, kAdd87);
                EXPECT_THAT(r.err, HasSubstr(std::string(to_string(field.since)) + " or later"));
                EXPECT_TRUE(store.empty());
            }
        }
    }
}

TEST_F(NetshCommand, UnknownCommandsAreNotFound) {
    struct Case {
        std::vector<std::string> words;
        const char* out;
    } cases[] = {
        {{"http", "foo", "sslcert"}, "The following command was not found: http foo sslcert.\n"},
        {{"http", "show", "urlacl"}, "The following command was not found: http show urlacl.\n"},
        {{"wlan", "show", "profiles"},
         "The following command was not found: wlan show profiles.\n"},
        {{"http", "add"}, "The following command was not found: http add.\n"},
    };
    for (auto& c : cases) {
        auto r = run(c.words);
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_EQ(r.out, c.out);
        EXPECT_THAT(r.err, HasSubstr("only 'http add|delete|update|show sslcert'"));
    }
}

// Issue 10, item 12: an explanation quotes at most a few hundred bytes of a huge argument (the
// console's POST /api/netsh takes a body of any size), then "..." and its length.
TEST_F(NetshCommand, ExplanationsQuoteAtMostAFewHundredBytesOfAnArgument) {
    const std::string huge(1 << 20, 'a');
    const std::vector<std::vector<std::string>> cases{
        {"http", "add", "sslcert", "hostnameport=" + huge + ":443",
         std::string("certhash=") + kHash, std::string("appid=") + kAppid},
        {"http", "add", "sslcert", "ipport=0.0.0.0:443", "certhash=" + huge,
         std::string("appid=") + kAppid},
        {"http", "add", "sslcert", "ipport=0.0.0.0:443", std::string("certhash=") + kHash,
         "appid=" + huge},
        {"http", "add", "sslcert", "ipport=0.0.0.0:443", huge + "=1"},
        {"http", "add", "sslcert", "ipport=0.0.0.0:443", huge},
        {"http", "add", "sslcert", "ipport=0.0.0.0:443", "hostnameport=" + huge + ":443"},
        {"http", huge, "sslcert"},
    };
    for (const auto& words : cases) {
        SCOPED_TRACE(words.back().substr(0, 20));
        auto r = run(words);
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_FALSE(modified);
        EXPECT_LT(r.out.size() + r.err.size(), 1000u) << (r.out + r.err).substr(0, 1000);
        EXPECT_THAT(r.out + r.err,
                    ::testing::ContainsRegex(R"(\.\.\.'? \(10485[0-9][0-9] bytes\))"));
    }
}

TEST(NetshSynopsis, ListsTheProfilesKeysAndParameters) {
    auto text = netsh_synopsis(Profile::windows_2022);
    for (auto& f : kSslcertFields) EXPECT_THAT(text, HasSubstr(std::string(f.parameter) + "="));
    EXPECT_THAT(text, HasSubstr("scopedccs=<name:port>"));
    auto old = netsh_synopsis(Profile::windows_2008r2);
    EXPECT_THAT(old, ::testing::Not(HasSubstr("hostnameport")));
    EXPECT_THAT(old, ::testing::Not(HasSubstr("disablehttp2")));
}

// ---- Store (S2) and the store file ----

Record ip_record(std::uint16_t port) {
    Record r;
    r.key = RecordKey::ip(IpAddress::v4_any(), port);
    r.certhash = Thumbprint::parse(kHash);
    r.appid = Guid::parse(kAppid);
    return r;
}

TEST(Store, S2_AddNeverOverwritesAndMissingKeysAreNotFound) {
    Store s;
    EXPECT_EQ(s.add(ip_record(443)), StoreStatus::ok);
    Record other = ip_record(443);
    other.cert_store_name = "WebHosting";
    EXPECT_EQ(s.add(other), StoreStatus::already_exists);
    EXPECT_EQ(static_cast<int>(StoreStatus::already_exists), 183);
    EXPECT_EQ(s.find(other.key)->cert_store_name, "MY");
    EXPECT_EQ(s.update(other), StoreStatus::ok);
    EXPECT_EQ(s.find(other.key)->cert_store_name, "WebHosting");
    EXPECT_EQ(s.update(ip_record(444)), StoreStatus::not_found);
    EXPECT_EQ(static_cast<int>(StoreStatus::not_found), 2);
    EXPECT_EQ(s.remove(ip_record(444).key), StoreStatus::not_found);
    EXPECT_EQ(s.add(ip_record(8443)), StoreStatus::ok);
    EXPECT_EQ(s.add(ip_record(80)), StoreStatus::ok);
    EXPECT_EQ(s.remove(ip_record(443).key), StoreStatus::ok);
    EXPECT_EQ(s.find(ip_record(443).key), nullptr);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s.records()[0].key.port, 8443);  // file order, new records appended
    EXPECT_EQ(s.records()[1].key.port, 80);
}

class StoreFile : public ::testing::Test {
  protected:
    void SetUp() override {
        dir = fs::temp_directory_path() /
              ("snibind-store-test-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }

    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }

    fs::path dir;
};

TEST_F(StoreFile, SaveIsAtomicAndReloadsEqual) {
    Store s;
    s.add(ip_record(443));
    Record host;
    host.key = RecordKey::hostname("sni.iis8.com", 443);
    host.host_as_written = "SNI.IIS8.com";
    host.certhash = Thumbprint::parse(kHash2);
    host.appid = Guid::parse(kAppid);
    host.flags |= kDisableTls13 | kEnableSessionTicket;  // 2022-only flags survive the file
    s.add(host);
    auto path = dir / "store.txt";
    std::string error;
    ASSERT_TRUE(s.save(path, error)) << error;
    EXPECT_EQ(entries(), std::vector<std::string>{"store.txt"});  // no temporary file remains
    EXPECT_EQ(read_file(path), format_sslcert(s.records(), Profile::windows_2022));

    ImportError load_error;
    auto loaded = Store::load(path, MissingFile::error, load_error);
    ASSERT_TRUE(loaded) << load_error.message();
    EXPECT_EQ(loaded->records(), s.records());

    // Saving again replaces the file and keeps its permissions.
    ::chmod(path.c_str(), 0600);
    loaded->remove(host.key);
    ASSERT_TRUE(loaded->save(path, error)) << error;
    EXPECT_EQ(entries(), std::vector<std::string>{"store.txt"});
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto again = Store::load(path, MissingFile::error, load_error);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->records(), loaded->records());
}

TEST_F(StoreFile, FailedSaveLeavesTheOldFileAndNoTemporary) {
    auto path = dir / "store.txt";
    Store s;
    s.add(ip_record(443));
    std::string error;
    ASSERT_TRUE(s.save(path, error));
    auto before = read_file(path);
    // A directory where the file should go: rename fails, the temporary file is removed.
    auto blocked = dir / "blocked";
    fs::create_directories(blocked / "inside");
    EXPECT_FALSE(s.save(blocked, error));
    EXPECT_THAT(error, HasSubstr("blocked"));
    EXPECT_EQ(entries(), (std::vector<std::string>{"blocked", "store.txt"}));
    EXPECT_FALSE(s.save(dir / "no-such-dir" / "store.txt", error));
    EXPECT_THAT(error, HasSubstr("No such file or directory"));
    EXPECT_EQ(read_file(path), before);
}

// Issue 10, item 11: the temporary "PATH.tmp.<pid>" of a writer that has ended (killed between
// writing and renaming) is removed by the next save; a running writer's, another file's and
// names that are not a writer's are left alone.
TEST_F(StoreFile, SaveRemovesTemporariesOfEndedWriters) {
    auto ended = [] {
        pid_t child = ::fork();
        if (child == 0) ::_exit(0);
        int status = 0;
        ::waitpid(child, &status, 0);
        return std::to_string(child);
    };
    const std::vector<std::pair<std::string, bool>> temporaries{
        {"store.txt.tmp." + ended(), false},
        {"store.txt.tmp." + ended(), false},
        {"store.txt.tmp.1", true},                               // init: running
        {"store.txt.tmp." + std::to_string(::getppid()), true},  // running
        {"other.txt.tmp." + ended(), true},
        {"store.txt.tmp.0" + ended(), true},
        {"store.txt.tmp." + ended() + "x", true},
        {"store.txt.tmp.", true},
    };
    for (const auto& [name, kept] : temporaries) std::ofstream(dir / name) << "partial";
    Store s;
    s.add(ip_record(443));
    std::string error;
    ASSERT_TRUE(s.save(dir / "store.txt", error)) << error;
    for (const auto& [name, kept] : temporaries) EXPECT_EQ(fs::exists(dir / name), kept) << name;
}

// Issue 10, item 2: the edit lock is exclusive across open files (processes), lives in a file
// of its own beside the store (the store is replaced by rename), and is released with the
// EditLock.
TEST_F(StoreFile, EditLockIsExclusiveUntilReleased) {
    const auto path = dir / "store.txt";
    std::ofstream(path) << "";
    ::chmod(path.c_str(), 0640);
    auto try_lock = [&] {
        int fd = ::open((dir / "store.txt.lock").c_str(), O_RDWR | O_CLOEXEC);
        EXPECT_GE(fd, 0);
        bool locked = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
        ::close(fd);
        return locked;
    };
    std::string error;
    {
        auto lock = EditLock::acquire(path, error);
        ASSERT_TRUE(lock) << error;
        EXPECT_FALSE(try_lock());
        struct stat st {};
        ASSERT_EQ(::stat((dir / "store.txt.lock").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0640u);  // whoever may write the store may lock it
        // A save under the lock leaves the lock file as it is.
        Store s;
        s.add(ip_record(443));
        ASSERT_TRUE(s.save(path, error)) << error;
        EXPECT_FALSE(try_lock());
    }
    EXPECT_TRUE(try_lock());
    EXPECT_EQ(entries(), (std::vector<std::string>{"store.txt", "store.txt.lock"}));
    EXPECT_FALSE(EditLock::acquire(dir / "no-such-dir" / "store.txt", error));
    EXPECT_THAT(error, HasSubstr("no-such-dir/store.txt.lock: No such file or directory"));
}

TEST_F(StoreFile, MissingFileIsEmptyOnlyWhenAsked) {
    auto path = dir / "missing.txt";
    ImportError error;
    auto empty = Store::load(path, MissingFile::empty, error);
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
    EXPECT_FALSE(fs::exists(path));  // loading never creates it
    EXPECT_FALSE(Store::load(path, MissingFile::error, error));
    EXPECT_EQ(error.message(),
              "cannot open store " + path.string() + ": No such file or directory");
}

TEST_F(StoreFile, InvalidFileReportsFileLineAndReason) {
    auto path = dir / "bad.txt";
    std::ofstream(path) << "\nSSL Certificate bindings:\n-------------------------\n\n"
                           "    IP:port                      : 0.0.0.0:443\n"
                           "    Usage Check                  : Maybe\n";
    ImportError error;
    EXPECT_FALSE(Store::load(path, MissingFile::empty, error));
    EXPECT_EQ(error.file, path.string());
    EXPECT_EQ(error.line, 6);
    EXPECT_EQ(error.message(), path.string() + ":6: 'Maybe' is not Enabled/Disabled (Usage Check)");
}

TEST_F(StoreFile, RealDumpIsAStore) {
    ImportError error;
    auto s =
        Store::load(fs::path(SNIBIND_TEST_DATA) / "netsh" / "s1.txt", MissingFile::error, error);
    ASSERT_TRUE(s) << error.message();
    EXPECT_EQ(s->size(), 1u);
    // The file keeps every field: a 2022 flag set under any profile survives save and load.
    bool modified = false;
    auto r = run_netsh(std::vector<std::string>{"http", "update", "sslcert", "ipport=0.0.0.0:44307",
                                                "disablequic=enable"},
                       *s, Profile::windows_2022, modified);
    ASSERT_EQ(r.exit_code, 0);
    std::string save_error;
    ASSERT_TRUE(s->save(dir / "s1.txt", save_error));
    auto back = Store::load(dir / "s1.txt", MissingFile::error, error);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->records().at(0).has(kDisableQuic));
    EXPECT_EQ(back->records().at(0).extended_properties.size(), 2u);
}

}  // namespace
}  // namespace snibind::netsh
