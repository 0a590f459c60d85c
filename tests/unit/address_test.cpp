// S3: addresses as HTTP.sys keys them.
#include "bindings/address.h"

#include <gtest/gtest.h>

namespace snibind {
namespace {

TEST(S3_Address, Ipv4MappedFoldsToIpv4) {
    EXPECT_EQ(*IpAddress::parse("::ffff:10.0.0.5"), *IpAddress::parse("10.0.0.5"));
    EXPECT_FALSE(IpAddress::parse("::ffff:10.0.0.5")->v6);
}

TEST(S3_Address, AnyAddressesAreDistinct) {
    EXPECT_NE(*IpAddress::parse("0.0.0.0"), *IpAddress::parse("::"));
    EXPECT_TRUE(IpAddress::parse("::")->is_unspecified());
}

TEST(S4_Endpoint, ParseAndPrintAsNetshDoes) {
    EXPECT_EQ(Endpoint::parse("[::]:443")->to_string(), "[::]:443");
    EXPECT_EQ(Endpoint::parse("10.0.0.5:443")->to_string(), "10.0.0.5:443");
    EXPECT_EQ(Endpoint::parse("[2001:DB8::1]:8443")->to_string(), "[2001:db8::1]:8443");
    for (const char* bad : {"10.0.0.5", "10.0.0.5:0", "10.0.0.5:65536", "::1:443", "host:443",
                            "10.0.0.5:44x", "[::1]:"}) {
        EXPECT_FALSE(Endpoint::parse(bad)) << bad;
    }
}

}  // namespace
}  // namespace snibind
