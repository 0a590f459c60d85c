// S1: record keys, thumbprints and application ids.
#include "bindings/record.h"

#include <gtest/gtest.h>

namespace snibind {
namespace {

TEST(S1_RecordKey, ParseAndDisplayEachFamily) {
    struct {
        Family family;
        const char* value;
        const char* display;
        const char* argument;
    } cases[] = {
        {Family::ip, "0.0.0.0:443", "IP:port 0.0.0.0:443", "ipport=0.0.0.0:443"},
        {Family::ip, "[::]:443", "IP:port [::]:443", "ipport=[::]:443"},
        {Family::host, "SNI.IIS8.com:443", "Hostname:port sni.iis8.com:443",
         "hostnameport=sni.iis8.com:443"},
        {Family::host, "*.contoso.com:443", "Hostname:port *.contoso.com:443",
         "hostnameport=*.contoso.com:443"},
        {Family::ccs, "443", "Central Certificate Store 443", "ccs=443"},
        {Family::scoped_ccs, "www.contoso.com:443", "Scoped CCS www.contoso.com:443",
         "scopedccs=www.contoso.com:443"},
    };
    for (const auto& c : cases) {
        std::string error;
        auto key = RecordKey::parse(c.family, c.value, error);
        ASSERT_TRUE(key) << c.value << ": " << error;
        EXPECT_EQ(key->display(), c.display);
        EXPECT_EQ(key->netsh_argument(), c.argument);
    }
}

TEST(S1_RecordKey, RejectionsSayWhy) {
    struct {
        Family family;
        const char* value;
        const char* error;
    } cases[] = {
        {Family::ip, "10.0.0.5", "'10.0.0.5' has no ':port'"},
        {Family::ip, "10.0.0.5:0", "'0' is not a port (1-65535)"},
        {Family::ip, "::1:443", "'::1' is not an IP address (IPv6 needs brackets: [::]:443)"},
        {Family::ccs, "x", "'x' is not a port (1-65535)"},
        {Family::scoped_ccs, "*.a.com:443", "a scoped CCS key cannot be a wildcard"},
    };
    for (const auto& c : cases) {
        std::string error;
        EXPECT_FALSE(RecordKey::parse(c.family, c.value, error)) << c.value;
        EXPECT_EQ(error, c.error);
    }
}

TEST(S1_Thumbprint, FortyHexDigitsAnyCase) {
    auto t = Thumbprint::parse("5226DC6C54559761CD471B86EB51C096252C90F2");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->hex(), "5226dc6c54559761cd471b86eb51c096252c90f2");
    EXPECT_FALSE(Thumbprint::parse("5226dc6c"));
    EXPECT_FALSE(Thumbprint::parse(std::string(40, 'g')));
}

TEST(S1_Guid, BracesOptionalPrintedLowerCaseWithBraces) {
    auto g = Guid::parse("4DC3E181-E14B-4A21-B022-59FC669B0914");
    ASSERT_TRUE(g);
    EXPECT_EQ(g->to_string(), "{4dc3e181-e14b-4a21-b022-59fc669b0914}");
    EXPECT_EQ(*Guid::parse("{4dc3e181-e14b-4a21-b022-59fc669b0914}"), *g);
    EXPECT_FALSE(Guid::parse("{4dc3e181e14b-4a21-b022-59fc669b0914}"));
}

}  // namespace
}  // namespace snibind
