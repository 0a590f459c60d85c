// L7 as protocol versions and tickets (src/proxy/tls_policy.h): table-driven, no I/O.
#include "proxy/tls_policy.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace snibind::proxy {
namespace {

TEST(AllowedVersions, FlagsNarrowTheRange) {
    EXPECT_EQ(allowed_versions(0).min, 0x0301);
    EXPECT_EQ(allowed_versions(0).max, 0x0304);
    EXPECT_EQ(allowed_versions(kDisableLegacyTls).min, 0x0303);
    EXPECT_EQ(allowed_versions(kDisableTls13).max, 0x0303);
    // 1.2 removed while 1.3 stays: 1.3 alone.
    EXPECT_EQ(allowed_versions(kDisableTls12).min, 0x0304);
    // 1.2 and 1.3 removed: at most 1.1.
    EXPECT_EQ(allowed_versions(kDisableTls12 | kDisableTls13).max, 0x0302);
    EXPECT_TRUE(allowed_versions(kDisableTls12 | kDisableTls13 | kDisableLegacyTls).empty());
}

struct TicketCase {
    const char* name;
    std::vector<std::uint16_t> offered;
    std::uint32_t flags;
    bool openssl, boringssl;  // issues_tickets on each stack
};

TEST(IssuesTickets, OnlyWithTheFlagSaveTls13OnBoringSsl) {
    const std::uint16_t tls12 = 0x0303, tls13 = 0x0304;
    const TicketCase cases[] = {
        {"flag, TLS 1.2 client", {tls12}, kEnableSessionTicket, true, true},
        {"flag, TLS 1.3 client", {tls13, tls12}, kEnableSessionTicket, true, true},
        {"no flag, TLS 1.2 client", {tls12}, 0, false, false},
        // BoringSSL resumes TLS 1.3 by ticket only: refusing them would end resumption.
        {"no flag, TLS 1.3 client", {tls13, tls12}, 0, false, true},
        // TLS 1.3 disabled by the record: the connection will be TLS 1.2.
        {"no flag, TLS 1.3 client, 1.3 disabled", {tls13, tls12}, kDisableTls13, false, false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(issues_tickets(c.offered, c.flags, false), c.openssl) << c.name;
        EXPECT_EQ(issues_tickets(c.offered, c.flags, true), c.boringssl) << c.name;
    }
}

}  // namespace
}  // namespace snibind::proxy
