#pragma once
// How a connection ended, and what was done with it: one enum each and one table, read by the
// access log (`result=`, `action=`), /metrics and /api/stats (by name, errors apart) and the
// stop summary (by group). A new result is one line in kResults.
#include <array>
#include <cstdint>
#include <string_view>

namespace snibind::stats {

enum class ConnectionResult : std::uint8_t {
    closed,  // a normal end: both sides closed (forward), or the client closed (terminate)
    client_closed,
    client_error,
    client_reset,
    hello_timeout,
    hello_too_large,
    bad_proxy_header,
    not_tls,
    malformed,
    incomplete,
    too_large,
    rejected,
    unusable_key,
    version_refused,
    no_certificate,
    handshake_timeout,
    tls_error,
    bad_request,
    invalid_hostname,
    backend_down,
    backend_timeout,
    backend_error,
    backend_reset,
    write_error,
    idle_timeout,
};

// The stop summary's columns ("stopped: ... failed=N hello_errors=N ..."); none: only in the
// per-result counters.
enum class SummaryGroup : std::uint8_t { none, failed, hello_error, hello_timeout, client_error };

struct ResultInfo {
    ConnectionResult result;
    std::string_view name;  // the access log's result=, the metrics' label
    bool is_error;          // counted in snibind_errors_total
    SummaryGroup group;
};

inline constexpr std::array kResults{
    ResultInfo{ConnectionResult::closed, "closed", false, SummaryGroup::none},
    ResultInfo{ConnectionResult::client_closed, "client_closed", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::client_error, "client_error", true, SummaryGroup::client_error},
    ResultInfo{ConnectionResult::client_reset, "client_reset", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::hello_timeout, "hello_timeout", true, SummaryGroup::hello_timeout},
    ResultInfo{ConnectionResult::hello_too_large, "hello_too_large", true,
               SummaryGroup::hello_error},
    ResultInfo{ConnectionResult::bad_proxy_header, "bad_proxy_header", true,
               SummaryGroup::hello_error},
    ResultInfo{ConnectionResult::not_tls, "not_tls", true, SummaryGroup::hello_error},
    ResultInfo{ConnectionResult::malformed, "malformed", true, SummaryGroup::hello_error},
    ResultInfo{ConnectionResult::incomplete, "incomplete", true, SummaryGroup::hello_error},
    ResultInfo{ConnectionResult::too_large, "too_large", true, SummaryGroup::hello_error},
    ResultInfo{ConnectionResult::rejected, "rejected", true, SummaryGroup::none},
    // Selection failed the handshake (L9): counted in `failed` through decisions_by_outcome.
    ResultInfo{ConnectionResult::unusable_key, "unusable_key", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::version_refused, "version_refused", true, SummaryGroup::failed},
    ResultInfo{ConnectionResult::no_certificate, "no_certificate", true, SummaryGroup::failed},
    ResultInfo{ConnectionResult::handshake_timeout, "handshake_timeout", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::tls_error, "tls_error", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::bad_request, "bad_request", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::invalid_hostname, "invalid_hostname", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::backend_down, "backend_down", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::backend_timeout, "backend_timeout", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::backend_error, "backend_error", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::backend_reset, "backend_reset", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::write_error, "write_error", true, SummaryGroup::none},
    ResultInfo{ConnectionResult::idle_timeout, "idle_timeout", true, SummaryGroup::none},
};
inline constexpr std::size_t kResultCount = kResults.size();

constexpr const ResultInfo& info(ConnectionResult r) {
    return kResults[static_cast<std::size_t>(r)];
}
constexpr std::string_view to_string(ConnectionResult r) {
    return info(r).name;
}
constexpr bool is_error(ConnectionResult r) {
    return info(r).is_error;
}

// The table is indexed by the enum: each row must sit at its own value.
constexpr bool results_in_order() {
    for (std::size_t i = 0; i < kResults.size(); ++i)
        if (static_cast<std::size_t>(kResults[i].result) != i) return false;
    return true;
}
static_assert(results_in_order(), "kResults rows must follow the enum's order");
static_assert(kResultCount == static_cast<std::size_t>(ConnectionResult::idle_timeout) + 1);

// What was done with a connection: nothing yet (it ended before a decision), or the decision's.
enum class ConnectionAction : std::uint8_t { none, terminate, forward, reject, fail };
inline constexpr std::array<std::string_view, 5> kActionNames{"close", "terminate", "forward",
                                                              "reject", "fail"};
inline constexpr std::size_t kActionCount = kActionNames.size();
// "terminate", ...; "close" for none (never routed: the metrics' label).
constexpr std::string_view to_string(ConnectionAction a) {
    return kActionNames[static_cast<std::size_t>(a)];
}

}  // namespace snibind::stats
