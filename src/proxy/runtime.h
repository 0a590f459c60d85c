#pragma once
// What the proxy serves with: the loaded model (model/model.h) plus the transport state built
// from it, a TLS server context per certificate that can be served and the client context
// towards https:// site backends. Built once per (re)load beside the model and read-only
// afterwards; connections keep the Runtime they started with.
#include <memory>
#include <unordered_map>

#include <boost/asio/ssl/context.hpp>

#include "model/model.h"

namespace snibind::proxy {

struct Runtime {
    std::shared_ptr<const model::Model> model;
    // A TLS server context per certificate that can be served (shared by all threads).
    std::unordered_map<const certs::Certificate*, std::unique_ptr<boost::asio::ssl::context>>
        server_contexts;
    // The client side towards https:// site backends.
    std::unique_ptr<boost::asio::ssl::context> backend_context;

    const config::Config& config() const { return model->config; }
    boost::asio::ssl::context* server_context(const certs::Certificate* cert) const;
};

// The TLS contexts for a model's certificates and backends.
std::shared_ptr<const Runtime> make_runtime(std::shared_ptr<const model::Model> model);

}  // namespace snibind::proxy
