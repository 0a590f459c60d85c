#include "http/http_message.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <utility>

#include <boost/url/parse.hpp>
// Boost.URL used header-only: Debian ships no libboost_url, so its implementation is compiled
// here, the one translation unit that uses it (a second one including src.hpp would clash).
#include <boost/url/src.hpp>

#include "text/ascii.h"

// llhttp's loose mode (its default) takes any two bytes after chunk data as the CRLF, a space
// before a header's colon as part of its name, bare CRs as line ends and tabs in the target: the
// build compiles Debian's llhttp.c with its strict variant selected (src/CMakeLists.txt).
static_assert(LLHTTP_STRICT_MODE, "llhttp must be built with LLHTTP_STRICT_MODE=1");

namespace snibind::http {
namespace {

// Calls on_element for each element of a comma-separated header value (RFC 9110 5.6.1),
// trimmed, skipping empty ones.
template <class OnElement>
void for_each_list_element(std::string_view value, OnElement on_element) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        const auto element = trim_blanks(value.substr(0, comma));
        if (!element.empty()) on_element(element);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

bool list_contains(std::string_view value, std::string_view token) {
    bool found = false;
    for_each_list_element(
        value, [&](std::string_view element) { found = found || iequals(element, token); });
    return found;
}

std::string_view errno_text(llhttp_errno_t code) {
    // llhttp_errno_name aborts on values outside its map.
    return code >= HPE_OK && code <= HPE_CB_CHUNK_EXTENSION_VALUE_COMPLETE ? llhttp_errno_name(code)
                                                                           : "HPE_?";
}

// RFC 9110 6.4.1: whatever Content-Length says, these have no body.
bool response_never_has_body(int status) {
    return status / 100 == 1 || status == 204 || status == 304;
}

// Whether a Host value is uri-host [":" port] (RFC 9112 3.2; userinfo is no part of it). Empty is
// allowed: a target without an authority has an empty Host.
bool is_host_value(std::string_view value) {
    if (value.empty()) return true;
    const auto authority = boost::urls::parse_authority(value);
    return authority && !authority->has_userinfo();
}

// RFC 9112 3.2.2: a request in absolute-form is about the target's authority, whatever Host says.
// The head is rewritten to what an origin server expects (origin-form, RFC 9112 3.2.1, "*" for a
// server-wide OPTIONS, 3.2.4) with that authority as its only Host, so that routing and the
// backend see the same host. Returns why the target is refused, or empty.
std::string rewrite_absolute_form(MessageHead& head) {
    const auto url = boost::urls::parse_absolute_uri(head.target);
    if (!url) return "the request target is not an absolute URI";
    if (!iequals(url->scheme(), "http") && !iequals(url->scheme(), "https")) {
        return "an absolute-form target must be http or https";
    }
    if (!url->has_authority() || url->encoded_host().empty()) {
        return "an absolute-form target with no host (RFC 9110 4.2.1)";
    }
    if (url->has_userinfo()) return "an absolute-form target with userinfo (RFC 9110 4.2.4)";
    std::string authority(url->encoded_host_and_port());
    std::string target(url->encoded_path());
    if (target.empty()) target = head.method == "OPTIONS" && !url->has_query() ? "*" : "/";
    if (url->has_query()) target.append("?").append(url->encoded_query());
    head.target = std::move(target);
    auto host = std::find_if(head.headers.begin(), head.headers.end(),
                             [](const auto& header) { return iequals(header.first, "Host"); });
    if (host != head.headers.end()) {
        host->second = std::move(authority);
    } else {
        head.headers.emplace(head.headers.begin(), "Host", std::move(authority));
    }
    return {};
}

// What RFC 9112 requires of a request head beyond its syntax (which llhttp checks). Rewrites an
// absolute-form target (rewrite_absolute_form). Returns why the head is refused, or empty.
std::string check_request_head(MessageHead& head) {
    const auto hosts =
        std::count_if(head.headers.begin(), head.headers.end(),
                      [](const auto& header) { return iequals(header.first, "Host"); });
    // RFC 9112 3.2: 400 for more than one Host, and for an HTTP/1.1 request without one.
    if (hosts > 1) return "more than one Host header (RFC 9112 3.2)";
    const bool http11 = head.version_major > 1 || head.version_minor >= 1;
    if (hosts == 0 && http11) return "no Host header in an HTTP/1.1 request (RFC 9112 3.2)";
    // Also refuses a line folded into Host: llhttp joins an obs-fold line to the value before it.
    if (!is_host_value(head.header("Host"))) {
        return "the Host header is not a host[:port] (RFC 9112 3.2)";
    }
    if (!head.target.empty() && head.target.front() != '/' && head.target != "*" &&
        head.method != "CONNECT") {
        return rewrite_absolute_form(head);
    }
    return {};
}

}  // namespace

std::string_view MessageHead::header(std::string_view name) const {
    for (const auto& [field, value] : headers) {
        if (iequals(field, name)) return value;
    }
    return {};
}

std::string_view MessageHead::path() const {
    std::string_view rest = target;
    if (const auto scheme = rest.find("://");
        scheme != std::string_view::npos && rest.front() != '/') {
        rest.remove_prefix(scheme + 3);
        const auto slash = rest.find_first_of("/?#");
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    }
    rest = rest.substr(0, rest.find_first_of("?#"));
    // "*" (OPTIONS), authority-form (CONNECT) and an absolute-form without a path all mean the
    // root.
    if (rest.empty() || rest.front() != '/') return "/";
    return rest;
}

// The llhttp callbacks, with access to the parser's private state.
struct MessageParserCallbacks {
    static MessageParser& self(llhttp_t* p) { return *static_cast<MessageParser*>(p->data); }

    static int on_method(llhttp_t* p, const char* at, std::size_t length) {
        self(p).head_.method.append(at, length);
        return HPE_OK;
    }
    static int on_url(llhttp_t* p, const char* at, std::size_t length) {
        self(p).head_.target.append(at, length);
        return HPE_OK;
    }
    static int on_status(llhttp_t* p, const char* at, std::size_t length) {
        self(p).head_.reason.append(at, length);
        return HPE_OK;
    }
    static int on_header_field(llhttp_t* p, const char* at, std::size_t length) {
        auto& parser = self(p);
        // Trailers after a chunked body are not part of the head.
        if (!parser.head_done_) parser.field_.append(at, length);
        return HPE_OK;
    }
    static int on_header_value(llhttp_t* p, const char* at, std::size_t length) {
        auto& parser = self(p);
        if (!parser.head_done_) parser.value_.append(at, length);
        return HPE_OK;
    }
    static int on_header_value_complete(llhttp_t* p) {
        auto& parser = self(p);
        if (!parser.head_done_) {
            parser.head_.headers.emplace_back(std::move(parser.field_),
                                              std::string(trim_blanks(parser.value_)));
        }
        parser.field_.clear();
        parser.value_.clear();
        return HPE_OK;
    }
    static int on_headers_complete(llhttp_t* p) {
        auto& parser = self(p);
        // What returning 1 would do; we return HPE_PAUSED instead so that parse() can stop here.
        if (parser.kind_ == MessageParser::Kind::response &&
            (parser.no_body_ || response_never_has_body(p->status_code))) {
            p->flags |= F_SKIPBODY;
        }
        auto& head = parser.head_;
        head.version_major = p->http_major;
        head.version_minor = p->http_minor;
        head.status = parser.kind_ == MessageParser::Kind::response ? p->status_code : 0;
        // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing, whatever else is
        // there; llhttp would frame it as chunked where an HTTP/1.0 peer might not.
        if (head.version_major == 1 && head.version_minor == 0 &&
            !head.header("Transfer-Encoding").empty()) {
            return parser.refuse("Transfer-Encoding in an HTTP/1.0 message (RFC 9112 6.1)");
        }
        if (parser.kind_ == MessageParser::Kind::request) {
            if (auto why = check_request_head(head); !why.empty()) {
                return parser.refuse(std::move(why));
            }
        }
        head.keep_alive = llhttp_should_keep_alive(p) != 0;
        parser.chunked_ = (p->flags & F_CHUNKED) != 0;
        parser.content_length_ =
            (p->flags & F_CONTENT_LENGTH) ? static_cast<std::int64_t>(p->content_length) : -1;
        parser.head_done_ = true;
        return HPE_PAUSED;
    }
    static int on_message_complete(llhttp_t* p) {
        self(p).message_done_ = true;
        return HPE_PAUSED;
    }
};

MessageParser::MessageParser(Kind kind) : kind_(kind) {
    llhttp_settings_init(&settings_);
    settings_.on_method = &MessageParserCallbacks::on_method;
    settings_.on_url = &MessageParserCallbacks::on_url;
    settings_.on_status = &MessageParserCallbacks::on_status;
    settings_.on_header_field = &MessageParserCallbacks::on_header_field;
    settings_.on_header_value = &MessageParserCallbacks::on_header_value;
    settings_.on_header_value_complete = &MessageParserCallbacks::on_header_value_complete;
    settings_.on_headers_complete = &MessageParserCallbacks::on_headers_complete;
    settings_.on_message_complete = &MessageParserCallbacks::on_message_complete;
    llhttp_init(&parser_, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
    parser_.data = this;
}

MessageParser::~MessageParser() = default;

int MessageParser::refuse(std::string why) {
    refused_ = std::move(why);
    return -1;  // any value llhttp does not know makes it stop with HPE_CB_*
}

MessageParser::Progress MessageParser::fail(std::string why, std::size_t consumed) {
    error_ = std::move(why);
    return {Event::error, consumed};
}

MessageParser::Progress MessageParser::parse(std::span<const char> input) {
    if (!error_.empty()) return {Event::error, 0};
    if (message_done_) return {Event::message_complete, 0};
    if (head_done_) return run_llhttp(input);

    // Never hand llhttp more head than we accept, so a huge head is refused without being parsed.
    const auto head_room = kMaxHeadBytes - head_bytes_;
    auto progress = run_llhttp(input.first(std::min(input.size(), head_room)));
    if (progress.event == Event::error) return progress;
    head_bytes_ += progress.consumed;
    if (!head_done_ && head_bytes_ >= kMaxHeadBytes) {
        return fail("message head larger than " + std::to_string(kMaxHeadBytes) + " bytes",
                    progress.consumed);
    }
    return progress;
}

MessageParser::Progress MessageParser::run_llhttp(std::span<const char> input) {
    // Our own pause from the last call: the parser stopped at a boundary, carry on from there.
    if (llhttp_get_errno(&parser_) == HPE_PAUSED) llhttp_resume(&parser_);
    const bool head_was_done = head_done_;
    // An empty span may have a null data(), and llhttp computes data + 0: undefined for null.
    static constexpr char kNothing[1] = {};
    if (input.empty()) input = std::span<const char>(kNothing, 0);
    const auto code = llhttp_execute(&parser_, input.data(), input.size());
    if (code == HPE_OK) return {Event::need_more, input.size()};

    const char* stop = llhttp_get_error_pos(&parser_);
    const std::size_t consumed =
        stop != nullptr && stop >= input.data() && stop <= input.data() + input.size()
            ? static_cast<std::size_t>(stop - input.data())
            : 0;
    if (code == HPE_PAUSED || code == HPE_PAUSED_UPGRADE) {
        if (message_done_) return {Event::message_complete, consumed};
        if (head_done_ && !head_was_done) return {Event::head_complete, consumed};
    }
    if (!refused_.empty()) return fail(std::exchange(refused_, {}), consumed);  // our checks
    const char* reason = llhttp_get_error_reason(&parser_);
    auto why = std::string(errno_text(code));
    if (reason != nullptr && *reason != '\0') why.append(": ").append(reason);
    return fail(std::move(why), consumed);
}

MessageParser::Progress MessageParser::finish() {
    if (!error_.empty()) return {Event::error, 0};
    if (message_done_) return {Event::message_complete, 0};
    // A message without a body completes without more bytes; let it before judging the close.
    if (head_done_) {
        const auto pending = run_llhttp({});
        if (pending.event != Event::need_more) return pending;
    }
    if (llhttp_get_errno(&parser_) == HPE_PAUSED) llhttp_resume(&parser_);
    const auto code = llhttp_finish(&parser_);
    if (message_done_) return {Event::message_complete, 0};
    if (code == HPE_OK) return {Event::need_more, 0};
    const char* reason = llhttp_get_error_reason(&parser_);
    return fail(std::string(errno_text(code)) + ": " +
                    (reason != nullptr ? reason : "connection closed inside a message"),
                0);
}

void MessageParser::next() {
    // After an error the stream has no message boundaries left to find.
    if (!error_.empty()) return;
    // A fresh start per message: llhttp's own post-message checks (such as refusing bytes after
    // "Connection: close") are the caller's decision, made from head().keep_alive.
    llhttp_reset(&parser_);
    head_ = MessageHead{};
    field_.clear();
    value_.clear();
    head_bytes_ = 0;
    head_done_ = message_done_ = false;
    chunked_ = false;
    content_length_ = -1;
}

bool MessageParser::body_chunked() const {
    return chunked_;
}

std::int64_t MessageParser::content_length() const {
    return content_length_;
}

namespace {

bool is_websocket_upgrade(const MessageHead& head) {
    return list_contains(head.header("Upgrade"), "websocket") &&
           list_contains(head.header("Connection"), "upgrade");
}

// Headers that describe this hop only (RFC 9110 7.6.1), plus those the client named in
// Connection. Framing headers and Host stay whatever Connection says: dropping them would make
// the backend read the untouched body differently from us.
bool is_hop_by_hop(std::string_view name, const MessageHead& head, bool websocket) {
    for (std::string_view never : {"Host", "Content-Length", "Transfer-Encoding"}) {
        if (iequals(name, never)) return false;
    }
    for (std::string_view hop : {"Connection", "Keep-Alive", "Proxy-Connection", "TE"}) {
        if (iequals(name, hop)) return true;
    }
    if (iequals(name, "Upgrade")) return !websocket;
    bool named = false;
    for (const auto& [field, value] : head.headers) {
        if (iequals(field, "Connection")) named = named || list_contains(value, name);
    }
    return named;
}

bool is_token_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A Forwarded parameter value: a token as is, anything else as a quoted-string (RFC 7239 4).
std::string forwarded_value(std::string_view value) {
    if (!value.empty() && std::all_of(value.begin(), value.end(), is_token_char)) {
        return std::string(value);
    }
    std::string quoted = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
    }
    return quoted + '"';
}

// RFC 7239 6: an IPv6 node is bracketed (and therefore quoted).
std::string forwarded_node(std::string_view ip) {
    if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    if (ip.find(':') != std::string_view::npos) return forwarded_value("[" + std::string(ip) + "]");
    return forwarded_value(ip);
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
}

// The values of every header called name, joined as one list.
std::string joined_values(const MessageHead& head, std::string_view name) {
    std::string joined;
    for (const auto& [field, value] : head.headers) {
        if (!iequals(field, name) || value.empty()) continue;
        if (!joined.empty()) joined += ", ";
        joined += value;
    }
    return joined;
}

}  // namespace

bool expects_continue(const MessageHead& head) {
    return iequals(head.header("expect"), "100-continue");  // values are stored trimmed
}

bool is_idempotent(std::string_view method) {
    for (std::string_view m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
        if (method == m) return true;
    return false;
}

std::string backend_request_head(const MessageHead& head, std::string_view client_ip,
                                 std::string_view proto, bool keep_alive) {
    const bool websocket = is_websocket_upgrade(head);
    std::string out;
    out.reserve(256 + head.target.size() + head.headers.size() * 48);
    out.append(head.method).append(" ").append(head.target).append(" HTTP/");
    out.append(std::to_string(head.version_major)).append(".");
    out.append(std::to_string(head.version_minor)).append("\r\n");

    for (const auto& [field, value] : head.headers) {
        if (is_hop_by_hop(field, head, websocket)) continue;
        // The proxy answers "100 Continue" itself (expects_continue): the backend is not asked.
        if (iequals(field, "Expect") && iequals(value, "100-continue")) continue;
        // Rewritten below: the chain is extended, the protocol is what this hop saw.
        if (iequals(field, "X-Forwarded-For") || iequals(field, "X-Forwarded-Proto") ||
            iequals(field, "Forwarded")) {
            continue;
        }
        append_header(out, field, value);
    }

    std::string forwarded_for = joined_values(head, "X-Forwarded-For");
    if (!forwarded_for.empty()) forwarded_for += ", ";
    forwarded_for += client_ip;
    append_header(out, "X-Forwarded-For", forwarded_for);
    append_header(out, "X-Forwarded-Proto", proto);

    std::string forwarded = joined_values(head, "Forwarded");
    if (!forwarded.empty()) forwarded += ", ";
    forwarded += "for=" + forwarded_node(client_ip) + ";proto=" + forwarded_value(proto);
    if (const auto host = head.header("Host"); !host.empty()) {
        forwarded += ";host=" + forwarded_value(host);
    }
    append_header(out, "Forwarded", forwarded);

    if (websocket) {
        append_header(out, "Connection", "Upgrade");
    } else {
        append_header(out, "Connection", keep_alive ? "keep-alive" : "close");
    }
    out.append("\r\n");
    return out;
}

std::string simple_response(int status, std::string_view reason, std::string_view content_type,
                            std::string_view body, bool keep_alive) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
    out.append(reason).append("\r\n");
    if (!content_type.empty()) append_header(out, "Content-Type", content_type);
    append_header(out, "Server", "snibind");
    append_header(out, "Content-Length", std::to_string(body.size()));
    append_header(out, "Connection", keep_alive ? "keep-alive" : "close");
    out.append("\r\n").append(body);
    return out;
}

std::string http_date(std::chrono::system_clock::time_point when) {
    static constexpr std::array<const char*, 7> kDays{"Sun", "Mon", "Tue", "Wed",
                                                      "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    std::array<char, 32> text{};
    const int length =
        std::snprintf(text.data(), text.size(), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                      kDays.at(static_cast<std::size_t>(utc.tm_wday)), utc.tm_mday,
                      kMonths.at(static_cast<std::size_t>(utc.tm_mon)), utc.tm_year + 1900,
                      utc.tm_hour, utc.tm_min, utc.tm_sec);
    return std::string(text.data(), static_cast<std::size_t>(std::max(length, 0)));
}

std::string invalid_hostname_response(std::chrono::system_clock::time_point now) {
    // HTTP.sys's page since Windows Vista, 334 bytes, CRLF line ends.
    static constexpr std::string_view kBody =
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/"
        "strict.dtd\">\r\n"
        "<HTML><HEAD><TITLE>Bad Request</TITLE>\r\n"
        "<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n"
        "<BODY><h2>Bad Request - Invalid Hostname</h2>\r\n"
        "<hr><p>HTTP Error 400. The request hostname is invalid.</p>\r\n"
        "</BODY></HTML>\r\n";
    std::string out = "HTTP/1.1 400 Bad Request\r\n";
    append_header(out, "Content-Type", "text/html; charset=us-ascii");
    append_header(out, "Server", "Microsoft-HTTPAPI/2.0");
    append_header(out, "Date", http_date(now));
    append_header(out, "Connection", "close");
    append_header(out, "Content-Length", std::to_string(kBody.size()));
    out.append("\r\n").append(kBody);
    return out;
}

std::string invalid_hostname_response() {
    return invalid_hostname_response(std::chrono::system_clock::now());
}

}  // namespace snibind::http
