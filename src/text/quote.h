#pragma once
// Input quoted in an error message. A message names what is wrong with a piece of the input; it
// must not repeat a 10 MB host name (issue 10, item 12), nor put a line break or an escape
// sequence of the input on the user's terminal.
#include <cstddef>
#include <string>
#include <string_view>

namespace snibind {

// How much of a piece of input a message shows: enough to recognise any real value (a host name
// has at most 253 bytes), too little to flood a terminal or a log.
inline constexpr std::size_t kQuoteBytes = 256;

namespace quote_detail {

inline void append_shown(std::string& out, std::string_view s) {
    static constexpr char kDigits[] = "0123456789abcdef";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kDigits[c >> 4];
            out += kDigits[c & 15];
        } else {
            out += ch;
        }
    }
}

// The first kQuoteBytes bytes, backed up to the start of a UTF-8 sequence so the cut never
// splits a character (a message may end up in JSON, which must be valid UTF-8).
inline std::string_view head(std::string_view s) {
    std::size_t cut = kQuoteBytes;
    for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80; ++i)
        --cut;
    return s.substr(0, cut);
}

}  // namespace quote_detail

// `s` as shown in a message: control bytes as \xNN; longer than kQuoteBytes, its first bytes,
// "..." and its length: "aaaa... (10485760 bytes)".
inline std::string shown(std::string_view s) {
    std::string out;
    if (s.size() <= kQuoteBytes) {
        quote_detail::append_shown(out, s);
        return out;
    }
    quote_detail::append_shown(out, quote_detail::head(s));
    return out + "... (" + std::to_string(s.size()) + " bytes)";
}

// `s` in single quotes, as shown(): 'sitev2.example.com', 'aaaa...' (10485760 bytes).
inline std::string quote(std::string_view s) {
    std::string out = "'";
    if (s.size() <= kQuoteBytes) {
        quote_detail::append_shown(out, s);
        return out + "'";
    }
    quote_detail::append_shown(out, quote_detail::head(s));
    return out + "...' (" + std::to_string(s.size()) + " bytes)";
}

}  // namespace snibind
