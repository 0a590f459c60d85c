#pragma once
// The load generator's engine: Boost.Asio with one io_context per thread, `concurrency` slots
// spread over the threads, each slot running connection after connection as a coroutine (no
// thread per connection). TLS modes drive OpenSSL directly on the non-blocking socket (SSL_set_fd)
// and wait for readiness with Asio, so no byte is copied between buffers on the way.
#include <optional>
#include <string>

#include "load/load_options.h"
#include "load/load_report.h"

namespace snibind::load {

class ExpectationTable;

// Runs the load described by `options` and returns its report. `expect` (optional) predicts the
// certificate per destination and name. Returns nullopt with `error` when the run cannot start
// (an unknown hello template, an OpenSSL setup failure) or a worker thread failed.
std::optional<LoadReport> run_load(const LoadOptions& options, const ExpectationTable* expect,
                                   std::string& error);

}  // namespace snibind::load
