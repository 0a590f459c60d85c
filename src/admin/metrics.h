#pragma once
// The admin console's data, rendered: Prometheus text exposition format (version 0.0.4) for
// /metrics, JSON for /api/stats. Debian has no maintained C++ Prometheus client, and the text
// format is a few lines of printing.
#include <string>

#include <nlohmann/json.hpp>

#include "stats/stats.h"

namespace snibind::admin {

std::string prometheus_text(const stats::Stats& stats);
nlohmann::json stats_json(const stats::Stats& stats);

}  // namespace snibind::admin
