// The snibind binary as a user runs it: exit status, stdout, stderr, and the fixed JSON fields.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "serve_process.h"

namespace {

namespace fs = std::filesystem;
const std::string kData = SNIBIND_TEST_DATA;

using Result = snibind::test::RunResult;

class Cli : public ::testing::Test {
  protected:
    fs::path dir;
    void SetUp() override {
        dir = fs::temp_directory_path() /
              ("snibind-cli-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }

    Result run(const std::string& args) { return snibind::test::snibind_command(args); }
    nlohmann::json json(const std::string& args, int want_status = 0) {
        auto r = run(args);
        EXPECT_EQ(r.status, want_status) << args << "\n" << r.err;
        return nlohmann::json::parse(r.out);
    }
};

TEST_F(Cli, VersionAndHelp) {
    auto v = run("--version");
    EXPECT_EQ(v.status, 0);
    EXPECT_TRUE(v.out.starts_with("snibind ")) << v.out;
    for (const char* sub : {"", "hello ", "explain ", "netsh "}) {
        auto h = run(std::string(sub) + "--help");
        EXPECT_EQ(h.status, 0) << sub;
        EXPECT_NE(h.out.find("Usage"), std::string::npos) << sub;
    }
}

TEST_F(Cli, UnknownCommandIsAnErrorOnStderr) {
    auto r = run("frobnicate");
    EXPECT_NE(r.status, 0);
    EXPECT_TRUE(r.out.empty());
    EXPECT_FALSE(r.err.empty());
}

TEST_F(Cli, HelloJsonFieldsForARealClient) {
    auto j = json("hello --json " + kData + "/clienthello/chromium.bin");
    EXPECT_EQ(j["result"], "client_hello");
    EXPECT_TRUE(j["error"].is_null());
    EXPECT_EQ(j["sni"], "www.example.com");
    EXPECT_EQ(j["host"], "www.example.com");
    EXPECT_TRUE(j["sni_problem"].is_null());
    EXPECT_EQ(j["alpn"], nlohmann::json({"h2", "http/1.1"}));
    EXPECT_EQ(j["versions"], nlohmann::json({"TLSv1.3", "TLSv1.2"}));
    EXPECT_EQ(j["ech"], true);
    EXPECT_EQ(j["records"], 1);
    EXPECT_EQ(j["bytes"], fs::file_size(kData + "/clienthello/chromium.bin"));
}

TEST_F(Cli, HelloReportsWhyInputIsNotAHello) {
    std::ofstream(dir / "http.bin") << "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    auto j = json("hello --json " + (dir / "http.bin").string(), 1);
    EXPECT_EQ(j["result"], "not_tls");
    EXPECT_EQ(j["error"], "the first byte is 0x47 ('G'): plain text, not TLS");

    auto hello = snibind::test::read_file(kData + "/clienthello/curl.bin");
    std::ofstream(dir / "cut.bin", std::ios::binary) << hello.substr(0, 100);
    EXPECT_EQ(json("hello --json " + (dir / "cut.bin").string(), 1)["result"], "incomplete");

    auto missing = run("hello " + (dir / "nope.bin").string());
    EXPECT_EQ(missing.status, 2);
    EXPECT_NE(missing.err.find("cannot open"), std::string::npos);
}

TEST_F(Cli, HelloTrailingDotReject) {
    auto j = json("hello --json --trailing-dot reject " + kData +
                  "/clienthello/openssl-trailingdot.bin");
    EXPECT_EQ(j["sni"], "www.example.com.");
    EXPECT_TRUE(j["host"].is_null());
    EXPECT_EQ(j["sni_problem"], "ends with a dot (trailing_dot: reject)");
}

TEST_F(Cli, ExplainOnARealNetshDump) {
    // s3.txt: one ipport=0.0.0.0:443 record captured on a real server.
    auto j = json("explain --json --store " + kData +
                  "/netsh/s3.txt --dst 127.0.0.1:443 --sni a.example");
    EXPECT_EQ(j["outcome"], "selected");
    EXPECT_EQ(j["record"], "IP:port 0.0.0.0:443");
    EXPECT_EQ(j["certhash"], "5226dc6c54559761cd471b86eb51c096252c90f2");
    EXPECT_TRUE(j["ccs_file"].is_null());
    ASSERT_EQ(j["trace"].size(), 7u);
    EXPECT_EQ(j["trace"][0]["step"], "sni_exact");
    EXPECT_EQ(j["trace"][0]["key"], "Hostname:port a.example:443");
    EXPECT_EQ(j["trace"][0]["result"], "miss");
    EXPECT_EQ(j["trace"][6]["result"], "hit");

    // s2.txt: the SNI record of an IIS 8 server; on windows-2008r2 there is no SNI.
    j = json("explain --json --store " + kData +
             "/netsh/s2.txt --dst 10.0.0.5:443 --sni sni.iis8.com");
    EXPECT_EQ(j["record"], "Hostname:port sni.iis8.com:443");
    j = json("explain --json --profile windows-2008r2 --store " + kData +
             "/netsh/s2.txt --dst 10.0.0.5:443 --sni sni.iis8.com");
    EXPECT_EQ(j["outcome"], "no_match");
    EXPECT_TRUE(j["record"].is_null());
}

TEST_F(Cli, ExplainCcsFromAFolder) {
    fs::create_directories(dir / "ccs");
    std::ofstream(dir / "ccs" / "WWW.Contoso.com.pfx") << "x";
    std::ofstream(dir / "store.txt")
        << "Central Certificate Store    : 443\n"
           "Application ID               : {4dc3e181-e14b-4a21-b022-59fc669b0914}\n";
    auto j = json("explain --json --store " + (dir / "store.txt").string() + " --ccs " +
                  (dir / "ccs").string() + " --dst 127.0.0.1:443 --sni www.contoso.com");
    EXPECT_EQ(j["record"], "Central Certificate Store 443");
    EXPECT_EQ(j["ccs_file"], "www.contoso.com.pfx");
}

TEST_F(Cli, ExplainTextIsOneLinePerStep) {
    auto r = run("explain --store " + kData + "/netsh/s3.txt --dst 127.0.0.1:443");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("without SNI"), std::string::npos);
    EXPECT_NE(r.out.find("=> IP:port 0.0.0.0:443: serve certificate 5226dc6c"), std::string::npos)
        << r.out;
}

TEST_F(Cli, ExplainBadInputSaysWhereAndWhat) {
    std::ofstream(dir / "bad.txt") << "IP:port : 0.0.0.0:443\nCertificate Hash : xyz\n";
    auto r = run("explain --store " + (dir / "bad.txt").string() + " --dst 127.0.0.1:443");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("bad.txt:2:"), std::string::npos) << r.err;
    r = run("explain --store " + kData + "/netsh/s3.txt --dst 127.0.0.1");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("is not ADDR:PORT"), std::string::npos);
}

TEST_F(Cli, NetshAddShowDeleteOnAStoreFile) {
    auto store = (dir / "sslcert.txt").string();
    auto add =
        run("netsh http add sslcert ipport=0.0.0.0:443 "
            "certhash=5226dc6c54559761cd471b86eb51c096252c90f2 "
            "appid={4dc3e181-e14b-4a21-b022-59fc669b0914} --store " +
            store);
    EXPECT_EQ(add.status, 0) << add.err;
    EXPECT_EQ(add.out, "\nSSL Certificate successfully added\n\n");
    auto again =
        run("netsh http add sslcert ipport=0.0.0.0:443 "
            "certhash=5226dc6c54559761cd471b86eb51c096252c90f2 "
            "appid={4dc3e181-e14b-4a21-b022-59fc669b0914} --store " +
            store);
    EXPECT_EQ(again.status, 1);
    EXPECT_NE(again.out.find("Error: 183"), std::string::npos);
    auto show = run("netsh http show sslcert --store " + store);
    EXPECT_EQ(show.status, 0);
    EXPECT_NE(show.out.find("0.0.0.0:443"), std::string::npos);
    auto j = json("explain --json --store " + store + " --dst 127.0.0.1:443");
    EXPECT_EQ(j["record"], "IP:port 0.0.0.0:443");
    auto del = run("netsh http delete sslcert ipport=0.0.0.0:443 --store " + store);
    EXPECT_EQ(del.status, 0);
    EXPECT_EQ(json("explain --json --store " + store + " --dst 127.0.0.1:443")["outcome"],
              "no_match");
}

}  // namespace
