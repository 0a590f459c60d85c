#pragma once
// ClientHellos for `snibind load`, built from real captures (tests/data/clienthello, embedded
// into the binary at build time): the server_name is substituted or removed, every enclosing
// length (extension list, handshake message, records) is recomputed, and a padding extension is
// resized as the captured client would (OpenSSL/BoringSSL pad hellos of 256-511 bytes to 512).
// Pure: no I/O.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace snibind::load {

using Bytes = std::vector<std::uint8_t>;

class HelloTemplate {
  public:
    // Parses a capture: one ClientHello in one or more TLS handshake records. On failure returns
    // nullopt and sets `error`.
    static std::optional<HelloTemplate> parse(std::span<const std::uint8_t> records,
                                              std::string& error);

    // The embedded captures by name: "chromium" (Chromium with a post-quantum key share,
    // ECH GREASE), "curl" (curl/OpenSSL, padded to 512 bytes), "openssl" (openssl s_client).
    static const HelloTemplate* builtin(std::string_view name);
    static std::vector<std::string_view> builtin_names();

    // The handshake message (4-byte header + body) naming `server_name`, or without the
    // server_name extension when it is nullopt. `out` is overwritten (its capacity reused).
    void build_message(std::optional<std::string_view> server_name, Bytes& out) const;
    // The bytes on the wire: the message cut into `records` TLS records of near-equal size
    // (at least 1, at most one per message byte).
    void build(std::optional<std::string_view> server_name, std::size_t records, Bytes& out) const;

    std::uint16_t record_version() const { return record_version_; }

  private:
    struct Extension {
        std::uint16_t type;
        Bytes data;
    };
    void append_extensions(std::optional<std::string_view> server_name, std::size_t padding,
                           Bytes& out) const;

    std::uint16_t record_version_ = 0x0301;
    Bytes head_;  // legacy_version, random, session_id, cipher_suites, compression_methods
    std::vector<Extension> extensions_;
    std::optional<std::size_t> sni_index_, padding_index_;
};

// `total` bytes cut into `parts` near-equal pieces (the first ones one byte longer), clamped to
// 1..total parts: the sizes of the writes that send them.
std::vector<std::size_t> split_sizes(std::size_t total, std::size_t parts);

}  // namespace snibind::load
