#include "proxy_protocol/proxy_header.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace snibind::proxy {

namespace {

using Bytes = std::span<const std::uint8_t>;

// Every check below must be monotone in the bytes received: once a prefix is invalid, every
// longer input is too, and a header once done stays done. That is what lets read() re-examine
// the caller's growing buffer and give the same answer however the bytes were split into reads.

std::string_view as_text(Bytes data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// True when `have` is a prefix of `want` or `want` is a prefix of `have`.
bool agrees_with(std::string_view have, std::string_view want) {
    auto n = std::min(have.size(), want.size());
    return have.substr(0, n) == want.substr(0, n);
}

// ---- version 1 ---------------------------------------------------------------------------------

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::size_t kV1MaxLength = 107;  // CRLF included
// "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", the longest text inet_pton accepts.
constexpr std::size_t kMaxAddressText = 45;
constexpr std::size_t kMaxPortText = 5;

enum class V1Family : std::uint8_t { tcp4, tcp6 };

struct Check {
    ProxyHeaderResult result;
    std::string_view error;
};
constexpr Check kNeedMore{ProxyHeaderResult::need_more, {}};
constexpr Check kDone{ProxyHeaderResult::done, {}};
Check invalid(std::string_view why) {
    return {ProxyHeaderResult::invalid, why};
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_address_char(char c, V1Family family) {
    bool digit = is_digit(c);
    if (family == V1Family::tcp4) return digit || c == '.';
    bool hex = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    return digit || hex || c == ':' || c == '.';  // '.' for an embedded IPv4 tail
}

std::optional<IpAddress> parse_v1_address(std::string_view text, V1Family family) {
    // The character check keeps out the brackets IpAddress::parse would accept.
    if (!std::all_of(text.begin(), text.end(), [&](char c) { return is_address_char(c, family); }))
        return std::nullopt;
    bool has_colon = text.find(':') != std::string_view::npos;
    if (has_colon != (family == V1Family::tcp6)) return std::nullopt;
    return IpAddress::parse(text);
}

// A decimal 0-65535 as the spec writes it: digits only, no sign, no leading zero.
std::optional<std::uint16_t> parse_v1_port(std::string_view text) {
    if (text.empty() || text.size() > kMaxPortText) return std::nullopt;
    if (text.size() > 1 && text.front() == '0') return std::nullopt;
    if (!std::all_of(text.begin(), text.end(), is_digit)) return std::nullopt;
    unsigned value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    if (value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// Fields 0 and 1 are the addresses, 2 and 3 the ports.
std::string_view field_error(std::size_t index) {
    return index < 2 ? "v1 header has a malformed address" : "v1 header has a malformed port";
}

// A field not yet ended by a space or the CRLF: could more bytes still make it valid?
bool could_become_field(std::string_view text, std::size_t index, V1Family family) {
    if (index < 2) {
        return text.size() <= kMaxAddressText && std::all_of(text.begin(), text.end(), [&](char c) {
                   return is_address_char(c, family);
               });
    }
    return text.size() <= kMaxPortText && std::all_of(text.begin(), text.end(), is_digit) &&
           !(text.size() > 1 && text.front() == '0');
}

// The fields after "PROXY TCP4 ": "src dst sport dport", single spaces. `complete` when `text`
// ran up to the CRLF; otherwise the last field may still be growing.
Check read_v1_fields(std::string_view text, V1Family family, bool complete, ProxyHeader& out) {
    std::optional<IpAddress> addr[2];
    std::optional<std::uint16_t> port[2];
    for (std::size_t index = 0;; ++index) {
        if (index == 4) return invalid("v1 header has more than four fields");
        auto space = text.find(' ');
        bool last = space == std::string_view::npos;
        auto field = text.substr(0, space);
        if (last && !complete) {
            return could_become_field(field, index, family) ? kNeedMore
                                                            : invalid(field_error(index));
        }
        bool ok = index < 2 ? (addr[index] = parse_v1_address(field, family)).has_value()
                            : (port[index - 2] = parse_v1_port(field)).has_value();
        if (!ok) return invalid(field_error(index));
        if (last) {
            if (index != 3) return invalid("v1 header does not have four fields");
            break;
        }
        text.remove_prefix(space + 1);
    }
    out.src = {*addr[0], *port[0]};
    out.dst = {*addr[1], *port[1]};
    return kDone;
}

// `line` is everything after "PROXY " up to the CRLF (complete) or the end of the data.
Check read_v1_line(std::string_view line, bool complete, ProxyHeader& out) {
    static constexpr std::string_view kTcp4 = "TCP4 ", kTcp6 = "TCP6 ", kUnknown = "UNKNOWN";
    if (line.starts_with(kTcp4) || line.starts_with(kTcp6)) {
        auto family = line.starts_with(kTcp4) ? V1Family::tcp4 : V1Family::tcp6;
        return read_v1_fields(line.substr(kTcp4.size()), family, complete, out);
    }
    if (line.starts_with(kUnknown)) {
        // The spec has the receiver ignore whatever follows UNKNOWN, but it is a separate word.
        auto rest = line.substr(kUnknown.size());
        if (!rest.empty() && rest.front() != ' ')
            return invalid("v1 header has an unknown protocol");
        if (!complete) return kNeedMore;
        out.local = true;
        return kDone;
    }
    bool prefix_of_one = !complete && (agrees_with(line, kTcp4) || agrees_with(line, kTcp6) ||
                                       agrees_with(line, kUnknown));
    return prefix_of_one ? kNeedMore : invalid("v1 header has an unknown protocol");
}

Check read_v1(Bytes data, ProxyHeader& out) {
    auto text = as_text(data);
    if (!agrees_with(text, kV1Prefix)) return invalid("not a PROXY header");
    if (text.size() < kV1Prefix.size()) return kNeedMore;

    auto window = text.substr(0, kV1MaxLength);
    auto crlf = window.find("\r\n");
    if (crlf == std::string_view::npos) {
        // A malformed field is reported before the missing CRLF, so that the reason does not
        // depend on how much had arrived. A CR at the very end may be the start of the CRLF.
        auto partial = window.substr(kV1Prefix.size());
        if (partial.ends_with('\r')) partial.remove_suffix(1);
        Check so_far = read_v1_line(partial, false, out);
        if (so_far.result == ProxyHeaderResult::need_more && text.size() >= kV1MaxLength)
            return invalid("v1 header has no CRLF within 107 bytes");
        return so_far;
    }
    out.version = ProxyVersion::v1;
    out.length = crlf + 2;
    return read_v1_line(window.substr(kV1Prefix.size(), crlf - kV1Prefix.size()), true, out);
}

// ---- version 2 ---------------------------------------------------------------------------------

constexpr std::uint8_t kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                           0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
// After the signature: ver_cmd, fam, then the big-endian length of what follows these 16 bytes.
constexpr std::size_t kVerCmdAt = 12, kFamAt = 13, kLengthAt = 14, kV2FixedLength = 16;
constexpr std::uint8_t kCommandLocal = 0x0, kCommandProxy = 0x1;
constexpr std::uint8_t kFamilyInet = 0x1, kFamilyInet6 = 0x2, kFamilyUnix = 0x3;
constexpr std::uint8_t kProtocolStream = 0x1, kProtocolDgram = 0x2;
constexpr std::size_t kInetBlock = 4 + 4 + 2 + 2;
constexpr std::size_t kInet6Block = 16 + 16 + 2 + 2;

std::uint16_t read_u16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

IpAddress read_v4(const std::uint8_t* p) {
    return IpAddress::from_v4(static_cast<std::uint32_t>(p[0]) << 24 |
                              static_cast<std::uint32_t>(p[1]) << 16 |
                              static_cast<std::uint32_t>(p[2]) << 8 | p[3]);
}

IpAddress read_v6(const std::uint8_t* p) {
    std::uint8_t raw[16];
    std::memcpy(raw, p, sizeof raw);
    return IpAddress::from_v6(raw);  // folds ::ffff:a.b.c.d to IPv4, as HTTP.sys would (S3)
}

// Size of the address block the header must carry, or 0 when its addresses are not used.
std::size_t address_block_size(std::uint8_t command, std::uint8_t family, std::uint8_t protocol) {
    if (command != kCommandProxy || protocol != kProtocolStream) return 0;
    if (family == kFamilyInet) return kInetBlock;
    if (family == kFamilyInet6) return kInet6Block;
    return 0;
}

void read_v2_addresses(const std::uint8_t* block, std::uint8_t family, ProxyHeader& out) {
    if (family == kFamilyInet) {
        out.src = {read_v4(block), read_u16(block + 8)};
        out.dst = {read_v4(block + 4), read_u16(block + 10)};
    } else {
        out.src = {read_v6(block), read_u16(block + 32)};
        out.dst = {read_v6(block + 16), read_u16(block + 34)};
    }
}

Check read_v2(Bytes data, ProxyHeader& out) {
    auto sig_bytes = std::min(data.size(), sizeof kV2Signature);
    if (std::memcmp(data.data(), kV2Signature, sig_bytes) != 0)
        return invalid("not a PROXY header");

    if (data.size() > kVerCmdAt) {
        if ((data[kVerCmdAt] >> 4) != 0x2) return invalid("v2 header has an unsupported version");
        std::uint8_t command = data[kVerCmdAt] & 0x0F;
        if (command != kCommandLocal && command != kCommandProxy)
            return invalid("v2 header has an unknown command");
    }
    if (data.size() > kFamAt) {
        if ((data[kFamAt] >> 4) > kFamilyUnix) return invalid("v2 header has an unknown family");
        if ((data[kFamAt] & 0x0F) > kProtocolDgram)
            return invalid("v2 header has an unknown protocol");
    }
    if (data.size() < kV2FixedLength) return kNeedMore;

    std::uint8_t command = data[kVerCmdAt] & 0x0F;
    std::uint8_t family = data[kFamAt] >> 4, protocol = data[kFamAt] & 0x0F;
    std::size_t length = kV2FixedLength + read_u16(data.data() + kLengthAt);
    if (length > ProxyHeaderReader::kMaxV2Length) return invalid("v2 header is too long");
    std::size_t block = address_block_size(command, family, protocol);
    if (length - kV2FixedLength < block) return invalid("v2 header has a truncated address block");
    if (data.size() < length) return kNeedMore;

    out.version = ProxyVersion::v2;
    out.length = length;
    // LOCAL, UNSPEC, UNIX and DGRAM: the addresses (if any) and TLVs are skipped unread.
    out.local = block == 0;
    if (!out.local) read_v2_addresses(data.data() + kV2FixedLength, family, out);
    return kDone;
}

// ---- writing -----------------------------------------------------------------------------------

std::array<std::uint8_t, 16> as_v6_bytes(const IpAddress& a) {
    if (a.v6) return a.bytes;
    std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    std::copy_n(a.bytes.begin(), 4, mapped.begin() + 12);
    return mapped;
}

class ByteWriter {
  public:
    explicit ByteWriter(ProxyHeaderBytes& out) : out_(out) {}
    void put(std::span<const std::uint8_t> bytes) {
        std::memcpy(out_.bytes.data() + out_.size, bytes.data(), bytes.size());
        out_.size += bytes.size();
    }
    void put(std::string_view text) {
        put(Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    }
    void put_u8(std::uint8_t v) { out_.bytes[out_.size++] = v; }
    void put_u16(std::uint16_t v) {
        put_u8(static_cast<std::uint8_t>(v >> 8));
        put_u8(static_cast<std::uint8_t>(v));
    }
    void put_decimal(unsigned v) {
        char digits[5];
        auto end = std::to_chars(std::begin(digits), std::end(digits), v).ptr;
        put(std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
    void put_address_text(const std::uint8_t* raw, bool v6) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(v6 ? AF_INET6 : AF_INET, raw, text, sizeof text);
        put(std::string_view(text));
    }

  private:
    ProxyHeaderBytes& out_;
};

void write_v1(ByteWriter& w, const Endpoint& src, const Endpoint& dst, bool v6) {
    w.put(v6 ? "PROXY TCP6 " : "PROXY TCP4 ");
    if (v6) {
        auto s = as_v6_bytes(src.addr), d = as_v6_bytes(dst.addr);
        w.put_address_text(s.data(), true);
        w.put(" ");
        w.put_address_text(d.data(), true);
    } else {
        w.put_address_text(src.addr.bytes.data(), false);
        w.put(" ");
        w.put_address_text(dst.addr.bytes.data(), false);
    }
    w.put(" ");
    w.put_decimal(src.port);
    w.put(" ");
    w.put_decimal(dst.port);
    w.put("\r\n");
}

void write_v2(ByteWriter& w, const Endpoint& src, const Endpoint& dst, bool v6) {
    w.put(Bytes(kV2Signature));
    w.put_u8(0x20 | kCommandProxy);
    w.put_u8(static_cast<std::uint8_t>((v6 ? kFamilyInet6 : kFamilyInet) << 4 | kProtocolStream));
    w.put_u16(static_cast<std::uint16_t>(v6 ? kInet6Block : kInetBlock));
    if (v6) {
        w.put(as_v6_bytes(src.addr));
        w.put(as_v6_bytes(dst.addr));
    } else {
        w.put(Bytes(src.addr.bytes.data(), 4));
        w.put(Bytes(dst.addr.bytes.data(), 4));
    }
    w.put_u16(src.port);
    w.put_u16(dst.port);
}

}  // namespace

ProxyHeaderResult ProxyHeaderReader::read(std::span<const std::uint8_t> data) {
    header_ = {};
    error_ = {};
    if (data.empty()) return ProxyHeaderResult::need_more;
    // The two versions differ in their first byte ('P' or CR), so one byte picks the parser.
    Check check = data[0] == kV2Signature[0] ? read_v2(data, header_) : read_v1(data, header_);
    if (check.result != ProxyHeaderResult::done) header_ = {};
    error_ = check.error;
    return check.result;
}

ProxyHeaderBytes write_proxy_header(ProxyVersion version, const Endpoint& src,
                                    const Endpoint& dst) {
    ProxyHeaderBytes out;
    ByteWriter w(out);
    bool v6 = src.addr.v6 || dst.addr.v6;
    if (version == ProxyVersion::v1) {
        write_v1(w, src, dst, v6);
    } else {
        write_v2(w, src, dst, v6);
    }
    return out;
}

std::optional<ProxyVersion> parse_proxy_version(std::string_view text) {
    if (text == "v1") return ProxyVersion::v1;
    if (text == "v2") return ProxyVersion::v2;
    return std::nullopt;
}

}  // namespace snibind::proxy
