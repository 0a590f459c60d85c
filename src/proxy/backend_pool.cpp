#include "proxy/backend_pool.h"

#include <algorithm>

namespace snibind::proxy {

std::unique_ptr<BackendConnection> BackendPool::take(const BackendUrl& url) {
    auto it = idle_.find(&url);
    if (it == idle_.end()) return nullptr;
    std::vector<Idle>& list = it->second;
    std::unique_ptr<BackendConnection> found;
    while (!list.empty() && !found) {
        Idle idle = std::move(list.back());
        list.pop_back();
        // The backend may have closed it since (its own keep-alive timeout): is_open() asks the
        // kernel whether the peer hung up.
        if (idle.connection->is_open()) {
            found = std::move(idle.connection);
        } else {
            idle.connection->close();
        }
    }
    if (list.empty()) idle_.erase(it);
    return found;
}

void BackendPool::give_back(std::shared_ptr<const Runtime> runtime, const BackendUrl& url,
                            std::unique_ptr<BackendConnection> connection) {
    // Whether the backend has closed it since is asked when it is taken (one poll per request,
    // not two).
    const std::size_t keep = runtime->config().backend_keepalive;
    if (keep == 0) {
        connection->close();
        return;
    }
    std::vector<Idle>& list = idle_[&url];
    if (list.size() >= keep) {  // the least recently used goes
        list.front().connection->close();
        list.erase(list.begin());
    }
    list.push_back({std::move(runtime), std::move(connection), Clock::now()});
}

void BackendPool::sweep(const Runtime* current, Clock::time_point now) {
    for (auto it = idle_.begin(); it != idle_.end();) {
        std::vector<Idle>& list = it->second;
        std::erase_if(list, [&](Idle& idle) {
            const bool expired =
                idle.runtime.get() != current ||
                now - idle.since > idle.runtime->config().limits.backend_keepalive_timeout;
            if (expired) idle.connection->close();
            return expired;
        });
        if (list.empty()) {
            idle_.erase(it++);
        } else {
            ++it;
        }
    }
}

void BackendPool::clear() {
    for (auto& [url, list] : idle_)
        for (Idle& idle : list) idle.connection->close();
    idle_.clear();
}

}  // namespace snibind::proxy
