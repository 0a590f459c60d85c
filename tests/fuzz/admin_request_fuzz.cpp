// libFuzzer target for the admin console's routes (admin/admin_api.h): method, target (path and
// query), Host and body through to the answer, with the real netsh command line behind POST
// /api/netsh (on an in-memory store, fresh for each input) and the real selection behind
// /api/explain.
//
// Input: one flags byte (bit 0: the request carried the token; bit 1: it came from outside
// loopback; bit 2: no Host header), then "METHOD TARGET\n", then "HOST\n", then the body. The
// seeds in tests/fuzz/corpus/admin_request_fuzz/ are such files, flags written as '0'..'7'.
//
// Invariants, any violation aborts: exactly one answer per request, a complete HTTP/1.1 response
// whose Content-Length matches its body; a JSON answer is valid JSON (so valid UTF-8: issue 10
// item 1, nlohmann's type_error 316 for a byte such as %ff stopped the server); no 500 (a 500 is
// a route that threw, caught by the guard that keeps the server up, but a bug all the same).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/admin_api.h"
#include "netsh/netsh_command.h"
#include "netsh/store_file.h"

namespace {

using namespace snibind;

[[noreturn]] void fail(const char* what, std::string_view response) {
    std::fprintf(stderr, "admin_request_fuzz: %s\n%.*s\n", what, static_cast<int>(response.size()),
                 response.data());
    std::abort();
}

Record record(RecordKey key, const char* hash) {
    Record r;
    r.key = std::move(key);
    if (hash) r.certhash = Thumbprint::parse(hash);
    return r;
}

// One HTTP.sys table of every family, and a console over it (built once: read-only).
struct World {
    std::vector<Record> records{
        record(RecordKey::ip(IpAddress::v4_any(), 443), "1111111111111111111111111111111111111111"),
        record(RecordKey::ip(IpAddress::v6_any(), 443), "2222222222222222222222222222222222222222"),
        record(RecordKey::ip(*IpAddress::parse("127.0.0.2"), 443),
               "3333333333333333333333333333333333333333"),
        record(RecordKey::hostname("site.test", 443), "4444444444444444444444444444444444444444"),
        record(RecordKey::hostname("*.wild.test", 443), "5555555555555555555555555555555555555555"),
        record(RecordKey::ccs(443), nullptr),
        record(RecordKey::scoped_ccs("scoped.test", 443), nullptr),
    };
    std::shared_ptr<model::Model> model = [this] {
        auto m = std::make_shared<model::Model>();
        m->table.assign(records);
        m->config.admin_hosts = {"console.test"};
        return m;
    }();
    admin::AdminContext context;

    World() {
        context.model = [this] { return model; };
        context.collect_stats = [](std::function<void(stats::Stats)> done) { done({}); };
        context.netsh = [this](const std::vector<std::string>& words) {
            netsh::Store store(records);
            bool modified = false;
            auto result = netsh::run_netsh(words, store, model->config.selection.profile, modified);
            return std::pair<int, std::string>{result.exit_code, result.out + result.err};
        };
        context.token = "admin-request-fuzz-token";
    }
};

void check_response(const std::string& response) {
    if (!response.starts_with("HTTP/1.1 ") || response.size() < 12)
        fail("no status line", response);
    int status = std::atoi(response.c_str() + 9);
    if (status < 200 || status > 599) fail("bad status", response);
    if (status == 500) fail("a route threw (500)", response);
    auto end = response.find("\r\n\r\n");
    if (end == std::string::npos) fail("no end of head", response);
    std::string_view head(response.data(), end);
    std::string_view body = std::string_view(response).substr(end + 4);
    auto length = head.find("\r\nContent-Length: ");
    if (length == std::string_view::npos) fail("no Content-Length", response);
    if (std::strtoull(head.data() + length + 18, nullptr, 10) != body.size())
        fail("Content-Length differs from the body", response);
    if (head.find("\r\nContent-Type: application/json\r\n") != std::string_view::npos &&
        !nlohmann::json::accept(body))
        fail("a JSON answer that is not valid JSON", response);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static World world;
    if (size < 1) return 0;
    const unsigned flags = data[0];
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto line = [&in] {
        auto nl = in.find('\n');
        std::string_view l = in.substr(0, nl);
        in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
        return l;
    };
    std::string_view first = line();
    auto space = first.find(' ');
    admin::AdminRequest request;
    request.method = std::string(first.substr(0, space));
    request.target = space == std::string_view::npos ? "" : std::string(first.substr(space + 1));
    std::string_view host = line();
    if (!(flags & 4)) request.host = std::string(host);
    request.body = std::string(in);
    request.authorised = flags & 1;
    request.loopback = !(flags & 2);
    request.local = IpAddress::from_v4(0x7f000001);

    int answers = 0;
    admin::handle_admin_request(request, world.context, [&](std::string response) {
        ++answers;
        check_response(response);
    });
    if (answers != 1) fail("not exactly one answer", request.target);
    return 0;
}
