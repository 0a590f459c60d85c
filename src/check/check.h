#pragma once
// `snibind check`: explain a whole configuration at once (issue 5). For every site and host name,
// which record a client with SNI, one without SNI, and one under each other Windows profile gets,
// and whether the certificate served covers the name (I7); then the traps, each with a severity,
// the rule it comes from and a one-line fix in netsh or appcmd syntax. Pure: works on a loaded
// Model (records, certificates, sites), no I/O.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model.h"

namespace snibind::check {

enum class Severity { error, warning, info };
std::string_view to_string(Severity s);

struct Finding {
    Severity severity = Severity::warning;
    std::string kind;     // "certificate_mismatch", "sni_only_port", ...
    std::string rule;     // "I7", "L2", ...
    std::string subject;  // what it is about: a record key, "site X host h", an IP:port
    std::string message;  // one sentence
    std::string fix;      // one command line (netsh or appcmd), or advice when there is none
};

// What one client gets for one host of one site.
struct Probe {
    std::string label;  // "with SNI", "without SNI", "windows-2008r2", "ip-first"
    Decision decision;
    std::string certificate;     // subject of the certificate served, or "-"
    std::optional<bool> covers;  // whether it covers the host; nullopt when nothing is served
};

struct HostReport {
    std::string site;
    std::string binding;   // "https/*:443:www.contoso.com"
    std::string host;      // empty for a binding without a host name
    Endpoint destination;  // the address probed
    std::vector<Probe> probes;
};

struct Report {
    std::vector<HostReport> hosts;
    std::vector<Finding> findings;
    // 0 clean, 1 when there is an error or a warning (info findings do not count).
    int exit_status() const;
};

Report check(const model::Model& runtime,
             std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Only the findings about the records themselves (certificate missing, expired, not naming the
// host, unusable key, IIS Express ports): what `snibind serve` warns about when it loads.
std::vector<Finding> record_findings(
    const model::Model& runtime,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

std::string report_text(const Report& report);
nlohmann::json report_json(const Report& report);

}  // namespace snibind::check
