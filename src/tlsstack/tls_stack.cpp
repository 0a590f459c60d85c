#include "tlsstack/tls_stack.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>

#include <algorithm>
#include <memory>

namespace snibind::tlsstack {

std::string library_version() {
#if defined(OPENSSL_IS_BORINGSSL)
    return "BoringSSL, Debian android-libboringssl, API " + std::to_string(BORINGSSL_API_VERSION);
#else
    return OpenSSL_version(OPENSSL_VERSION);
#endif
}

void allow_legacy_algorithms([[maybe_unused]] SSL_CTX* ctx) {
#if !defined(OPENSSL_IS_BORINGSSL)
    SSL_CTX_set_security_level(ctx, 0);
#endif
}

void release_buffers([[maybe_unused]] SSL* ssl) {
#if !defined(OPENSSL_IS_BORINGSSL)
    SSL_free_buffers(ssl);
#endif
}

void flush_tickets([[maybe_unused]] SSL* ssl) {
#if defined(OPENSSL_IS_BORINGSSL)
    // A zero-byte write flushes them (BoringSSL's tls13_server.cc says so).
    SSL_write(ssl, "", 0);
    ERR_clear_error();
#endif
}

bool is_unexpected_eof([[maybe_unused]] unsigned long error) {
#if defined(OPENSSL_IS_BORINGSSL)
    return false;
#else
    return ERR_GET_LIB(error) == ERR_LIB_SSL &&
           ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#endif
}

Pkcs12Failure pkcs12_failure(unsigned long error) {
#if defined(OPENSSL_IS_BORINGSSL)
    if (ERR_GET_LIB(error) != ERR_LIB_PKCS8) return Pkcs12Failure::other;
    switch (ERR_GET_REASON(error)) {
        case PKCS8_R_INCORRECT_PASSWORD:
            return Pkcs12Failure::wrong_password;
        case PKCS8_R_BAD_PKCS12_DATA:
        case PKCS8_R_BAD_PKCS12_VERSION:
            return Pkcs12Failure::not_pkcs12;
        default:
            return Pkcs12Failure::other;
    }
#else
    return ERR_GET_LIB(error) == ERR_LIB_PKCS12 &&
                   ERR_GET_REASON(error) == PKCS12_R_MAC_VERIFY_FAILURE
               ? Pkcs12Failure::wrong_password
               : Pkcs12Failure::other;
#endif
}

std::string ec_curve_name(EVP_PKEY* key) {
    if (EVP_PKEY_base_id(key) != EVP_PKEY_EC) return {};
    int nid = NID_undef;
#if defined(OPENSSL_IS_BORINGSSL)
    if (const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key))
        nid = EC_GROUP_get_curve_name(EC_KEY_get0_group(ec));
#else
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &len)) nid = OBJ_txt2nid(group);
#endif
    if (nid == NID_undef) return {};
    const char* nist = EC_curve_nid2nist(nid);
    std::string curve = nist ? nist : OBJ_nid2sn(nid);
    std::erase(curve, '-');
    return curve;
}

std::string key_algorithm_name(EVP_PKEY* key) {
    const char* name = OBJ_nid2sn(EVP_PKEY_id(key));
    return name && EVP_PKEY_id(key) != NID_undef ? name : "unknown";
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* time) {
    // The distance from the epoch, which both stacks can compute exactly.
    std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> epoch(ASN1_TIME_set(nullptr, 0),
                                                                &ASN1_TIME_free);
    int days = 0;
    int seconds = 0;
    if (!time || !epoch || !ASN1_TIME_diff(&days, &seconds, epoch.get(), time)) return {};
    return std::chrono::system_clock::time_point{} + std::chrono::hours(24) * days +
           std::chrono::seconds(seconds);
}

}  // namespace snibind::tlsstack
