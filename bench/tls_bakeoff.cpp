// The TLS stack bake-off: what a terminated handshake costs the server, per stack, with the
// network taken out. Client and server run in one thread over memory BIOs; only the server's
// calls are timed, in thread CPU time, so the figure is the server's share of a handshake
// (the ClientHello parse, key share, signature, Finished, one session ticket) plus the one
// record of application data a proxy writes after it (BoringSSL sends its tickets with it).
//
// One source, built twice (bench/CMakeLists.txt): tls_bakeoff_openssl against Debian's OpenSSL 3
// and tls_bakeoff_boringssl against android-libboringssl-dev. Both use only the API the two
// share, tuned as snibind's terminating proxy is: contexts built once per certificate, one
// TLS 1.3 ticket, SSL_MODE_NO_AUTO_CHAIN, X25519 first.
//
//   build/release/bench/tls_bakeoff_openssl --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//
// Counter server_us: the server's CPU per handshake (µs), averaged over the threads. The
// ->Threads(N) runs (N = cores) show contention inside the library: with no shared lock the
// per-thread figure stays where the one-thread figure is.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <time.h>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#if defined(SNIBIND_EXPECT_BORINGSSL) && !defined(OPENSSL_IS_BORINGSSL)
#error \
    "tls_bakeoff_boringssl picked up OpenSSL's headers: the BoringSSL include path must come first"
#endif

namespace {

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "tls_bakeoff: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    std::abort();
}

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using CtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL, SSL_free>>;
using SessionPtr = std::unique_ptr<SSL_SESSION, Deleter<SSL_SESSION, SSL_SESSION_free>>;

enum class KeyKind { ecdsa_p256, rsa_2048 };

PkeyPtr make_key(KeyKind kind) {
    std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>> ctx(
        EVP_PKEY_CTX_new_id(kind == KeyKind::ecdsa_p256 ? EVP_PKEY_EC : EVP_PKEY_RSA, nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) die("EVP_PKEY_keygen_init");
    if (kind == KeyKind::ecdsa_p256) {
        if (EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1) != 1)
            die("EVP_PKEY_CTX_set_ec_paramgen_curve_nid");
    } else if (EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048) != 1) {
        die("EVP_PKEY_CTX_set_rsa_keygen_bits");
    }
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_keygen(ctx.get(), &key) != 1) die("EVP_PKEY_keygen");
    return PkeyPtr(key);
}

X509Ptr self_signed(EVP_PKEY* key) {
    X509Ptr cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * 365);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("bakeoff.test"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key);
    if (X509_sign(cert.get(), key, EVP_sha256()) == 0) die("X509_sign");
    return cert;
}

// One server context per certificate, built once, as snibind builds them.
CtxPtr server_context(KeyKind kind) {
    CtxPtr ctx(SSL_CTX_new(TLS_method()));
    PkeyPtr key = make_key(kind);
    X509Ptr cert = self_signed(key.get());
    if (SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1) die("SSL_CTX_use_certificate");
    if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1) die("SSL_CTX_use_PrivateKey");
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_NO_AUTO_CHAIN);
    SSL_CTX_set_num_tickets(ctx.get(), 1);
    // As src/certs/certificate.cpp: a session id context (resumption needs one) and the
    // server cache mode, without its periodic sweep.
    static const unsigned char kSessionContext[] = "bakeoff";
    SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR);
    if (SSL_CTX_set1_curves_list(ctx.get(), "X25519:P-256") != 1) die("set1_curves_list");
    return ctx;
}

// TLS 1.3 tickets arrive after the handshake; both stacks hand them to the new-session callback
// (BoringSSL's SSL_get1_session would return the handshake's own, unresumable, session).
int keep_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* keep = static_cast<SessionPtr*>(SSL_get_app_data(ssl));
    if (!keep) return 0;  // not kept: the library frees it
    keep->reset(session);
    return 1;  // the callback now owns the reference
}

CtxPtr client_context() {
    CtxPtr ctx(SSL_CTX_new(TLS_method()));
    SSL_CTX_sess_set_new_cb(ctx.get(), keep_new_session);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // the client's cost is not measured
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT);
    if (SSL_CTX_set1_curves_list(ctx.get(), "X25519:P-256") != 1) die("set1_curves_list");
    return ctx;
}

std::uint64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
}

// Memory BIOs that answer "retry" when empty, as a non-blocking socket would.
BIO* pipe_bio() {
    BIO* bio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(bio, -1);
    return bio;
}

// One connection: handshake, one server record, the client reads it (and the ticket). Returns
// the server's CPU time; `resume` offers a session, `keep` receives the new one.
std::uint64_t connection(SSL_CTX* server_ctx, SSL_CTX* client_ctx, SSL_SESSION* resume,
                         SessionPtr* keep) {
    BIO* to_server = pipe_bio();
    BIO* to_client = pipe_bio();
    SslPtr server(SSL_new(server_ctx));
    SslPtr client(SSL_new(client_ctx));
    BIO_up_ref(to_server);
    BIO_up_ref(to_client);
    SSL_set_bio(server.get(), to_server, to_client);  // each SSL owns one reference of each
    SSL_set_bio(client.get(), to_client, to_server);
    SSL_set_accept_state(server.get());
    SSL_set_connect_state(client.get());
    SSL_set_tlsext_host_name(client.get(), "bakeoff.test");
    if (resume) SSL_set_session(client.get(), resume);
    SSL_set_app_data(client.get(), keep);

    std::uint64_t server_ns = 0;
    bool server_done = false, client_done = false;
    for (int round = 0; round < 8 && !(server_done && client_done); ++round) {
        if (!client_done) {
            int r = SSL_do_handshake(client.get());
            if (r == 1)
                client_done = true;
            else if (SSL_get_error(client.get(), r) != SSL_ERROR_WANT_READ)
                die("client handshake");
        }
        if (!server_done) {
            std::uint64_t start = thread_cpu_ns();
            int r = SSL_do_handshake(server.get());
            server_ns += thread_cpu_ns() - start;
            if (r == 1)
                server_done = true;
            else if (SSL_get_error(server.get(), r) != SSL_ERROR_WANT_READ)
                die("server handshake");
        }
    }
    if (!server_done || !client_done) die("handshake (did not finish)");
    if (resume && !SSL_session_reused(server.get())) die("resumption (session not reused)");

    static const char kReply[] = "HTTP/1.1 204 No Content\r\n\r\n";
    std::uint64_t start = thread_cpu_ns();
    if (SSL_write(server.get(), kReply, sizeof kReply - 1) <= 0) die("server SSL_write");
    SSL_shutdown(server.get());  // close_notify, as a proxy closing the connection sends
    server_ns += thread_cpu_ns() - start;
    char buf[256];
    if (SSL_read(client.get(), buf, sizeof buf) <= 0) die("client SSL_read");
    // A connection freed without a shutdown makes its session unresumable; this one ended with
    // the server's close_notify, so the client's side is marked closed too.
    SSL_set_shutdown(client.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    return server_ns;
}

struct Stack {
    CtxPtr ecdsa = server_context(KeyKind::ecdsa_p256);
    CtxPtr rsa = server_context(KeyKind::rsa_2048);
    CtxPtr client = client_context();
};

Stack& stack() {
    static Stack s;  // contexts built once, shared by every thread (as the proxy's workers do)
    return s;
}

void report(benchmark::State& state, std::uint64_t server_ns) {
    state.counters["server_us"] = benchmark::Counter(
        static_cast<double>(server_ns) / 1000.0 / static_cast<double>(state.iterations()),
        benchmark::Counter::kAvgThreads);
}

void full(benchmark::State& state, KeyKind kind) {
    Stack& s = stack();
    SSL_CTX* server_ctx = kind == KeyKind::ecdsa_p256 ? s.ecdsa.get() : s.rsa.get();
    std::uint64_t server_ns = 0;
    for (auto _ : state) server_ns += connection(server_ctx, s.client.get(), nullptr, nullptr);
    report(state, server_ns);
}

void full_ecdsa_p256(benchmark::State& state) {
    full(state, KeyKind::ecdsa_p256);
}
void full_rsa_2048(benchmark::State& state) {
    full(state, KeyKind::rsa_2048);
}

void resumed_ecdsa_p256(benchmark::State& state) {
    Stack& s = stack();
    SessionPtr session;
    connection(s.ecdsa.get(), s.client.get(), nullptr, &session);
    std::uint64_t server_ns = 0;
    for (auto _ : state) {
        // Each resumption gets the ticket the previous one issued, as a returning browser does.
        server_ns += connection(s.ecdsa.get(), s.client.get(), session.get(), &session);
    }
    report(state, server_ns);
}

const int kCores = static_cast<int>(std::thread::hardware_concurrency());

BENCHMARK(full_ecdsa_p256)->UseRealTime()->Threads(1)->Threads(kCores);
BENCHMARK(resumed_ecdsa_p256)->UseRealTime()->Threads(1)->Threads(kCores);
BENCHMARK(full_rsa_2048)->UseRealTime()->Threads(1)->Threads(kCores);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    benchmark::AddCustomContext("tls_library", OpenSSL_version(OPENSSL_VERSION));
    stack();  // keys and certificates made before any timing
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
