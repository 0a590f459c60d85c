// The snibind binary as a user runs it: exit status, stdout, stderr, and the fixed JSON fields.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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
    // The record as the store holds it, as netsh shows it (issue 11); the lookup is lower case.
    EXPECT_EQ(j["record"], "Hostname:port SNI.IIS8.com:443");
    j = json("explain --json --profile windows-2008r2 --store " + kData +
             "/netsh/s2.txt --dst 10.0.0.5:443 --sni sni.iis8.com");
    EXPECT_EQ(j["outcome"], "no_match");
    EXPECT_TRUE(j["record"].is_null());
}

// Issue 11: a record keyed with a U-label host is reported as stored; the lookup (and the
// trace's keys) use the A-label, as HTTP.sys compares them.
TEST_F(Cli, ExplainReportsAnIdnRecordAsStored) {
    std::ofstream(dir / "idn.txt")
        << "Hostname:port                : b\xc3\xbc"
           "cher.example:443\n"
           "Certificate Hash             : 1111111111111111111111111111111111111111\n"
           "Application ID               : {4dc3e181-e14b-4a21-b022-59fc669b0914}\n"
           "Certificate Store Name       : My\n";
    auto j = json("explain --json --store " + (dir / "idn.txt").string() +
                  " --dst 10.0.0.5:443 --sni xn--bcher-kva.example");  // what clients send
    EXPECT_EQ(j["outcome"], "selected");
    EXPECT_EQ(j["record"],
              "Hostname:port b\xc3\xbc"
              "cher.example:443");
    EXPECT_EQ(j["trace"][0]["key"], "Hostname:port xn--bcher-kva.example:443");
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

namespace {

// ---- issue 10 item 2: concurrent edits; item 11: temporaries of dead writers ----

constexpr const char* kCerthash = "5226dc6c54559761cd471b86eb51c096252c90f2";
constexpr const char* kAppid = "{4dc3e181-e14b-4a21-b022-59fc669b0914}";

// A tool that edits one file: the command that adds item `id`, and the text that item leaves in
// the file once added.
struct EditTool {
    const char* name;
    const char* file;                                         // in the test's folder
    const char* initial;                                      // copied from tests/data, or ""
    std::function<std::string(const std::string&, int)> add;  // (file, id) -> command
    std::function<std::string(int)> trace;                    // id -> text in the file
};

std::vector<EditTool> edit_tools() {
    return {
        {"netsh sslcert", "sslcert.txt", "",
         [](const std::string& file, int id) {
             return "netsh --store " + file + " http add sslcert hostnameport=h" +
                    std::to_string(id) + ".test:443 certhash=" + kCerthash + " appid=" + kAppid;
         },
         [](int id) { return " h" + std::to_string(id) + ".test:443\n"; }},
        {"netsh urlacl", "urlacl.txt", "",
         [](const std::string& file, int id) {
             return "netsh --urlacl-store " + file + " http add urlacl url=https://+:443/u" +
                    std::to_string(id) + "/ user=Everyone";
         },
         [](int id) { return "https://+:443/u" + std::to_string(id) + "/\n"; }},
        {"appcmd", "applicationHost.config", "/iis/sni.config",
         [](const std::string& file, int id) {
             return "appcmd --config " + file + " add site /name:s" + std::to_string(id) +
                    " '/bindings:https/*:443:s" + std::to_string(id) + ".test'";
         },
         [](int id) { return "\"*:443:s" + std::to_string(id) + ".test\""; }},
    };
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// Two writers at once, each adding its own items: every edit that reported success is in the
// file afterwards (an unlocked read-modify-write loses some: the issue saw 164 of 200).
TEST_F(Cli, ParallelEditsKeepEveryAcknowledgedEdit) {
    for (const auto& tool : edit_tools()) {
        SCOPED_TRACE(tool.name);
        const fs::path file = dir / tool.file;
        if (*tool.initial) fs::copy_file(kData + tool.initial, file);
        // netsh sslcert as in the issue (2 x 100); the others share the same code, 2 x 25.
        const int per_writer = std::string_view(tool.name) == "netsh sslcert" ? 100 : 25;
        std::vector<std::string> failures[2];
        auto writer = [&](int w) {
            for (int i = 0; i < per_writer; ++i) {
                auto r = run(tool.add(file.string(), w * 1000 + i));
                if (r.status != 0) failures[w].push_back(r.out + r.err);
            }
        };
        std::thread a(writer, 0), b(writer, 1);
        a.join();
        b.join();
        EXPECT_TRUE(failures[0].empty() && failures[1].empty())
            << (failures[0].empty() ? failures[1][0] : failures[0][0]);
        const std::string text = snibind::test::read_file(file);
        int missing = 0;
        for (int w = 0; w < 2; ++w)
            for (int i = 0; i < per_writer; ++i)
                if (count_of(text, tool.trace(w * 1000 + i)) != 1) ++missing;
        EXPECT_EQ(missing, 0) << "of " << 2 * per_writer << " acknowledged adds";
    }
}

// The console's POST /api/netsh and the CLI racing on one store: the server takes the same lock.
TEST_F(Cli, ApiAndCliEditsRacingKeepEveryAcknowledgedEdit) {
    using snibind::test::curl;
    const std::string token = "cli-test-token-0123456789";
    const auto port = snibind::test::free_port(), admin_port = snibind::test::free_port();
    std::ofstream(dir / "token") << token << "\n";
    std::ofstream(dir / "config.yaml")
        << "listen: [\"127.0.0.1:" << port << "\"]\nstore: sslcert.txt\n"
        << "admin: \"127.0.0.1:" << admin_port << "\"\nadmin_token_file: token\n"
        << "limits: { drain_timeout: 1s }\n";
    snibind::test::ServeProcess serve(dir / "config.yaml");
    constexpr int kEach = 60;
    std::vector<std::string> failures[2];
    std::thread api([&] {
        for (int i = 0; i < kEach; ++i) {
            auto r = curl({"-f", "-X", "POST", "-H", "Authorization: Bearer " + token, "--data",
                           std::string("{\"command\": \"http add sslcert hostnameport=api") +
                               std::to_string(i) + ".test:443 certhash=" + kCerthash +
                               " appid=" + kAppid + "\"}",
                           "http://127.0.0.1:" + std::to_string(admin_port) + "/api/netsh"});
            if (r.status != 0) failures[0].push_back(r.out + r.err);
        }
    });
    std::thread cli([&] {
        for (int i = 0; i < kEach; ++i) {
            auto r = run("netsh --store " + (dir / "sslcert.txt").string() +
                         " http add sslcert hostnameport=cli" + std::to_string(i) +
                         ".test:443 certhash=" + kCerthash + " appid=" + kAppid);
            if (r.status != 0) failures[1].push_back(r.out + r.err);
        }
    });
    api.join();
    cli.join();
    EXPECT_TRUE(failures[0].empty()) << failures[0].front();
    EXPECT_TRUE(failures[1].empty()) << failures[1].front();
    const std::string text = snibind::test::read_file(dir / "sslcert.txt");
    int missing = 0;
    for (int i = 0; i < kEach; ++i) {
        missing += count_of(text, " api" + std::to_string(i) + ".test:443\n") != 1;
        missing += count_of(text, " cli" + std::to_string(i) + ".test:443\n") != 1;
    }
    EXPECT_EQ(missing, 0) << "of " << 2 * kEach << " acknowledged adds";
    serve.stop();
    EXPECT_FALSE(snibind::test::has_sanitizer_report(serve.log())) << serve.log();
}

// A process id that was in use a moment ago and is not any more: a child that has exited and
// been reaped (its id is not reused within the test).
pid_t dead_pid() {
    pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return child;
}

// A writer killed mid-save leaves FILE.tmp.<its pid>; the next edit removes it. A live writer's
// temporary and other files are left alone.
TEST_F(Cli, NextEditRemovesTemporariesOfDeadWriters) {
    for (const auto& tool : edit_tools()) {
        SCOPED_TRACE(tool.name);
        const fs::path file = dir / tool.file;
        if (*tool.initial) fs::copy_file(kData + tool.initial, file);
        const std::string dead = std::string(tool.file) + ".tmp." + std::to_string(dead_pid());
        const std::string live = std::string(tool.file) + ".tmp." + std::to_string(::getpid());
        const std::string other = std::string("other.txt.tmp.") + std::to_string(dead_pid());
        const std::string not_ours = std::string(tool.file) + ".tmp.backup";
        for (const auto& name : {dead, live, other, not_ours})
            snibind::test::write_file(dir / name, "left by a writer");
        auto r = run(tool.add(file.string(), 1));
        ASSERT_EQ(r.status, 0) << r.out << r.err;
        EXPECT_FALSE(fs::exists(dir / dead));
        EXPECT_TRUE(fs::exists(dir / live));
        EXPECT_TRUE(fs::exists(dir / other));
        EXPECT_TRUE(fs::exists(dir / not_ours));
        for (const auto& name : {live, other, not_ours}) fs::remove(dir / name);
    }
}

// ---- issue 10 item 12: edges of the commands ----

TEST_F(Cli, HelloRefusesDirectoriesAndEndlessInputWithStatus2) {
    using snibind::test::run;
    const std::string bin = snibind::test::snibind_binary().string();
    struct Case {
        const char* name;
        std::vector<std::string> argv;
        const char* error;
    };
    const std::vector<Case> cases{
        {"a directory", {bin, "hello", dir.string()}, "Is a directory"},
        // More than any hello can take (the cap plus its record headers) through a pipe: read
        // the cap and one byte, then stop.
        {"a long pipe",
         {"/bin/sh", "-c", "head -c 200000 /dev/zero | \"$0\" hello /dev/stdin", bin},
         "input too large"},
        {"an endless device", {bin, "hello", "/dev/zero"}, "input too large"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto r = run(c.argv);
        EXPECT_EQ(r.status, 2) << r.err;
        EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
}

// A regular file longer than any hello is still read as a capture: the hello, then what followed
// it (counted, not read).
TEST_F(Cli, HelloCountsLongTrailingDataOfARegularFile) {
    auto hello = snibind::test::read_file(kData + "/clienthello/curl.bin");
    snibind::test::write_file(dir / "long.bin", hello + std::string(300000, 'x'));
    auto j = json("hello --json " + (dir / "long.bin").string());
    EXPECT_EQ(j["result"], "client_hello");
    EXPECT_EQ(j["bytes"], hello.size());
    EXPECT_EQ(j["trailing_bytes"], 300000);
}

// An error quoting a huge piece of input quotes a few hundred bytes of it, an ellipsis and its
// length, for every file format a command reads.
TEST_F(Cli, ErrorsQuoteAtMostAFewHundredBytesOfInput) {
    // 1 MiB: libxml2 refuses longer attribute values before snibind sees them.
    const std::string huge(1024 * 1024, 'a');
    // The piece quoted is the huge value or the line or URL around it: a length of 1 MiB or more.
    const std::regex cut(R"(\.\.\.' \(10[4-9][0-9]{4} bytes\))");
    struct Case {
        const char* name;
        const char* file;
        std::string text;
        std::string command;  // FILE stands for the file
    };
    const std::vector<Case> cases{
        {"store: host name", "sslcert.txt", "Hostname:port : " + huge + ":443\n",
         "netsh --store FILE http show sslcert"},
        {"store: port", "sslcert.txt", "Hostname:port : a.test:" + huge + "\n",
         "netsh --store FILE http show sslcert"},
        {"store: certificate hash", "sslcert.txt",
         "IP:port : 0.0.0.0:443\nCertificate Hash : " + huge + "\n",
         "netsh --store FILE http show sslcert"},
        {"store: unknown line", "sslcert.txt", "IP:port : 0.0.0.0:443\n" + huge + "\n",
         "netsh --store FILE http show sslcert"},
        {"URL reservations: URL", "urlacl.txt", "Reserved URL : https://" + huge + ":0/\n",
         "netsh --urlacl-store FILE http show urlacl"},
        {"URL reservations: label", "urlacl.txt", huge + ": x\n",
         "netsh --urlacl-store FILE http show urlacl"},
        {"applicationHost.config: site id", "applicationHost.config",
         "<configuration><system.applicationHost><sites><site name=\"a\" id=\"" + huge +
             "\"/></sites></system.applicationHost></configuration>\n",
         "appcmd --config FILE list site"},
        {"serve config: listen", "config.yaml", "listen: [\"" + huge + "\"]\n",
         "serve --check FILE"},
        {"serve config: record key", "config.yaml",
         // An explicit key ('? '): YAML's implicit keys stop at 1024 characters.
         "listen: [\"127.0.0.1:1\"]\nrecords:\n  ? \"hostnameport=" + huge + ":443\"\n  : {}\n",
         "serve --check FILE"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        snibind::test::write_file(dir / c.file, c.text);
        std::string command = c.command;
        command.replace(command.find("FILE"), 4, (dir / c.file).string());
        auto r = run(command);
        EXPECT_EQ(r.status, 2);
        EXPECT_LT(r.err.size(), 1000u) << r.err.substr(0, 2000);
        EXPECT_TRUE(std::regex_search(r.err, cut)) << r.err.substr(0, 2000);
    }
}

}  // namespace
