#include "proxy/runtime.h"

#include <openssl/ssl.h>

namespace snibind::proxy {

namespace ssl = boost::asio::ssl;

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

std::unique_ptr<ssl::context> wrap_server_context(SSL_CTX* ctx) {
    SSL_CTX_up_ref(ctx);  // asio's context frees its handle; the Certificate keeps its own
    auto wrapped = std::make_unique<ssl::context>(ctx);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
    return wrapped;
}

}  // namespace

ssl::context* Runtime::server_context(const certs::Certificate* cert) const {
    auto it = server_contexts.find(cert);
    return it == server_contexts.end() ? nullptr : it->second.get();
}

std::shared_ptr<const Runtime> make_runtime(std::shared_ptr<const model::Model> model) {
    auto rt = std::make_shared<Runtime>();
    for (const auto& cert : model->certificates.all())
        if (cert->ctx()) rt->server_contexts.emplace(cert.get(), wrap_server_context(cert->ctx()));
    for (const auto& entry : model->certificates.ccs_all())
        if (entry->ctx())
            rt->server_contexts.emplace(entry.get(), wrap_server_context(entry->ctx()));

    rt->backend_context = std::make_unique<ssl::context>(ssl::context::tls_client);
    if (model->config.backend_verify) {
        rt->backend_context->set_default_verify_paths();
        rt->backend_context->set_verify_mode(ssl::verify_peer);
    } else {
        rt->backend_context->set_verify_mode(ssl::verify_none);
    }
    // Legacy backends are the point: allow what they speak.
    SSL_CTX_set_security_level(rt->backend_context->native_handle(), 0);
    SSL_CTX_set_min_proto_version(rt->backend_context->native_handle(), TLS1_VERSION);
    rt->model = std::move(model);
    return rt;
}

}  // namespace snibind::proxy
