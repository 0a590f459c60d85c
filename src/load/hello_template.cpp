#include "load/hello_template.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "load/embedded_hellos.h"

namespace snibind::load {

namespace {

constexpr std::uint8_t kHandshakeRecord = 22;
constexpr std::uint8_t kClientHelloType = 1;
constexpr std::uint16_t kServerNameType = 0;
constexpr std::uint16_t kPaddingType = 21;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kMaxFragment = 16384;

// A bounds-checked cursor over the capture.
class Cursor {
  public:
    explicit Cursor(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
    bool take(std::size_t n, std::span<const std::uint8_t>& out) {
        if (bytes_.size() - at_ < n) return false;
        out = bytes_.subspan(at_, n);
        at_ += n;
        return true;
    }
    bool number(std::size_t width, std::size_t& value) {
        std::span<const std::uint8_t> b;
        if (!take(width, b)) return false;
        value = 0;
        for (auto byte : b) value = (value << 8) | byte;
        return true;
    }
    // A vector with a `width`-byte length prefix.
    bool prefixed(std::size_t width, std::span<const std::uint8_t>& out) {
        std::size_t n = 0;
        return number(width, n) && take(n, out);
    }
    std::size_t position() const { return at_; }
    bool done() const { return at_ == bytes_.size(); }

  private:
    std::span<const std::uint8_t> bytes_;
    std::size_t at_ = 0;
};

void put16(Bytes& out, std::size_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}

void patch(Bytes& out, std::size_t at, std::size_t width, std::size_t v) {
    for (std::size_t i = 0; i < width; ++i)
        out[at + i] = static_cast<std::uint8_t>(v >> (8 * (width - 1 - i)));
}

}  // namespace

std::optional<HelloTemplate> HelloTemplate::parse(std::span<const std::uint8_t> records,
                                                  std::string& error) {
    HelloTemplate t;
    Bytes message;
    Cursor in(records);
    bool first = true;
    while (!in.done()) {
        std::size_t type = 0, version = 0;
        std::span<const std::uint8_t> fragment;
        if (!in.number(1, type) || !in.number(2, version) || !in.prefixed(2, fragment)) {
            error = "truncated record at byte " + std::to_string(in.position());
            return std::nullopt;
        }
        if (type != kHandshakeRecord) {
            error = "record type " + std::to_string(type) + " is not a handshake record";
            return std::nullopt;
        }
        if (first) t.record_version_ = static_cast<std::uint16_t>(version);
        first = false;
        message.insert(message.end(), fragment.begin(), fragment.end());
    }

    Cursor msg(message);
    std::size_t type = 0;
    std::span<const std::uint8_t> body;
    if (!msg.number(1, type) || type != kClientHelloType || !msg.prefixed(3, body) || !msg.done()) {
        error = "the records do not hold exactly one ClientHello";
        return std::nullopt;
    }
    Cursor hello(body);
    std::span<const std::uint8_t> skipped, extensions;
    if (!hello.take(2 + 32, skipped) || !hello.prefixed(1, skipped) ||
        !hello.prefixed(2, skipped) || !hello.prefixed(1, skipped)) {
        error = "truncated ClientHello before the extensions";
        return std::nullopt;
    }
    t.head_.assign(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(hello.position()));
    if (!hello.prefixed(2, extensions) || !hello.done()) {
        error = "the ClientHello has no well-formed extension list";
        return std::nullopt;
    }
    Cursor ext(extensions);
    while (!ext.done()) {
        std::size_t ext_type = 0;
        std::span<const std::uint8_t> data;
        if (!ext.number(2, ext_type) || !ext.prefixed(2, data)) {
            error = "truncated extension";
            return std::nullopt;
        }
        if (ext_type == kServerNameType) t.sni_index_ = t.extensions_.size();
        if (ext_type == kPaddingType) t.padding_index_ = t.extensions_.size();
        t.extensions_.push_back(
            {static_cast<std::uint16_t>(ext_type), Bytes(data.begin(), data.end())});
    }
    if (!t.sni_index_) {
        // A capture without SNI still gets one where clients usually put it: first.
        t.extensions_.insert(t.extensions_.begin(), {kServerNameType, {}});
        t.sni_index_ = 0;
        if (t.padding_index_) ++*t.padding_index_;
    }
    return t;
}

const HelloTemplate* HelloTemplate::builtin(std::string_view name) {
    // Parsed once; the embedded bytes are known to be good (a unit test parses each).
    static const auto parsed = [] {
        std::map<std::string_view, HelloTemplate, std::less<>> m;
        for (const EmbeddedHello& e : embedded_hellos()) {
            std::string error;
            if (auto t = parse(e.bytes, error)) m.emplace(e.name, std::move(*t));
        }
        return m;
    }();
    auto it = parsed.find(name);
    return it == parsed.end() ? nullptr : &it->second;
}

std::vector<std::string_view> HelloTemplate::builtin_names() {
    std::vector<std::string_view> names;
    for (const EmbeddedHello& e : embedded_hellos()) names.push_back(e.name);
    return names;
}

void HelloTemplate::append_extensions(std::optional<std::string_view> server_name,
                                      std::size_t padding, Bytes& out) const {
    for (std::size_t i = 0; i < extensions_.size(); ++i) {
        const Extension& e = extensions_[i];
        if (i == sni_index_) {
            if (!server_name) continue;
            const std::size_t n = server_name->size();
            put16(out, kServerNameType);
            put16(out, n + 5);
            put16(out, n + 3);
            out.push_back(0);  // host_name
            put16(out, n);
            out.insert(out.end(), server_name->begin(), server_name->end());
        } else if (i == padding_index_) {
            if (padding == SIZE_MAX) continue;
            put16(out, kPaddingType);
            put16(out, padding);
            out.insert(out.end(), padding, 0);
        } else {
            put16(out, e.type);
            put16(out, e.data.size());
            out.insert(out.end(), e.data.begin(), e.data.end());
        }
    }
}

void HelloTemplate::build_message(std::optional<std::string_view> server_name, Bytes& out) const {
    std::size_t unpadded = 4 + head_.size() + 2;
    for (std::size_t i = 0; i < extensions_.size(); ++i) {
        if (i == padding_index_) continue;
        if (i == sni_index_) {
            if (server_name) unpadded += 4 + 5 + server_name->size();
        } else {
            unpadded += 4 + extensions_[i].data.size();
        }
    }
    // OpenSSL's and BoringSSL's rule (RFC 7685): a hello of 256-511 bytes is padded to 512,
    // because some middleboxes hang on exactly that size; any other size goes without padding.
    std::size_t padding = SIZE_MAX;
    if (padding_index_ && unpadded > 0xff && unpadded < 0x200) {
        padding = 0x200 - unpadded;
        padding = padding > 4 ? padding - 4 : 0;
    }

    out.clear();
    out.push_back(kClientHelloType);
    out.insert(out.end(), 3, 0);
    out.insert(out.end(), head_.begin(), head_.end());
    const std::size_t list_at = out.size();
    put16(out, 0);
    append_extensions(server_name, padding, out);
    patch(out, list_at, 2, out.size() - list_at - 2);
    patch(out, 1, 3, out.size() - 4);
}

void HelloTemplate::build(std::optional<std::string_view> server_name, std::size_t records,
                          Bytes& out) const {
    build_message(server_name, out);
    const std::size_t m = out.size();
    const std::size_t n = std::clamp(records, (m + kMaxFragment - 1) / kMaxFragment, m);
    const std::size_t base = m / n, longer = m % n;
    // Make room for the record headers, then move each fragment into place from the back, so
    // the message is never copied to a second buffer.
    out.resize(m + kRecordHeader * n);
    std::size_t src_end = m, dst_end = out.size();
    for (std::size_t i = n; i-- > 0;) {
        const std::size_t size = base + (i < longer ? 1 : 0);
        std::memmove(out.data() + dst_end - size, out.data() + src_end - size, size);
        std::uint8_t* header = out.data() + dst_end - size - kRecordHeader;
        header[0] = kHandshakeRecord;
        header[1] = static_cast<std::uint8_t>(record_version_ >> 8);
        header[2] = static_cast<std::uint8_t>(record_version_);
        header[3] = static_cast<std::uint8_t>(size >> 8);
        header[4] = static_cast<std::uint8_t>(size);
        src_end -= size;
        dst_end -= size + kRecordHeader;
    }
}

std::vector<std::size_t> split_sizes(std::size_t total, std::size_t parts) {
    if (total == 0) return {};
    const std::size_t n = std::clamp<std::size_t>(parts, 1, total);
    std::vector<std::size_t> sizes(n, total / n);
    for (std::size_t i = 0; i < total % n; ++i) ++sizes[i];
    return sizes;
}

}  // namespace snibind::load
