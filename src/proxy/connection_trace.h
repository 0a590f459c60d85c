#pragma once
// The part of a connection that outlives each phase (hello, forward, TLS): its access-log entry
// and its slot in the worker's connection count. Moved from phase to phase; the last holder
// writes the log line and frees the slot when it goes away, whichever way the connection ended.
#include <utility>

#include "proxy/access_log.h"
#include "proxy/worker.h"

namespace snibind::proxy {

class ConnectionTrace {
  public:
    explicit ConnectionTrace(Worker& worker) : worker_(&worker) {}
    ConnectionTrace(ConnectionTrace&& other) noexcept
        : worker_(std::exchange(other.worker_, nullptr)), log(std::move(other.log)) {}
    ConnectionTrace& operator=(ConnectionTrace&&) = delete;
    ~ConnectionTrace() {
        if (!worker_) return;
        worker_->connection_ended(log);
    }

    // Sets the result only once: the first reason a connection ends is the one worth logging.
    void end(ConnectionResult result, std::string why = {}) {
        if (ended_) return;
        ended_ = true;
        log.result = result;
        log.why = std::move(why);
    }

  private:
    Worker* worker_;

  public:
    ConnectionLog log;

  private:
    bool ended_ = false;
};

}  // namespace snibind::proxy
