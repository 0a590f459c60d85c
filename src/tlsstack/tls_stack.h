#pragma once
// The TLS stack snibind was built with, and the few calls where the two it supports differ.
//
// -DSNIBIND_TLS=openssl (the default) builds on the system's OpenSSL 3, which Debian keeps
// patched; -DSNIBIND_TLS=boringssl on Debian's Android build of BoringSSL, whose handshakes cost
// about a third less CPU (bench/README.md, the bake-off) but which gets no security updates.
// Everything else in snibind calls the API the two share (OpenSSL 1.1's, which BoringSSL keeps);
// what one of them lacks or does differently is answered here, so no other file asks which
// stack it has.
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>

#if defined(SNIBIND_TLS_BORINGSSL) != defined(OPENSSL_IS_BORINGSSL)
#error "the OpenSSL headers found are not those of the TLS stack chosen (SNIBIND_TLS)"
#endif

namespace snibind::tlsstack {

#if defined(OPENSSL_IS_BORINGSSL)
inline constexpr bool kBoringSsl = true;
#else
inline constexpr bool kBoringSsl = false;
#endif

// An owned SSL_CTX (every part that builds a context holds it so).
struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// "OpenSSL 3.0.19 27 Jan 2026" or "BoringSSL, Debian android-libboringssl, API 17": the
// library actually in use, for `snibind --version`.
std::string library_version();

// Lets a context speak TLS 1.0 and 1.1 with SHA-1 signatures, as the legacy clients and backends
// of a lab do: OpenSSL's security level 0 (its default level 1 refuses them). BoringSSL has no
// levels: its protocol range alone decides.
void allow_legacy_algorithms(SSL_CTX* ctx);

// Frees an idle connection's record buffers (OpenSSL keeps those of the last read and write
// until SSL_free_buffers; it refuses while a buffer holds data). BoringSSL frees a buffer
// itself whenever it is empty, so there nothing is left to do.
void release_buffers(SSL* ssl);

// Sends the TLS 1.3 session tickets a server has queued. OpenSSL sends them with the handshake;
// BoringSSL holds them until the server's first write (so that a client that does not read
// cannot stall the server): without this, a client that closes, or resumes, without sending a
// request never gets a ticket. Called once a server's handshake is done. Best effort: what the
// socket does not take now goes out with the next write.
void flush_tickets(SSL* ssl);

// Whether `error` (from ERR_get_error after SSL_ERROR_SSL) means the peer closed the connection
// without a close_notify: OpenSSL 3 reports that as an error, BoringSSL as SSL_ERROR_SYSCALL
// with no errno, as OpenSSL 1.1 did.
bool is_unexpected_eof(unsigned long error);

// Why PKCS12_parse failed, from its `error`: a wrong password (a MAC that does not verify), input
// that is no PKCS#12 file at all (BoringSSL's d2i_PKCS12_bio accepts any bytes and leaves the
// parsing to PKCS12_parse), or something else.
enum class Pkcs12Failure { wrong_password, not_pkcs12, other };
Pkcs12Failure pkcs12_failure(unsigned long error);

// "P256", "P384", ... for an EC key, or its curve's short name when NIST has none; empty for
// other keys.
std::string ec_curve_name(EVP_PKEY* key);

// The key's algorithm as OpenSSL names it ("RSA", "EC", "ED25519"), for key types snibind has
// no finer name for.
std::string key_algorithm_name(EVP_PKEY* key);

// An ASN1_TIME as a time point (BoringSSL has no ASN1_TIME_to_tm; both have ASN1_TIME_diff).
std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* time);

}  // namespace snibind::tlsstack
