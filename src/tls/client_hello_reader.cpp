#include "tls/client_hello_reader.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace snibind {

namespace {

constexpr std::uint8_t kHandshakeRecord = 22;
constexpr std::uint8_t kClientHello = 1;
constexpr std::size_t kMaxRecordBody = 1u << 14;  // RFC 8446 5.1, RFC 5246 6.2.1

constexpr std::uint16_t kExtServerName = 0;
constexpr std::uint16_t kExtAlpn = 16;
constexpr std::uint16_t kExtPreSharedKey = 41;
constexpr std::uint16_t kExtSupportedVersions = 43;
constexpr std::uint16_t kExtEch = 0xfe0d;

// RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa.
constexpr bool is_grease(std::uint16_t v) {
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

const char* record_type_name(std::uint8_t t) {
    switch (t) {
        case 20:
            return "change_cipher_spec";
        case 21:
            return "alert";
        case 22:
            return "handshake";
        case 23:
            return "application_data";
        default:
            return "unknown";
    }
}

const char* handshake_type_name(std::uint8_t t) {
    switch (t) {
        case 0:
            return "hello_request";
        case 1:
            return "client_hello";
        case 2:
            return "server_hello";
        case 4:
            return "new_session_ticket";
        case 11:
            return "certificate";
        case 16:
            return "client_key_exchange";
        case 20:
            return "finished";
        default:
            return "unknown";
    }
}

// Bounds-checked big-endian reads over a span; every getter fails rather than read past the end.
class Cursor {
  public:
    explicit Cursor(std::span<const std::uint8_t> s) : s_(s) {}
    std::size_t remaining() const { return s_.size(); }
    bool empty() const { return s_.empty(); }
    [[gnu::always_inline]] bool u8(std::uint8_t& v) {
        if (s_.empty()) return false;
        v = s_[0];
        s_ = s_.subspan(1);
        return true;
    }
    [[gnu::always_inline]] bool u16(std::uint16_t& v) {
        if (s_.size() < 2) return false;
        v = static_cast<std::uint16_t>(s_[0] << 8 | s_[1]);
        s_ = s_.subspan(2);
        return true;
    }
    [[gnu::always_inline]] bool bytes(std::size_t n, std::span<const std::uint8_t>& out) {
        if (s_.size() < n) return false;
        out = s_.first(n);
        s_ = s_.subspan(n);
        return true;
    }

  private:
    std::span<const std::uint8_t> s_;
};

}  // namespace

std::string_view to_string(HelloResult r) {
    switch (r) {
        case HelloResult::need_more:
            return "need_more";
        case HelloResult::client_hello:
            return "client_hello";
        case HelloResult::not_tls:
            return "not_tls";
        case HelloResult::malformed:
            return "malformed";
        case HelloResult::incomplete:
            return "incomplete";
        case HelloResult::too_large:
            return "too_large";
    }
    return "malformed";
}

void ClientHello::reset() {
    has_sni_ = ech_ = sslv2_ = false;
    sni_problem_ = HostProblem::none;
    legacy_version_ = 0;
    sni_len_ = sni_full_len_ = host_len_ = 0;
    alpn_count_ = alpn_used_ = 0;
    version_count_ = 0;
}

ClientHelloReader::ClientHelloReader(ReaderOptions options) : options_(options) {
    options_.max_hello_bytes = std::min(options_.max_hello_bytes, kMaxHelloBytesLimit);
}

void ClientHelloReader::reset() {
    result_ = HelloResult::need_more;
    error_.clear();
    hello_.reset();
    progress_ = {};
    first_body_ = reads_ = 0;
    reassembly_.clear();
    hello_end_ = 0;
}

HelloResult ClientHelloReader::fail(HelloResult r, const char* fmt, ...) {
    char buf[160];
    std::va_list args;
    va_start(args, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    result_ = r;
    error_ = buf;
    return r;
}

HelloResult ClientHelloReader::finish() {
    if (result_ != HelloResult::need_more) return result_;
    if (progress_.pos == 0 && progress_.records == 0 && progress_.hs_have == 0) {
        return fail(HelloResult::incomplete, "the client sent nothing");
    }
    return fail(HelloResult::incomplete,
                "the connection ended after %zu bytes, before the ClientHello was complete",
                progress_.pos);
}

HelloResult ClientHelloReader::read(std::span<const std::uint8_t> received) {
    if (result_ != HelloResult::need_more) return result_;
    ++reads_;
    if (progress_.records == 0 && !received.empty() && received[0] != kHandshakeRecord) {
        if (received[0] & 0x80) return read_sslv2(received);
        auto b = received[0];
        if (b >= 20 && b <= 23) {
            return fail(HelloResult::not_tls, "the first record is %s (type %u), not a handshake",
                        record_type_name(b), unsigned{b});
        }
        if (b >= 0x20 && b < 0x7f) {
            return fail(HelloResult::not_tls,
                        "the first byte is 0x%02x ('%c'): plain text, not TLS", b, b);
        }
        return fail(HelloResult::not_tls, "the first byte is 0x%02x, not a TLS record type", b);
    }

    // Updating the members in place made every step wait on store forwarding (GCC merges pairs
    // of them into 16-byte loads): work on a copy and store it back on the way out.
    struct StoreBack {
        Progress& from;
        Progress& to;
        ~StoreBack() { to = from; }
    };
    Progress p = progress_;
    StoreBack store_back{p, progress_};
    for (;;) {
        if (p.record_left == 0) {
            if (received.size() - p.pos < 5) {
                if (p.records == 0 && received.size() >= 2 && received[1] != 3) {
                    return fail(HelloResult::not_tls, "record version 0x%02x.. is not TLS",
                                received[1]);
                }
                return HelloResult::need_more;
            }
            const std::uint8_t* h = received.data() + p.pos;
            std::size_t length = std::size_t{h[3]} << 8 | h[4];
            if (p.records == 0 && h[1] != 3) {
                return fail(HelloResult::not_tls, "record version 0x%02x%02x is not TLS", h[1],
                            h[2]);
            }
            if (h[0] != kHandshakeRecord) {
                return fail(HelloResult::malformed,
                            "a %s record (type %u) arrived between fragments of the "
                            "ClientHello",
                            record_type_name(h[0]), unsigned{h[0]});
            }
            if (h[1] != 3) {
                return fail(HelloResult::malformed, "record %zu has version 0x%02x%02x",
                            p.records + 1, h[1], h[2]);
            }
            if (length == 0) return fail(HelloResult::malformed, "zero-length handshake record");
            if (length > kMaxRecordBody) {
                return fail(HelloResult::malformed,
                            "record length %zu exceeds the TLS limit of 16384", length);
            }
            if (p.records == options_.max_records) {
                return fail(HelloResult::too_large,
                            "the ClientHello is split into more than %zu records",
                            options_.max_records);
            }
            ++p.records;
            p.pos += 5;
            p.record_left = length;
            if (p.records == 1) {
                first_body_ = p.pos;
            } else if (p.records == 2) {
                // The hello spans records: from now on it is reassembled in one buffer.
                reassembly_.assign(
                    received.begin() + static_cast<std::ptrdiff_t>(first_body_),
                    received.begin() + static_cast<std::ptrdiff_t>(first_body_ + p.hs_have));
                if (p.hs_total != 0) reassembly_.reserve(p.hs_total);
            }
        }

        std::size_t available = std::min(received.size() - p.pos, p.record_left);
        if (available == 0) return HelloResult::need_more;
        const std::uint8_t* chunk = received.data() + p.pos;
        std::size_t take = p.hs_total == 0 ? std::min(available, 4 - p.hs_have)
                                           : std::min(available, p.hs_total - p.hs_have);
        for (std::size_t i = 0; p.hs_have + i < 4 && i < take; ++i)
            hs_header_[p.hs_have + i] = chunk[i];
        if (p.records >= 2) reassembly_.insert(reassembly_.end(), chunk, chunk + take);
        p.hs_have += take;
        p.pos += take;
        p.record_left -= take;

        if (p.hs_total == 0 && p.hs_have == 4) {
            if (hs_header_[0] != kClientHello) {
                return fail(HelloResult::malformed,
                            "handshake message %s (type %u), not a ClientHello",
                            handshake_type_name(hs_header_[0]), unsigned{hs_header_[0]});
            }
            std::size_t length =
                std::size_t{hs_header_[1]} << 16 | std::size_t{hs_header_[2]} << 8 | hs_header_[3];
            if (4 + length > options_.max_hello_bytes) {
                return fail(HelloResult::too_large,
                            "ClientHello of %zu bytes exceeds max_hello_bytes (%zu)", 4 + length,
                            options_.max_hello_bytes);
            }
            p.hs_total = 4 + length;
            if (p.records >= 2) reassembly_.reserve(p.hs_total);
        }
        if (p.hs_total != 0 && p.hs_have == p.hs_total) {
            hello_end_ = p.pos;
            std::span<const std::uint8_t> message =
                p.records == 1 ? received.subspan(first_body_, p.hs_total)
                               : std::span<const std::uint8_t>(reassembly_);
            return parse_body(message.subspan(4));
        }
    }
}

// The SSLv2-compatible ClientHello (RFC 5246 appendix E.2): a 2-byte header with the top bit set,
// then msg_type 1. It cannot carry extensions, so it never has SNI; it is not an error.
HelloResult ClientHelloReader::read_sslv2(std::span<const std::uint8_t> received) {
    if (received.size() < 3) return HelloResult::need_more;
    if (received[2] != kClientHello) {
        return fail(HelloResult::not_tls, "the first byte is 0x%02x, not a TLS record type",
                    received[0]);
    }
    std::size_t length = std::size_t{received[0] & 0x7fu} << 8 | received[1];
    if (length > options_.max_hello_bytes) {
        return fail(HelloResult::too_large,
                    "SSLv2-format ClientHello of %zu bytes exceeds max_hello_bytes (%zu)", length,
                    options_.max_hello_bytes);
    }
    if (received.size() < 2 + length) return HelloResult::need_more;
    Cursor c(received.subspan(3, length - 1));
    std::uint16_t version = 0, cipher_len = 0, session_len = 0, challenge_len = 0;
    if (length < 9 || !c.u16(version) || !c.u16(cipher_len) || !c.u16(session_len) ||
        !c.u16(challenge_len)) {
        return fail(HelloResult::malformed, "SSLv2-format ClientHello too short");
    }
    if (cipher_len == 0 || cipher_len % 3 != 0 || (session_len != 0 && session_len != 16) ||
        challenge_len < 16 || challenge_len > 32 ||
        std::size_t{cipher_len} + session_len + challenge_len != c.remaining()) {
        return fail(HelloResult::malformed, "SSLv2-format ClientHello has inconsistent lengths");
    }
    hello_.sslv2_ = true;
    hello_.legacy_version_ = version;
    hello_.versions_[0] = version;
    hello_.version_count_ = 1;
    progress_.records = 1;
    hello_end_ = 2 + length;
    result_ = HelloResult::client_hello;
    return result_;
}

HelloResult ClientHelloReader::parse_body(std::span<const std::uint8_t> body) {
    Cursor c(body);
    std::span<const std::uint8_t> skipped;
    std::uint8_t session_len = 0, compression_len = 0;
    std::uint16_t cipher_len = 0;
    if (!c.u16(hello_.legacy_version_) || !c.bytes(32, skipped)) {
        return fail(HelloResult::malformed, "ClientHello too short for its version and random");
    }
    if (!c.u8(session_len) || session_len > 32 || !c.bytes(session_len, skipped)) {
        return fail(HelloResult::malformed, "session id of %u bytes (at most 32)",
                    unsigned{session_len});
    }
    if (!c.u16(cipher_len) || cipher_len == 0 || cipher_len % 2 != 0 ||
        !c.bytes(cipher_len, skipped)) {
        return fail(HelloResult::malformed, "cipher suites length %u is zero, odd or past the end",
                    unsigned{cipher_len});
    }
    if (!c.u8(compression_len) || compression_len == 0 || !c.bytes(compression_len, skipped)) {
        return fail(HelloResult::malformed, "no compression methods");
    }

    if (!c.empty()) {
        std::uint16_t extensions_len = 0;
        if (!c.u16(extensions_len))
            return fail(HelloResult::malformed, "truncated extensions length");
        if (extensions_len != c.remaining()) {
            // Trailing bytes after the extensions are refused too, as OpenSSL refuses them.
            return fail(HelloResult::malformed,
                        "extensions length %u but %zu bytes remain in the ClientHello",
                        unsigned{extensions_len}, c.remaining());
        }
        // Duplicate detection: a bit per type below 128, a short list for the rest. The bits are
        // two scalars, not an array: an array indexed by type / 64 lives on the stack, and each
        // extension then waited on the previous one's store.
        std::uint64_t seen_0_63 = 0, seen_64_127 = 0;
        std::array<std::uint16_t, 32> seen_high{};
        std::size_t high_count = 0;
        bool after_psk = false;
        while (!c.empty()) {
            std::uint16_t type = 0, len = 0;
            std::span<const std::uint8_t> data;
            if (!c.u16(type) || !c.u16(len)) {
                return fail(HelloResult::malformed, "truncated extension header");
            }
            if (!c.bytes(len, data)) {
                return fail(HelloResult::malformed,
                            "extension 0x%04x of %u bytes runs past the extensions block",
                            unsigned{type}, unsigned{len});
            }
            if (is_grease(type)) continue;
            bool duplicate = false;
            if (type < 128) {
                const std::uint64_t bit = std::uint64_t{1} << (type % 64);
                if (type < 64) {
                    duplicate = (seen_0_63 & bit) != 0;
                    seen_0_63 |= bit;
                } else {
                    duplicate = (seen_64_127 & bit) != 0;
                    seen_64_127 |= bit;
                }
            } else {
                duplicate = std::find(seen_high.begin(), seen_high.begin() + high_count, type) !=
                            seen_high.begin() + high_count;
                if (!duplicate && high_count < seen_high.size()) seen_high[high_count++] = type;
            }
            if (duplicate) {
                return fail(HelloResult::malformed, "extension 0x%04x appears twice",
                            unsigned{type});
            }
            if (after_psk) {
                return fail(HelloResult::malformed,
                            "pre_shared_key is not the last extension (RFC 8446 4.2.11)");
            }
            HelloResult r = HelloResult::client_hello;
            switch (type) {
                case kExtServerName:
                    r = parse_server_name(data);
                    break;
                case kExtAlpn:
                    r = parse_alpn(data);
                    break;
                case kExtSupportedVersions:
                    r = parse_supported_versions(data);
                    break;
                case kExtEch:
                    hello_.ech_ = true;
                    break;
                case kExtPreSharedKey:
                    after_psk = true;
                    break;
                default:
                    break;
            }
            if (r != HelloResult::client_hello) return r;
        }
    }
    if (hello_.version_count_ == 0) {
        hello_.versions_[0] = hello_.legacy_version_;
        hello_.version_count_ = 1;
    }
    result_ = HelloResult::client_hello;
    return result_;
}

// RFC 6066 section 3. Like OpenSSL, only a list holding exactly one host_name entry is accepted:
// other name types were never defined, and OpenSSL aborts such a handshake anyway.
HelloResult ClientHelloReader::parse_server_name(std::span<const std::uint8_t> ext) {
    Cursor c(ext);
    std::uint16_t list_len = 0, name_len = 0;
    std::uint8_t name_type = 0;
    std::span<const std::uint8_t> name;
    if (!c.u16(list_len) || list_len != c.remaining()) {
        return fail(HelloResult::malformed,
                    "server_name list length disagrees with the extension length");
    }
    if (list_len == 0) return fail(HelloResult::malformed, "empty server_name list");
    if (!c.u8(name_type) || name_type != 0) {
        return fail(HelloResult::malformed,
                    "server_name entry of type %u: only host_name (0) is defined",
                    unsigned{name_type});
    }
    if (!c.u16(name_len) || !c.bytes(name_len, name)) {
        return fail(HelloResult::malformed, "server_name entry runs past the extension");
    }
    if (!c.empty()) {
        return fail(HelloResult::malformed,
                    "more than one server_name entry (RFC 6066 allows one host_name)");
    }
    auto& h = hello_;
    h.has_sni_ = true;
    h.sni_full_len_ = name.size();
    h.sni_len_ = std::min(name.size(), ClientHello::kMaxName);
    std::copy_n(name.begin(), h.sni_len_, h.sni_.begin());
    const std::string_view sent(reinterpret_cast<const char*>(name.data()), name.size());
    h.sni_problem_ = name.size() > ClientHello::kMaxName
                         ? HostProblem::too_long
                         : normalise_sni(sent, options_.trailing_dot, h.host_, h.host_len_);
    if (h.sni_problem_ != HostProblem::none) h.host_len_ = 0;
    return HelloResult::client_hello;
}

HelloResult ClientHelloReader::parse_alpn(std::span<const std::uint8_t> ext) {
    Cursor c(ext);
    std::uint16_t list_len = 0;
    if (!c.u16(list_len) || list_len != c.remaining() || list_len == 0) {
        return fail(HelloResult::malformed,
                    "ALPN list length is zero or disagrees with the extension");
    }
    while (!c.empty()) {
        std::uint8_t len = 0;
        std::span<const std::uint8_t> proto;
        if (!c.u8(len) || len == 0 || !c.bytes(len, proto)) {
            return fail(HelloResult::malformed,
                        "ALPN protocol name is empty or runs past the list");
        }
        auto& h = hello_;
        if (h.alpn_count_ < ClientHello::kMaxAlpn &&
            h.alpn_used_ + len <= ClientHello::kMaxAlpnBytes) {
            h.alpn_offset_[h.alpn_count_] = static_cast<std::uint16_t>(h.alpn_used_);
            h.alpn_len_[h.alpn_count_] = len;
            std::copy(proto.begin(), proto.end(),
                      h.alpn_bytes_.begin() + static_cast<std::ptrdiff_t>(h.alpn_used_));
            h.alpn_used_ += len;
            ++h.alpn_count_;
        }
    }
    return HelloResult::client_hello;
}

HelloResult ClientHelloReader::parse_supported_versions(std::span<const std::uint8_t> ext) {
    Cursor c(ext);
    std::uint8_t list_len = 0;
    if (!c.u8(list_len) || list_len != c.remaining() || list_len < 2 || list_len % 2 != 0) {
        return fail(HelloResult::malformed, "supported_versions list length is invalid");
    }
    while (!c.empty()) {
        std::uint16_t v = 0;
        c.u16(v);
        if (!is_grease(v) && hello_.version_count_ < ClientHello::kMaxVersions) {
            hello_.versions_[hello_.version_count_++] = v;
        }
    }
    return HelloResult::client_hello;
}

}  // namespace snibind
