#pragma once
// The admin console of `snibind serve`: a web page (the Jexus Manager views of the HTTP API plus
// CCS, an explain form, live counters), its JSON API, POST endpoints applying netsh commands to
// the running server, and /metrics. Plain HTTP/1.1 parsed with llhttp, on the main thread's
// io_context, apart from the workers. Only loopback may go without a token; POST always needs it.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "admin/stats.h"
#include "bindings/binding_table.h"
#include "proxy/runtime.h"

namespace snibind::admin {

// What the console reads and does, provided by the server.
struct AdminContext {
    const BindingTable* table = nullptr;
    std::function<std::shared_ptr<const proxy::Runtime>()> runtime;
    // Collects every worker's Stats (asynchronously) and calls back on the admin's thread.
    std::function<void(std::function<void(Stats)>)> collect_stats;
    // Applies one netsh command (words after "netsh") to the store file and reloads; returns
    // netsh's output and exit code.
    std::function<std::pair<int, std::string>(const std::vector<std::string>&)> netsh;
    std::string token;  // empty: no token file, so no POST and no non-loopback access
};

class AdminServer {
  public:
    // Throws std::runtime_error when the address cannot be bound.
    AdminServer(boost::asio::io_context& io, const Endpoint& endpoint, AdminContext context);
    ~AdminServer();

  private:
    void accept();
    boost::asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<AdminContext> context_;
};

// The routes, without sockets (tests call them directly). `authorised` says whether the request
// carried the token. Returns a complete HTTP response.
struct AdminRequest {
    std::string method, target, body;
    bool authorised = false;
    bool loopback = true;
};
void handle_admin_request(const AdminRequest& request, AdminContext& context,
                          std::function<void(std::string response)> respond);

}  // namespace snibind::admin
