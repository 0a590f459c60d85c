// L6 host-name normalisation for configured keys (the SNI side is in client_hello_reader_test).
#include "tls/host_name.h"

#include <gtest/gtest.h>

namespace snibind {
namespace {

TEST(L6_ConfigHost, NormalisedLikeSni) {
    struct {
        const char* in;
        const char* out;
    } cases[] = {
        {"WWW.Contoso.COM", "www.contoso.com"},
        {"www.contoso.com.", "www.contoso.com"},
        {"*.Contoso.com", "*.contoso.com"},
        {"b\xc3\xbc"
         "cher.example",
         "xn--bcher-kva.example"},  // U-label to A-label
        {"*.b\xc3\xbc"
         "cher.example",
         "*.xn--bcher-kva.example"},
    };
    for (const auto& c : cases) {
        std::string out, error;
        ASSERT_TRUE(normalise_config_host(c.in, TrailingDot::strip, out, error)) << error;
        EXPECT_EQ(out, c.out);
    }
}

TEST(L6_ConfigHost, RejectsWhatIsNotAHostName) {
    struct {
        const char* in;
        const char* error;
    } cases[] = {
        {"10.0.0.5", "'10.0.0.5' is an IP address: use ipport= for IP records"},
        {"a..b", "'a..b' is not a host name: has an empty label"},
        {"a b", "'a b' is not a host name: contains byte 0x20 at offset 1"},
        {"a.*.b", "'a.*.b' is not a host name: contains byte 0x2a ('*') at offset 2"},
        {"", "'' is not a host name: empty name"},
    };
    for (const auto& c : cases) {
        std::string out, error;
        EXPECT_FALSE(normalise_config_host(c.in, TrailingDot::strip, out, error)) << c.in;
        EXPECT_EQ(error, c.error);
    }
    std::string out, error;
    EXPECT_FALSE(normalise_config_host("a.example.", TrailingDot::reject, out, error));
}

TEST(L6_Sni, NeverAllocatesWithCapacity) {
    std::string out;
    out.reserve(256);
    auto* data = out.data();
    EXPECT_EQ(normalise_sni("WWW.EXAMPLE.COM", TrailingDot::strip, out), HostProblem::none);
    EXPECT_EQ(out.data(), data);
    EXPECT_EQ(out, "www.example.com");
}

}  // namespace
}  // namespace snibind
