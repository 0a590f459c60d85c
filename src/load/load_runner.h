#pragma once
// The load generator's engine in one process: Boost.Asio with one io_context per thread,
// `concurrency` slots spread over the threads, each slot running connection after connection as
// a coroutine (no thread per connection). TLS modes drive OpenSSL directly on the non-blocking
// socket (SSL_set_fd) and wait for readiness with Asio, so no byte is copied between buffers on
// the way. A `snibind load` run is one or more worker processes, each running one LoadRun
// (load_workers.h).
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "load/load_options.h"
#include "load/load_report.h"
#include "load/worker_protocol.h"

namespace snibind::load {

class ExpectationTable;

class LoadRun {
  public:
    // Sets up the run described by `options` (a worker's share: worker_options()): endpoints,
    // the hello template or the TLS client context, the event loops. `expect` (optional, kept
    // by reference) predicts the certificate per destination and name. nullptr with `error`
    // when it cannot (an unknown hello template, an OpenSSL setup failure).
    static std::unique_ptr<LoadRun> create(const LoadOptions& options,
                                           const ExpectationTable* expect, std::string& error);
    ~LoadRun();
    LoadRun(const LoadRun&) = delete;
    LoadRun& operator=(const LoadRun&) = delete;

    // Runs from `start` (the steady clock, which every process on the machine shares) until
    // --duration or --connections ends it, or stop(); with --hold, held connections stay open
    // after the measured interval until stop(). `progress` is called once a second. Returns
    // the report (the connections measured by this process; no server figures), or nullopt
    // with `error` when an event loop failed.
    std::optional<LoadReport> run(std::chrono::steady_clock::time_point start,
                                  std::function<void(const Progress&)> progress,
                                  std::string& error);

    // From any thread: ends the measured interval now (what ends later is not counted), and
    // closes held connections.
    void stop();

  private:
    LoadRun();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace snibind::load
