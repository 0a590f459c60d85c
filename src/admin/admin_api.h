#pragma once
// The admin console's routes without sockets: one request in, one complete HTTP response out
// (admin_server.cpp reads and writes them; tests and the fuzzer call handle_admin_request
// directly). Only loopback may go without a token; POST always needs it.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/address.h"
#include "model/model.h"
#include "stats/stats.h"

namespace snibind::admin {

// What the console reads and does, provided by the server.
struct AdminContext {
    // The model in effect now (a reload replaces it): records, certificates, settings.
    std::function<std::shared_ptr<const model::Model>()> model;
    // Collects every worker's Stats (asynchronously) and calls back on the admin's thread.
    std::function<void(std::function<void(stats::Stats)>)> collect_stats;
    // Applies one netsh command (words after "netsh") to the store file and reloads; returns
    // netsh's output and exit code.
    std::function<std::pair<int, std::string>(const std::vector<std::string>&)> netsh;
    std::string token;  // empty: no token file, so no POST and no non-loopback access
    // The address the console listens on (set by AdminServer): a Host header naming it is ours.
    IpAddress listener = IpAddress::from_v4(0x7f000001);
    // Where a request that failed (500) is reported; optional.
    std::function<void(std::string_view message)> warn;
};

struct AdminRequest {
    std::string method, target, body;
    // The Host header; nullopt when the request had none (not a browser: no DNS rebinding).
    std::optional<std::string> host;
    bool authorised = false;  // it carried the token
    bool loopback = true;     // it came from a loopback address
    // The address the client connected to (the listener's, or the real one under 0.0.0.0).
    std::optional<IpAddress> local;
};

// Answers one request through `respond`, exactly once (at once, or later on the admin's thread
// for /api/stats and /metrics). A handler that throws answers 500 with a JSON error: nothing a
// request holds may stop the server.
void handle_admin_request(const AdminRequest& request, AdminContext& context,
                          std::function<void(std::string response)> respond);

// Whether a Host header value ("127.0.0.1:9443", "[::1]", "localhost", "Console.Example:80")
// names this console: the listener's or the connection's own address, localhost, or a name in
// `allowed` (admin_hosts), any port, names case-insensitive. Anything else is what a page on
// another site sees after DNS rebinding, and is refused (421).
bool host_allowed(std::string_view host, const IpAddress& listener,
                  const std::optional<IpAddress>& local, const std::vector<std::string>& allowed);

}  // namespace snibind::admin
