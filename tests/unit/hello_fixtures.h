#pragma once
// Real ClientHellos captured from real clients (tests/data/clienthello, made by
// scripts/capture-hellos.py), and the tools to derive split, fragmented and corrupted variants
// from those real bytes.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace snibind::test {

using Bytes = std::vector<std::uint8_t>;

struct Fixture {
    std::string file;    // "chromium.bin"
    std::string client;  // "Chromium 156..."
    std::string sni;     // as the client was told to send it; "" for none
    std::vector<std::string> alpn;
    Bytes bytes;
};

// Every capture listed in manifest.tsv.
const std::vector<Fixture>& fixtures();
const Fixture& fixture(const std::string& file);

// The handshake message (4-byte header + body) of a capture, record headers removed.
Bytes handshake_message(const Bytes& records);

// A ClientHello taken apart, so a test can change one piece and put it back together.
struct HelloParts {
    std::uint16_t legacy_version = 0x0303;
    Bytes random, session_id, cipher_suites, compression;
    bool has_extensions = true;
    std::vector<std::pair<std::uint16_t, Bytes>> extensions;

    static HelloParts parse(const Bytes& handshake_message);
    Bytes message() const;  // the handshake message, lengths recomputed
    Bytes* extension(std::uint16_t type);
    void remove(std::uint16_t type);
    void set_server_name(const std::string& name);  // replaces or adds a single host_name
};

// Wraps a handshake message into records of at most `fragment` bytes each.
Bytes records(const Bytes& message, std::size_t fragment = 16384, std::uint16_t version = 0x0301);
Bytes cat(Bytes a, const Bytes& b);

}  // namespace snibind::test
