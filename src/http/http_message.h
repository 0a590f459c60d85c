#pragma once
// HTTP/1.1 message framing for the proxy, on llhttp: find where a message's head ends (so the
// proxy can rewrite it) and where the whole message ends (so keep-alive and pipelining work),
// while the body bytes themselves pass through untouched (chunked framing included). Pure: no I/O.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <llhttp.h>

namespace snibind::http {

struct MessageHead {
    // Requests.
    std::string method;  // "GET"
    // "/path?query", as sent; an absolute-form target ("http://host/path") is rewritten to
    // origin-form and its authority becomes the Host header (RFC 9112 3.2.2).
    std::string target;
    // Responses.
    int status = 0;
    std::string reason;  // "OK"
    // Both.
    int version_major = 1, version_minor = 1;
    std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
    bool keep_alive = true;  // llhttp_should_keep_alive after the head

    // The first value of a header, case-insensitive name; empty when absent.
    std::string_view header(std::string_view name) const;
    // The path of target (without query), "/" when target is "*" or absolute-form without path.
    std::string_view path() const;
};

class MessageParser {
  public:
    enum class Kind { request, response };
    enum class Event : std::uint8_t {
        need_more,         // every byte given was consumed; give more
        head_complete,     // head() is ready; the body starts at the returned offset
        message_complete,  // the message ended at the returned offset; call next() for another
        error,             // error() says why
    };
    struct Progress {
        Event event = Event::need_more;
        std::size_t consumed = 0;  // bytes of the input that belong to this message so far
                                   // (error: the bytes before the one that was refused)
    };
    // The largest head accepted; a longer one is an error (HTTP.sys answers 431/400).
    static constexpr std::size_t kMaxHeadBytes = 64 * 1024;

    explicit MessageParser(Kind kind);
    ~MessageParser();
    MessageParser(const MessageParser&) = delete;
    MessageParser& operator=(const MessageParser&) = delete;

    // Parses the next bytes. Stops right after the head and right after the end of a message, so
    // the caller can act; call again with the unconsumed rest. Body bytes are consumed but not
    // copied: the caller forwards input[0, consumed) itself.
    Progress parse(std::span<const char> input);
    // The peer closed: for a response without a length this completes the message
    // (message_complete). A close between messages gives need_more (nothing pending); a close in
    // the middle of a message gives error.
    Progress finish();
    // After message_complete: get ready for the next message on the same connection. An error
    // stays: the stream cannot be framed any further.
    void next();

    // For a response parser: the request it answers was HEAD (no body follows), or CONNECT.
    void expect_no_body(bool on) { no_body_ = on; }

    const MessageHead& head() const { return head_; }
    std::string_view error() const { return error_; }
    bool body_chunked() const;
    // Content-Length when given, else -1.
    std::int64_t content_length() const;
    // After the head: a body follows (chunked, or a Content-Length above 0).
    bool has_body() const { return body_chunked() || content_length() > 0; }

  private:
    friend struct MessageParserCallbacks;
    Progress fail(std::string why, std::size_t consumed);
    // From a callback: stop llhttp and report `why` as the error.
    int refuse(std::string why);
    Progress run_llhttp(std::span<const char> input);

    llhttp_t parser_{};
    llhttp_settings_t settings_{};
    Kind kind_;
    MessageHead head_;
    std::string field_, value_;  // header being assembled across calls
    std::size_t head_bytes_ = 0;
    bool head_done_ = false, message_done_ = false, no_body_ = false;
    // Captured at the end of the head: llhttp counts content_length down and clears its flags.
    bool chunked_ = false;
    std::int64_t content_length_ = -1;
    std::string error_;
    std::string refused_;  // why one of our checks stopped llhttp
};

// Whether the request waits for "100 Continue" before its body (RFC 9110 10.1.1). The proxy
// answers it itself, as HTTP.sys does, so the client never waits on a backend that may not.
bool expects_continue(const MessageHead& head);

// RFC 9110 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE (case-sensitive, as methods are).
bool is_idempotent(std::string_view method);

// The request head the proxy sends to a site's backend: the request line and headers as the
// client sent them, minus hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE,
// Upgrade unless it is a WebSocket upgrade) and "Expect: 100-continue" (answered by the proxy),
// plus "X-Forwarded-For: <client>" (appended to an
// existing one), "X-Forwarded-Proto: https", and "Forwarded: for=<client>;proto=https;host=<host>"
// (IPv6 quoted and bracketed, RFC 7239). The result ends with the blank line.
std::string backend_request_head(const MessageHead& head, std::string_view client_ip,
                                 std::string_view proto, bool keep_alive);

// A complete HTTP/1.1 response (for the lab responder and error answers): status line,
// Content-Type (left out when empty), Content-Length, "Connection: keep-alive" or "close",
// "Server: snibind", then body.
std::string simple_response(int status, std::string_view reason, std::string_view content_type,
                            std::string_view body, bool keep_alive);

// HTTP.sys's answer when no URL reservation matches the Host (I5): 400 with its fixed
// "Bad Request - Invalid Hostname" page, Server: Microsoft-HTTPAPI/2.0, Date, Connection: close,
// byte for byte as HTTP.sys writes it apart from the date.
std::string invalid_hostname_response(std::chrono::system_clock::time_point now);
std::string invalid_hostname_response();

// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 5.6.7), independent of the locale.
std::string http_date(std::chrono::system_clock::time_point when);

}  // namespace snibind::http
