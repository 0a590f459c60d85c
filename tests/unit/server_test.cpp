// Server::reload on its own: no listeners, no workers, no signals. Load a configuration, change
// it on disk, reload, and read what the Server now serves with (issue 11).
#include <gtest/gtest.h>

#include <fstream>

#include "serve_process.h"
#include "server/server.h"
#include "test_pki.h"

namespace snibind::server {
namespace {

using test::TempDir;
using test::TestPki;

class ServerReload : public ::testing::Test {
  protected:
    ServerReload() : pki_(dir_.path() / "certs") {
        pki_.issue("site1", "site1.test", {"site1.test"});
        pki_.issue("site2", "site2.test", {"site2.test"});
    }

    void write(const std::string& yaml) { std::ofstream(config()) << yaml; }
    std::filesystem::path config() const { return dir_.path() / "serve.yaml"; }
    static std::string records(std::initializer_list<const char*> hosts) {
        std::string out = "records:\n";
        for (const char* h : hosts)
            out += std::string("  \"hostnameport=") + h + ".test:443\": { certificate: certs/" + h +
                   ".pem }\n";
        return out;
    }
    static std::size_t record_count(const Server& s) { return s.model()->table.read().size(); }

    TempDir dir_;
    TestPki pki_;
};

TEST_F(ServerReload, NewRecordsAndSettingsTakeEffect) {
    write("listen: [\"127.0.0.1:443\"]\nadmin: off\nprecedence: sni-first\n" + records({"site1"}));
    Server server({.config = config()});
    std::string error;
    ASSERT_TRUE(server.load(error)) << error;
    auto before = server.model();
    EXPECT_EQ(record_count(server), 1u);

    write("listen: [\"127.0.0.1:443\"]\nadmin: off\nprecedence: ip-first\n" +
          records({"site1", "site2"}));
    ReloadResult r = server.reload("test");
    EXPECT_TRUE(r.applied) << r.error;
    EXPECT_TRUE(r.needs_restart.empty());
    EXPECT_EQ(record_count(server), 2u);
    EXPECT_EQ(server.model()->config.selection.precedence, Precedence::ip_first);
    // The old model is untouched: a connection that started on it keeps what it saw.
    EXPECT_EQ(before->table.read().size(), 1u);
    EXPECT_EQ(before->config.selection.precedence, Precedence::sni_first);
}

TEST_F(ServerReload, RefusedConfigurationKeepsTheRunningOne) {
    write("listen: [\"127.0.0.1:443\"]\nadmin: off\n" + records({"site1"}));
    Server server({.config = config()});
    std::string error;
    ASSERT_TRUE(server.load(error)) << error;
    auto before = server.model();

    write("listen: [\"127.0.0.1:443\"]\nadmin: off\nprecedence: sideways\n" +
          records({"site1", "site2"}));
    ReloadResult r = server.reload("test");
    EXPECT_FALSE(r.applied);
    EXPECT_NE(r.error.find("serve.yaml:3"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("precedence"), std::string::npos) << r.error;
    EXPECT_EQ(server.model(), before);
    EXPECT_EQ(record_count(server), 1u);
}

TEST_F(ServerReload, NamesWhatOnlyARestartChanges) {
    write("listen: [\"127.0.0.1:443\"]\nadmin: off\naccess_log: off\n" + records({"site1"}));
    Server server({.config = config()});
    std::string error;
    ASSERT_TRUE(server.load(error)) << error;

    write("listen: [\"127.0.0.1:8443\"]\nadmin: \"127.0.0.1:9444\"\naccess_log: stdout\n" +
          records({"site1", "site2"}));
    ReloadResult r = server.reload("test");
    EXPECT_TRUE(r.applied) << r.error;
    EXPECT_EQ(r.needs_restart, (std::vector<std::string>{"listen", "admin", "access_log"}));
    // Everything else is in effect at once.
    EXPECT_EQ(record_count(server), 2u);
}

}  // namespace
}  // namespace snibind::server
