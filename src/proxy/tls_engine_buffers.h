#pragma once
// asio::ssl::stream keeps two 17 KiB buffers for its whole life (what it reads from and writes
// to the socket), zero-filled, so resident, and a BIO pair between it and OpenSSL with two more:
// the largest part of what an idle terminated connection costs. No one uses them while no operation
// on the stream is under way, so a connection that waits for its next request on the socket itself
// parks them (frees them) and gets them back before its next operation on the stream. Asio offers
// no way to do this: the buffers live in the stream's private core_, reached here the one way the
// language allows (an explicit instantiation may name a private member, [temp.spec.general]).
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/version.hpp>

namespace snibind::proxy {

// Checked against Boost 1.81's ssl::detail::stream_core and engine (Debian 12's Boost): another
// Boost must be read again before this builds.
static_assert(BOOST_VERSION / 100 == 1081, "tls_engine_buffers.h relies on Boost 1.81 internals");

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

namespace detail {
boost::asio::ssl::detail::stream_core& stream_core(TlsStream& stream);
template <boost::asio::ssl::detail::stream_core TlsStream::*Core>
struct StreamCoreAccess {
    friend boost::asio::ssl::detail::stream_core& stream_core(TlsStream& stream) {
        return stream.*Core;
    }
};
template struct StreamCoreAccess<&TlsStream::core_>;

BIO*& external_bio(boost::asio::ssl::detail::engine& engine);
template <BIO* boost::asio::ssl::detail::engine::*Bio>
struct EngineBioAccess {
    friend BIO*& external_bio(boost::asio::ssl::detail::engine& engine) { return engine.*Bio; }
};
template struct EngineBioAccess<&boost::asio::ssl::detail::engine::ext_bio_>;
}  // namespace detail

class TlsEngineBuffers {
  public:
    // Whether bytes the stream has read from the socket still wait to be decrypted (in Asio's
    // input buffer, the BIO pair or OpenSSL's record buffer): then waiting on the socket for
    // more would wait for nothing, and the stream must be read instead.
    static bool input_pending(TlsStream& stream) {
        SSL* ssl = stream.native_handle();
        return detail::stream_core(stream).input_.size() != 0 || SSL_has_pending(ssl) ||
               BIO_ctrl_pending(SSL_get_rbio(ssl)) != 0;
    }

    // Frees the stream's buffers, the BIO pair's and OpenSSL's record buffers. Only with no
    // operation under way and nothing input_pending.
    static void park(TlsStream& stream) {
        SSL* ssl = stream.native_handle();
        SSL_free_buffers(ssl);
        auto& core = detail::stream_core(stream);
        std::vector<unsigned char>().swap(core.input_buffer_space_);
        std::vector<unsigned char>().swap(core.output_buffer_space_);
        core.input_buffer_ = boost::asio::mutable_buffer();
        core.output_buffer_ = boost::asio::mutable_buffer();
        // An unpaired BIO frees its buffer when given a new size; pairing allocates it again.
        // Operations end with their output sent, so the pair is empty both ways (checked all
        // the same: unpairing drops what it holds).
        BIO* internal = SSL_get_rbio(ssl);
        BIO* external = detail::external_bio(core.engine_);
        if (BIO_ctrl_pending(external) == 0 && BIO_destroy_bio_pair(internal) == 1) {
            BIO_set_write_buf_size(internal, kParkedBioSize);
            BIO_set_write_buf_size(external, kParkedBioSize);
        }
    }

    // Gives the stream its buffers back, if parked; before any operation on it.
    static void unpark(TlsStream& stream) {
        auto& core = detail::stream_core(stream);
        if (core.input_buffer_space_.empty()) {
            core.input_buffer_space_.resize(core.max_tls_record_size);
            core.output_buffer_space_.resize(core.max_tls_record_size);
            core.input_buffer_ = boost::asio::buffer(core.input_buffer_space_);
            core.output_buffer_ = boost::asio::buffer(core.output_buffer_space_);
        }
        BIO* internal = SSL_get_rbio(stream.native_handle());
        if (BIO_get_write_buf_size(internal, 0) != kParkedBioSize) return;
        BIO* external = detail::external_bio(core.engine_);
        // The size Asio asked for (0: OpenSSL's default, 17 KiB, one record).
        BIO_set_write_buf_size(internal, core.max_tls_record_size);
        BIO_set_write_buf_size(external, core.max_tls_record_size);
        BIO_make_bio_pair(internal, external);
    }

  private:
    static constexpr long kParkedBioSize = 1;
};

}  // namespace snibind::proxy
