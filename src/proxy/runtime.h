#pragma once
// What the proxy serves with: the loaded model (model/model.h) plus the transport state built
// from it, a TLS server context per certificate that can be served and the client context
// towards https:// site backends. Built once per (re)load beside the model and read-only
// afterwards; connections keep the Runtime they started with.
#include <openssl/ssl.h>

#include <memory>
#include <unordered_map>

#include "model/model.h"
#include "tlsstack/tls_stack.h"

namespace snibind::proxy {

struct Runtime {
    std::shared_ptr<const model::Model> model;
    // The TLS server context of each certificate that can be served (the certificate owns it;
    // shared by all threads).
    std::unordered_map<const certs::Certificate*, SSL_CTX*> server_contexts;
    // The client side towards https:// site backends.
    tlsstack::SslCtxPtr backend_context;

    const config::Config& config() const { return model->config; }
    SSL_CTX* server_context(const certs::Certificate* cert) const;
};

// The TLS contexts for a model's certificates and backends.
std::shared_ptr<const Runtime> make_runtime(std::shared_ptr<const model::Model> model);

}  // namespace snibind::proxy
