#pragma once
// The admin console of `snibind serve`: a web page (the Jexus Manager views of the HTTP API plus
// CCS, an explain form, live counters), its JSON API, POST endpoints applying netsh commands to
// the running server, and /metrics. Plain HTTP/1.1 parsed with llhttp, on the main thread's
// io_context, apart from the workers. The routes are in admin_api.h; this is the listener.
#include <cstddef>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "admin/admin_api.h"

namespace snibind::admin {

class AdminServer {
  public:
    // Throws std::runtime_error when the address cannot be bound.
    AdminServer(boost::asio::io_context& io, const Endpoint& endpoint, AdminContext context);
    ~AdminServer();
    // A reload's admin token (admin_token_file): the next request is checked against it.
    void set_token(std::string token) { context_->token = std::move(token); }

  private:
    void accept();
    boost::asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<AdminContext> context_;
    // Admin connections open now (all on the admin's one thread): limits.admin_max_connections.
    std::shared_ptr<std::size_t> open_ = std::make_shared<std::size_t>(0);
};

}  // namespace snibind::admin
