#pragma once
// One line per connection, written when the connection's last object goes away, so no
// connection is ever missing from the log whatever path it ended on. The line is logfmt
// (key=value, values with spaces quoted) so that both people and tools can read it.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "bindings/address.h"
#include "stats/connection_result.h"

namespace spdlog {
class logger;
}

namespace snibind::proxy {

using stats::ConnectionAction;
using stats::ConnectionResult;

// What a connection did; filled in as it goes.
struct ConnectionLog {
    std::chrono::system_clock::time_point start = std::chrono::system_clock::now();
    std::chrono::steady_clock::time_point start_steady = std::chrono::steady_clock::now();
    Endpoint client, dst;
    std::string sni;  // the bytes as sent (the log escapes them); empty when none
    bool sni_sent = false;
    // Names from fixed sets (static strings: to_string(Step), literals), so a view costs nothing.
    std::string_view step;  // "sni_exact", ...; empty: no step decided
    std::string record;     // "Hostname:port sitev2.mysite.com:8443" or "-"
    ConnectionAction action = ConnectionAction::none;    // what the decision did
    std::string backend;                                 // "127.0.0.1:9001" or "-"
    std::uint64_t bytes_in = 0, bytes_out = 0;           // from the client, to the client
    std::uint64_t requests = 0;                          // terminate: HTTP requests served
    ConnectionResult result = ConnectionResult::closed;  // how it ended
    std::string why;                                     // a sentence when the result needs one
};

class AccessLog {
  public:
    // "stdout", "off", or a file path (appended to).
    static std::unique_ptr<AccessLog> open(const std::string& target, std::string& error);
    ~AccessLog();
    void write(const ConnectionLog& entry);
    static std::string format(const ConnectionLog& entry);

  private:
    explicit AccessLog(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
    std::shared_ptr<spdlog::logger> logger_;  // null when off
};

}  // namespace snibind::proxy
