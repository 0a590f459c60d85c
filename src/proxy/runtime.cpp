#include "proxy/runtime.h"

#include <openssl/ssl.h>

#include <stdexcept>

#include "tlsstack/tls_stack.h"

namespace snibind::proxy {

namespace {

// snibind speaks HTTP/1.1 only after termination, so it never selects h2: a record's
// "disable HTTP/2" flag (L7) is always honoured. A client that offers no http/1.1 gets no ALPN.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

SSL_CTX* Runtime::server_context(const certs::Certificate* cert) const {
    auto it = server_contexts.find(cert);
    return it == server_contexts.end() ? nullptr : it->second;
}

std::shared_ptr<const Runtime> make_runtime(std::shared_ptr<const model::Model> model) {
    auto rt = std::make_shared<Runtime>();
    auto serve = [&rt](const certs::Certificate* cert) {
        if (!cert->ctx()) return;
        SSL_CTX_set_alpn_select_cb(cert->ctx(), select_alpn, nullptr);
        rt->server_contexts.emplace(cert, cert->ctx());
    };
    for (const auto& cert : model->certificates.all()) serve(cert.get());
    for (const auto& entry : model->certificates.ccs_all()) serve(entry.get());

    rt->backend_context.reset(SSL_CTX_new(TLS_client_method()));
    if (!rt->backend_context) throw std::runtime_error("cannot create the backends' TLS context");
    SSL_CTX* backend = rt->backend_context.get();
    if (model->config.backend_verify) {
        SSL_CTX_set_default_verify_paths(backend);
        SSL_CTX_set_verify(backend, SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_CTX_set_verify(backend, SSL_VERIFY_NONE, nullptr);
    }
    // Legacy backends are the point: allow what they speak.
    tlsstack::allow_legacy_algorithms(backend);
    SSL_CTX_set_min_proto_version(backend, TLS1_VERSION);
    rt->model = std::move(model);
    return rt;
}

}  // namespace snibind::proxy
