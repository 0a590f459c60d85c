#pragma once
// Reads a TLS ClientHello without decrypting anything (src/tls/README.md).
//
// The reader is incremental: the caller keeps every byte it has received in one append-only
// buffer and calls read() after each socket read with the whole buffer. The reader resumes where
// it stopped (it never re-scans), follows the record layer across any number of reads and
// records, and parses the ClientHello body once, when the whole handshake message is in. It never
// sizes a buffer from an unchecked length: lengths are checked against the configured cap first.
//
// Everything it reports lives inside the reader (fixed-size storage), so a reader per connection
// costs no heap allocation unless the hello spans several records, which needs one reassembly
// buffer bounded by the cap.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tls/host_name.h"

namespace snibind {

enum class HelloResult {
    need_more,     // keep reading
    client_hello,  // a complete ClientHello was read
    not_tls,       // the first bytes are not a TLS handshake record (plain HTTP, alert, ...)
    malformed,     // TLS, but broken: see error()
    incomplete,    // finish() was called before the hello was complete (EOF or deadline)
    too_large,     // the hello (or its record overhead) exceeds the cap
};

std::string_view to_string(HelloResult r);  // "client_hello", "not_tls", ...

struct ReaderOptions {
    std::size_t max_hello_bytes = 16 * 1024;  // the handshake message; at most 64 KiB
    std::size_t max_records = 1024;           // records the hello may be split into
    TrailingDot trailing_dot = TrailingDot::strip;
};

inline constexpr std::size_t kMaxHelloBytesLimit = 64 * 1024;

// What the reader found. Valid once read() returned client_hello.
class ClientHello {
  public:
    static constexpr std::size_t kMaxName = kMaxSniBytes;  // longer SNI is kept truncated
    static constexpr std::size_t kMaxAlpn = 16;            // ALPN protocols kept
    static constexpr std::size_t kMaxAlpnBytes = 512;
    static constexpr std::size_t kMaxVersions = 16;

    bool has_sni() const { return has_sni_; }
    // The server_name exactly as sent (at most kMaxName bytes of it).
    std::string_view sni() const { return {sni_.data(), sni_len_}; }
    std::size_t sni_length() const { return sni_full_len_; }
    // The normalised lookup host (L6), empty when there is none; then sni_problem() says why.
    std::string_view host() const { return {host_.data(), host_len_}; }
    HostProblem sni_problem() const { return sni_problem_; }

    std::size_t alpn_count() const { return alpn_count_; }
    std::string_view alpn(std::size_t i) const {
        return {alpn_bytes_.data() + alpn_offset_[i], alpn_len_[i]};
    }
    // Offered versions in the client's order, GREASE removed: supported_versions when present,
    // else the legacy version field. 0x0304 = TLS 1.3, 0x0301 = TLS 1.0, 0x0002 = SSL 2.
    std::span<const std::uint16_t> versions() const { return {versions_.data(), version_count_}; }
    std::uint16_t legacy_version() const { return legacy_version_; }
    // An encrypted_client_hello extension (0xfe0d) was present. Real ECH and Chrome's GREASE ECH
    // look alike without the keys; neither changes routing, which uses the outer server_name.
    bool ech() const { return ech_; }
    // The hello used the SSLv2-compatible format (no extensions, so never SNI).
    bool sslv2_format() const { return sslv2_; }

  private:
    friend class ClientHelloReader;
    void reset();

    bool has_sni_ = false;
    bool ech_ = false;
    bool sslv2_ = false;
    HostProblem sni_problem_ = HostProblem::none;
    std::uint16_t legacy_version_ = 0;
    std::size_t sni_len_ = 0, sni_full_len_ = 0;
    std::array<char, kMaxName> sni_{};
    std::size_t host_len_ = 0;
    std::array<char, kMaxName> host_{};
    std::size_t alpn_count_ = 0, alpn_used_ = 0;
    std::array<std::uint16_t, kMaxAlpn> alpn_offset_{}, alpn_len_{};
    std::array<char, kMaxAlpnBytes> alpn_bytes_{};
    std::size_t version_count_ = 0;
    std::array<std::uint16_t, kMaxVersions> versions_{};
};

class ClientHelloReader {
  public:
    explicit ClientHelloReader(ReaderOptions options = {});

    // `received` is every byte received so far; it only ever grows at the end between calls.
    // Returns need_more until the result is known; after that returns the same result.
    HelloResult read(std::span<const std::uint8_t> received);
    // No more bytes will arrive (the peer closed, or the hello deadline passed).
    HelloResult finish();
    // Back to the initial state, keeping allocated capacity (for reuse across connections).
    void reset();

    HelloResult result() const { return result_; }
    const std::string& error() const { return error_; }
    const ClientHello& hello() const { return hello_; }
    // Bytes of `received` up to the end of the hello; anything after it (a TLS 1.3 compatibility
    // ChangeCipherSpec, early data) is the caller's to replay.
    std::size_t hello_end() const { return hello_end_; }
    std::size_t records() const { return progress_.records; }
    std::size_t reads() const { return reads_; }

  private:
    // Formats the error only on failure, out of the hot path (the format string is printf's).
    [[gnu::cold, gnu::noinline, gnu::format(printf, 3, 4)]] HelloResult fail(HelloResult r,
                                                                             const char* fmt, ...);
    HelloResult read_sslv2(std::span<const std::uint8_t> received);
    HelloResult parse_body(std::span<const std::uint8_t> body);
    HelloResult parse_server_name(std::span<const std::uint8_t> ext);
    HelloResult parse_alpn(std::span<const std::uint8_t> ext);
    HelloResult parse_supported_versions(std::span<const std::uint8_t> ext);

    ReaderOptions options_;
    HelloResult result_ = HelloResult::need_more;
    std::string error_;
    ClientHello hello_;

    // Where the record layer stands between reads. read() works on a copy in registers and
    // stores it back once.
    struct Progress {
        std::size_t pos = 0;          // next unread byte of `received`
        std::size_t record_left = 0;  // body bytes of the current record still to come
        std::size_t records = 0;
        std::size_t hs_have = 0;   // handshake bytes seen so far
        std::size_t hs_total = 0;  // 4 + handshake length, once the header is in
    };
    Progress progress_;
    std::size_t first_body_ = 0;  // offset of the first record's body
    std::size_t reads_ = 0;
    std::array<std::uint8_t, 4> hs_header_{};
    std::vector<std::uint8_t> reassembly_;  // used only when the hello spans records
    std::size_t hello_end_ = 0;
};

}  // namespace snibind
