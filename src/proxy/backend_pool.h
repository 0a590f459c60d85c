#pragma once
// Idle keep-alive connections to sites' backends after termination, one pool per worker (nginx's
// upstream `keepalive`, HAProxy's `http-reuse`): a request takes an idle connection to its
// backend when there is one, and gives it back when the response is whole and both sides keep it
// alive, so that a client connection with one request does not cost the backend a TCP (and TLS)
// handshake. At most `per_backend` idle connections per backend (Config::backend_keepalive),
// each at most `idle_timeout` (limits.backend_keepalive_timeout). Worker thread only.
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "proxy/backend.h"

namespace snibind::proxy {

class BackendPool {
  public:
    using Clock = std::chrono::steady_clock;

    // An idle connection to `url` that the backend has not closed, most recently used first;
    // nullptr when there is none. Connections the backend closed are dropped here.
    std::unique_ptr<BackendConnection> take(const BackendUrl& url);
    // Keeps `connection` (idle: no operation pending, its last response whole) for a next
    // request to `url`, or closes it when the runtime keeps none or already keeps as many.
    // `runtime` is kept alive with it: `url` and the connection's TLS context belong to it.
    void give_back(std::shared_ptr<const Runtime> runtime, const BackendUrl& url,
                   std::unique_ptr<BackendConnection> connection);
    // Closes connections idle longer than their runtime's limits.backend_keepalive_timeout, and
    // those of a runtime other than `current` (a reload changed the backends).
    void sweep(const Runtime* current, Clock::time_point now);
    // Closes every idle connection (drain, stop).
    void clear();

  private:
    struct Idle {
        std::shared_ptr<const Runtime> runtime;
        std::unique_ptr<BackendConnection> connection;
        Clock::time_point since;
    };
    // By the backend's URL object: a reload's new runtime has new ones, so its requests never
    // take an old runtime's connections (and an old URL's address is not reused while its
    // runtime is kept here).
    absl::flat_hash_map<const BackendUrl*, std::vector<Idle>> idle_;
};

}  // namespace snibind::proxy
