#include "hello_fixtures.h"

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace snibind::test {

namespace {

Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep)) out.push_back(cur);
    return out;
}

void put16(Bytes& b, std::size_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}

std::size_t get16(const Bytes& b, std::size_t at) {
    return std::size_t{b.at(at)} << 8 | b.at(at + 1);
}

Bytes slice(const Bytes& b, std::size_t at, std::size_t n) {
    if (at + n > b.size()) throw std::runtime_error("fixture shorter than its lengths say");
    return Bytes(b.begin() + static_cast<std::ptrdiff_t>(at),
                 b.begin() + static_cast<std::ptrdiff_t>(at + n));
}

}  // namespace

const std::vector<Fixture>& fixtures() {
    static const std::vector<Fixture> all = [] {
        std::vector<Fixture> out;
        std::string dir = std::string(SNIBIND_TEST_DATA) + "/clienthello/";
        std::ifstream manifest(dir + "manifest.tsv");
        std::string line;
        std::getline(manifest, line);  // header
        while (std::getline(manifest, line)) {
            auto cols = split(line, '\t');
            if (cols.size() < 4) continue;
            Fixture f;
            f.file = cols[0];
            f.client = cols[1];
            f.sni = cols[2] == "-" ? "" : cols[2];
            if (cols[3] != "-") f.alpn = split(cols[3], ',');
            f.bytes = read_file(dir + f.file);
            out.push_back(std::move(f));
        }
        if (out.empty()) throw std::runtime_error("no fixtures in " + dir);
        return out;
    }();
    return all;
}

const Fixture& fixture(const std::string& file) {
    for (const auto& f : fixtures())
        if (f.file == file) return f;
    throw std::runtime_error("no fixture " + file);
}

Bytes handshake_message(const Bytes& recs) {
    Bytes out;
    std::size_t pos = 0;
    while (pos + 5 <= recs.size() && recs[pos] == 22) {
        std::size_t len = get16(recs, pos + 3);
        auto body = slice(recs, pos + 5, len);
        out.insert(out.end(), body.begin(), body.end());
        pos += 5 + len;
        if (out.size() >= 4 && out.size() >= 4 + (std::size_t{out[1]} << 16 | get16(out, 2))) break;
    }
    return out;
}

HelloParts HelloParts::parse(const Bytes& m) {
    HelloParts p;
    std::size_t pos = 4;
    p.legacy_version = static_cast<std::uint16_t>(get16(m, pos));
    pos += 2;
    p.random = slice(m, pos, 32);
    pos += 32;
    p.session_id = slice(m, pos + 1, m.at(pos));
    pos += 1 + p.session_id.size();
    p.cipher_suites = slice(m, pos + 2, get16(m, pos));
    pos += 2 + p.cipher_suites.size();
    p.compression = slice(m, pos + 1, m.at(pos));
    pos += 1 + p.compression.size();
    if (pos == m.size()) {
        p.has_extensions = false;
        return p;
    }
    std::size_t end = pos + 2 + get16(m, pos);
    pos += 2;
    while (pos < end) {
        auto type = static_cast<std::uint16_t>(get16(m, pos));
        std::size_t len = get16(m, pos + 2);
        p.extensions.emplace_back(type, slice(m, pos + 4, len));
        pos += 4 + len;
    }
    return p;
}

Bytes HelloParts::message() const {
    Bytes body;
    put16(body, legacy_version);
    body.insert(body.end(), random.begin(), random.end());
    body.push_back(static_cast<std::uint8_t>(session_id.size()));
    body.insert(body.end(), session_id.begin(), session_id.end());
    put16(body, cipher_suites.size());
    body.insert(body.end(), cipher_suites.begin(), cipher_suites.end());
    body.push_back(static_cast<std::uint8_t>(compression.size()));
    body.insert(body.end(), compression.begin(), compression.end());
    if (has_extensions) {
        Bytes ext;
        for (const auto& [type, data] : extensions) {
            put16(ext, type);
            put16(ext, data.size());
            ext.insert(ext.end(), data.begin(), data.end());
        }
        put16(body, ext.size());
        body.insert(body.end(), ext.begin(), ext.end());
    }
    Bytes m = {1, static_cast<std::uint8_t>(body.size() >> 16),
               static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
    m.insert(m.end(), body.begin(), body.end());
    return m;
}

Bytes* HelloParts::extension(std::uint16_t type) {
    for (auto& [t, data] : extensions)
        if (t == type) return &data;
    return nullptr;
}

void HelloParts::remove(std::uint16_t type) {
    std::erase_if(extensions, [type](const auto& e) { return e.first == type; });
}

void HelloParts::set_server_name(const std::string& name) {
    Bytes data;
    put16(data, name.size() + 3);
    data.push_back(0);
    put16(data, name.size());
    data.insert(data.end(), name.begin(), name.end());
    if (auto* e = extension(0)) {
        *e = data;
    } else {
        extensions.insert(extensions.begin(), {0, data});
    }
}

Bytes records(const Bytes& message, std::size_t fragment, std::uint16_t version) {
    Bytes out;
    for (std::size_t pos = 0; pos < message.size(); pos += fragment) {
        std::size_t n = std::min(fragment, message.size() - pos);
        out.push_back(22);
        put16(out, version);
        put16(out, n);
        out.insert(out.end(), message.begin() + static_cast<std::ptrdiff_t>(pos),
                   message.begin() + static_cast<std::ptrdiff_t>(pos + n));
    }
    return out;
}

Bytes cat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace snibind::test
