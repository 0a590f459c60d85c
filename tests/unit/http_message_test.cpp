// HTTP/1.1 framing on llhttp: where heads and messages end, however the bytes arrive; the head
// the proxy sends to a backend; the answers snibind writes itself (I5's 400 among them).
#include "http/http_message.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace snibind::http {
namespace {

using Event = MessageParser::Event;
using Kind = MessageParser::Kind;

// One thing the parser reported, with its absolute offset in the stream.
struct Step {
    Event event;
    std::size_t offset;
    std::string what;  // head: request line or status; error: the reason

    bool operator==(const Step&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Step& step) {
    static constexpr const char* kNames[] = {"need_more", "head", "message", "error"};
    return out << kNames[static_cast<int>(step.event)] << "@" << step.offset << "[" << step.what
               << "]";
}

struct Feed {
    Kind kind = Kind::request;
    bool eof = false;      // the peer closes after the last piece
    bool no_body = false;  // a response to HEAD
    std::vector<MessageHead> heads{};
};

// Feeds pieces the way the proxy does: parse, act on the event, parse the rest; next() after
// each message. Returns what happened, need_more left out.
std::vector<Step> run(Feed& feed, const std::vector<std::string_view>& pieces) {
    MessageParser parser(feed.kind);
    parser.expect_no_body(feed.no_body);
    std::vector<Step> steps;
    std::size_t offset = 0;
    auto record = [&](MessageParser::Progress progress) {
        offset += progress.consumed;
        switch (progress.event) {
            case Event::need_more:
                return true;
            case Event::head_complete: {
                const auto& head = parser.head();
                feed.heads.push_back(head);
                steps.push_back({Event::head_complete, offset,
                                 feed.kind == Kind::request ? head.method + " " + head.target
                                                            : std::to_string(head.status)});
                return true;
            }
            case Event::message_complete:
                steps.push_back({Event::message_complete, offset, ""});
                parser.next();
                parser.expect_no_body(feed.no_body);
                return true;
            case Event::error:
                steps.push_back({Event::error, offset, std::string(parser.error())});
                return false;
        }
        return false;
    };
    for (auto piece : pieces) {
        while (true) {
            const auto progress = parser.parse(piece);
            EXPECT_LE(progress.consumed, piece.size());
            piece.remove_prefix(progress.consumed);
            if (!record(progress)) return steps;
            if (progress.event == Event::need_more) break;
        }
    }
    if (feed.eof) record(parser.finish());
    return steps;
}

std::vector<Step> run(Feed& feed, std::string_view whole) {
    return run(feed, std::vector<std::string_view>{whole});
}

std::vector<std::string_view> byte_at_a_time(std::string_view bytes) {
    std::vector<std::string_view> pieces;
    for (std::size_t i = 0; i < bytes.size(); ++i) pieces.push_back(bytes.substr(i, 1));
    return pieces;
}

// Every split into two pieces must report what the whole input reports.
void expect_same_at_every_split(Feed feed, std::string_view bytes) {
    Feed whole_feed = feed;
    const auto whole = run(whole_feed, bytes);
    for (std::size_t split = 0; split <= bytes.size(); ++split) {
        Feed split_feed = feed;
        EXPECT_EQ(run(split_feed, {bytes.substr(0, split), bytes.substr(split)}), whole)
            << "split at " << split;
    }
    Feed bytes_feed = feed;
    EXPECT_EQ(run(bytes_feed, byte_at_a_time(bytes)), whole) << "one byte at a time";
}

constexpr std::string_view kGet = "GET /a/b?x=1 HTTP/1.1\r\nHost: www.contoso.com\r\n\r\n";
constexpr std::string_view kPost =
    "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n"
    "hello";
constexpr std::string_view kChunked =
    "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Checksum\r\n\r\n"
    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nChecksum: abc\r\n\r\n";

TEST(MessageParser, GetWithoutBodyEndsWithItsHead) {
    MessageParser parser(Kind::request);
    auto progress = parser.parse(kGet);
    EXPECT_EQ(progress.event, Event::head_complete);
    EXPECT_EQ(progress.consumed, kGet.size());
    const auto& head = parser.head();
    EXPECT_EQ(head.method, "GET");
    EXPECT_EQ(head.target, "/a/b?x=1");
    EXPECT_EQ(head.path(), "/a/b");
    EXPECT_EQ(head.header("HOST"), "www.contoso.com");
    EXPECT_EQ(head.header("Content-Length"), "");
    EXPECT_EQ(head.version_major, 1);
    EXPECT_EQ(head.version_minor, 1);
    EXPECT_TRUE(head.keep_alive);
    EXPECT_FALSE(parser.body_chunked());
    EXPECT_EQ(parser.content_length(), -1);
    // No body: the message ends with no more bytes.
    progress = parser.parse({});
    EXPECT_EQ(progress.event, Event::message_complete);
    EXPECT_EQ(progress.consumed, 0U);
    // Until next(), it stays complete.
    EXPECT_EQ(parser.parse({}).event, Event::message_complete);
}

TEST(MessageParser, PostWithContentLengthAtEverySplit) {
    Feed feed;
    EXPECT_EQ(run(feed, kPost),
              (std::vector<Step>{{Event::head_complete, kPost.size() - 5, "POST /form"},
                                 {Event::message_complete, kPost.size(), ""}}));
    expect_same_at_every_split(Feed{}, kPost);

    MessageParser parser(Kind::request);
    ASSERT_EQ(parser.parse(kPost).event, Event::head_complete);
    EXPECT_EQ(parser.content_length(), 5);
    EXPECT_FALSE(parser.body_chunked());
    const auto body = kPost.substr(kPost.size() - 5);
    // The body is consumed, not buffered: part of it means need_more with all of it consumed.
    auto progress = parser.parse(body.substr(0, 2));
    EXPECT_EQ(progress.event, Event::need_more);
    EXPECT_EQ(progress.consumed, 2U);
    progress = parser.parse(body.substr(2));
    EXPECT_EQ(progress.event, Event::message_complete);
    EXPECT_EQ(progress.consumed, 3U);
    EXPECT_EQ(parser.content_length(), 5);  // still what the head said
}

TEST(MessageParser, ChunkedRequestWithTrailers) {
    Feed feed;
    const auto steps = run(feed, kChunked);
    const auto head_end = kChunked.find("\r\n\r\n") + 4;
    EXPECT_EQ(steps, (std::vector<Step>{{Event::head_complete, head_end, "POST /up"},
                                        {Event::message_complete, kChunked.size(), ""}}));
    ASSERT_EQ(feed.heads.size(), 1U);
    // The trailer is body, not head.
    EXPECT_EQ(feed.heads[0].header("Checksum"), "");
    EXPECT_EQ(feed.heads[0].headers.size(), 3U);
    expect_same_at_every_split(Feed{}, kChunked);

    MessageParser parser(Kind::request);
    ASSERT_EQ(parser.parse(kChunked).event, Event::head_complete);
    EXPECT_TRUE(parser.body_chunked());
    EXPECT_EQ(parser.content_length(), -1);
}

TEST(MessageParser, PipelinedRequestsInOneBuffer) {
    const std::string stream = std::string(kGet) + std::string(kPost) + std::string(kChunked) +
                               "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    const auto get_end = kGet.size();
    const auto post_end = get_end + kPost.size();
    const auto chunked_end = post_end + kChunked.size();
    Feed feed;
    EXPECT_EQ(run(feed, stream),
              (std::vector<Step>{
                  {Event::head_complete, get_end, "GET /a/b?x=1"},
                  {Event::message_complete, get_end, ""},
                  {Event::head_complete, post_end - 5, "POST /form"},
                  {Event::message_complete, post_end, ""},
                  {Event::head_complete,
                   chunked_end - (kChunked.size() - kChunked.find("\r\n\r\n") - 4), "POST /up"},
                  {Event::message_complete, chunked_end, ""},
                  {Event::head_complete, stream.size(), "OPTIONS *"},
                  {Event::message_complete, stream.size(), ""},
              }));
    ASSERT_EQ(feed.heads.size(), 4U);
    EXPECT_EQ(feed.heads[3].path(), "/");
    // Each head is its own: nothing of the previous message leaks into the next.
    EXPECT_EQ(feed.heads[1].header("Content-Type"), "text/plain");
    EXPECT_EQ(feed.heads[2].header("Content-Type"), "");
    expect_same_at_every_split(Feed{}, stream);
}

TEST(MessageParser, Responses) {
    struct Case {
        const char* name;
        std::string_view bytes;
        bool no_body;  // the request was HEAD
        bool eof;
        std::vector<Step> steps;
    };
    constexpr std::string_view kLength = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    constexpr std::string_view kChunkedResponse =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    constexpr std::string_view kUntilClose = "HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n\r\nabcdef";
    constexpr std::string_view kHead =
        "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 404 Not Found\r\n"
        "Content-Length: 1000\r\n\r\n";
    constexpr std::string_view kNoContent =
        "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    const std::vector<Case> cases = {
        {"content-length",
         kLength,
         false,
         false,
         {{Event::head_complete, kLength.size() - 3, "200"},
          {Event::message_complete, kLength.size(), ""}}},
        {"chunked",
         kChunkedResponse,
         false,
         false,
         {{Event::head_complete, kChunkedResponse.find("\r\n\r\n") + 4, "200"},
          {Event::message_complete, kChunkedResponse.size(), ""}}},
        {"until close, then finish()",
         kUntilClose,
         false,
         true,
         {{Event::head_complete, kUntilClose.size() - 6, "200"},
          {Event::message_complete, kUntilClose.size(), ""}}},
        {"HEAD: Content-Length but no body",
         kHead,
         true,
         false,
         {{Event::head_complete, kHead.find("HTTP/1.1 404"), "200"},
          {Event::message_complete, kHead.find("HTTP/1.1 404"), ""},
          {Event::head_complete, kHead.size(), "404"},
          {Event::message_complete, kHead.size(), ""}}},
        {"204, 304 with a length, 100: never a body",
         kNoContent,
         false,
         false,
         {{Event::head_complete, kNoContent.find("HTTP/1.1 304"), "204"},
          {Event::message_complete, kNoContent.find("HTTP/1.1 304"), ""},
          {Event::head_complete, kNoContent.find("HTTP/1.1 100"), "304"},
          {Event::message_complete, kNoContent.find("HTTP/1.1 100"), ""},
          {Event::head_complete, kNoContent.find("HTTP/1.1 200"), "100"},
          {Event::message_complete, kNoContent.find("HTTP/1.1 200"), ""},
          {Event::head_complete, kNoContent.size(), "200"},
          {Event::message_complete, kNoContent.size(), ""}}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Feed feed{.kind = Kind::response, .eof = c.eof, .no_body = c.no_body};
        EXPECT_EQ(run(feed, c.bytes), c.steps);
        expect_same_at_every_split(feed, c.bytes);
    }
}

TEST(MessageParser, ResponseUntilCloseNeedsFinish) {
    constexpr std::string_view kUntilClose = "HTTP/1.0 200 OK\r\n\r\nbody";
    MessageParser parser(Kind::response);
    ASSERT_EQ(parser.parse(kUntilClose).event, Event::head_complete);
    EXPECT_FALSE(parser.head().keep_alive);  // only the close can end it
    EXPECT_EQ(parser.content_length(), -1);
    EXPECT_EQ(parser.parse(kUntilClose.substr(19)).event, Event::need_more);
    EXPECT_EQ(parser.finish().event, Event::message_complete);
}

TEST(MessageParser, FinishBetweenAndInsideMessages) {
    struct Case {
        const char* name;
        Kind kind;
        std::string_view bytes;
        Event at_close;
    };
    const Case cases[] = {
        {"nothing sent", Kind::request, "", Event::need_more},
        {"after a whole request", Kind::request, kPost, Event::need_more},
        {"in a head", Kind::request, "GET / HTTP/1.1\r\nHo", Event::error},
        {"in a Content-Length body", Kind::request, kPost.substr(0, kPost.size() - 1),
         Event::error},
        {"in a chunked body", Kind::response,
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", Event::error},
        // The head was the whole message; the close comes before the caller asked for its end.
        {"after a head without body", Kind::request, kGet, Event::message_complete},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        MessageParser parser(c.kind);
        auto rest = c.bytes;
        while (!rest.empty()) {
            const auto progress = parser.parse(rest);
            rest.remove_prefix(progress.consumed);
            ASSERT_NE(progress.event, Event::error) << parser.error();
            if (progress.event == Event::message_complete) parser.next();
        }
        const auto progress = parser.finish();
        EXPECT_EQ(progress.event, c.at_close);
        EXPECT_EQ(progress.consumed, 0U);
        EXPECT_EQ(parser.error().empty(), c.at_close != Event::error) << parser.error();
    }
}

TEST(MessageParser, KeepAlive) {
    struct Case {
        Kind kind;
        std::string_view bytes;
        bool keep_alive;
    };
    const Case cases[] = {
        {Kind::request, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {Kind::request, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {Kind::request, "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", false},
        {Kind::request, "GET / HTTP/1.0\r\n\r\n", false},
        {Kind::request, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {Kind::response, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
        {Kind::response, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
         false},
        {Kind::response, "HTTP/1.1 200 OK\r\n\r\n", false},  // ends at close
        {Kind::response, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
    };
    for (const auto& c : cases) {
        MessageParser parser(c.kind);
        ASSERT_EQ(parser.parse(c.bytes).event, Event::head_complete) << c.bytes;
        EXPECT_EQ(parser.head().keep_alive, c.keep_alive) << c.bytes;
    }
}

TEST(MessageParser, HeadOneByteAtATimeWithSplitNames) {
    constexpr std::string_view kRequest =
        "GET /x HTTP/1.1\r\nHost: www.contoso.com\r\nX-Long-Header-Name: value with spaces \r\n"
        "X-Empty:\r\nAccept: */*\r\n\r\n";
    Feed feed;
    EXPECT_EQ(run(feed, byte_at_a_time(kRequest)),
              (std::vector<Step>{{Event::head_complete, kRequest.size(), "GET /x"},
                                 {Event::message_complete, kRequest.size(), ""}}));
    ASSERT_EQ(feed.heads.size(), 1U);
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"Host", "www.contoso.com"},
        {"X-Long-Header-Name", "value with spaces"},
        {"X-Empty", ""},
        {"Accept", "*/*"},
    };
    EXPECT_EQ(feed.heads[0].headers, expected);
}

TEST(MessageParser, HeadSizeLimit) {
    const auto request_of = [](std::size_t head_size) {
        std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
        head.append(head_size - head.size() - 4, 'a');
        return head + "\r\n\r\n";
    };
    // Exactly the limit is accepted, one byte more is not, however it arrives.
    const auto largest = request_of(MessageParser::kMaxHeadBytes);
    ASSERT_EQ(largest.size(), MessageParser::kMaxHeadBytes);
    {
        MessageParser parser(Kind::request);
        const auto progress = parser.parse(largest);
        EXPECT_EQ(progress.event, Event::head_complete);
        EXPECT_EQ(progress.consumed, largest.size());
    }
    const auto too_large = request_of(MessageParser::kMaxHeadBytes + 1);
    for (const std::size_t piece_size : {too_large.size(), std::size_t{1000}, std::size_t{4096}}) {
        MessageParser parser(Kind::request);
        std::string_view rest = too_large;
        MessageParser::Progress progress;
        while (!rest.empty()) {
            progress = parser.parse(rest.substr(0, piece_size));
            rest.remove_prefix(progress.consumed);
            if (progress.event != Event::need_more) break;
        }
        EXPECT_EQ(progress.event, Event::error) << piece_size;
        // Refused once the limit is reached, not after reading on.
        EXPECT_EQ(too_large.size() - rest.size(), MessageParser::kMaxHeadBytes) << piece_size;
        EXPECT_NE(parser.error().find("larger than 65536 bytes"), std::string_view::npos)
            << parser.error();
        // An error sticks, next() included.
        parser.next();
        EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\n\r\n").event, Event::error);
    }
}

TEST(MessageParser, MalformedRequestsAreErrorsWithAReason) {
    struct Case {
        std::string_view bytes;
        const char* reason;  // part of error()
    };
    const Case cases[] = {
        {"GET / HTTP/1.1\r\nHost a\r\n\r\n", "HPE_INVALID_HEADER_TOKEN"},
        {"G(T / HTTP/1.1\r\n\r\n", "HPE_INVALID_METHOD"},
        {"GET / HTTP/1.1 junk\r\n\r\n", "HPE_"},
        {"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "HPE_INVALID_CONTENT_LENGTH"},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "HPE_"},
        // Request smuggling: both framings.
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         "HPE_UNEXPECTED_CONTENT_LENGTH"},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
         "HPE_INVALID_TRANSFER_ENCODING"},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
         "HPE_INVALID_CHUNK_SIZE"},
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "HPE_INVALID_METHOD"},  // TLS on HTTP
    };
    for (const auto& c : cases) {
        Feed feed;
        const auto steps = run(feed, c.bytes);
        EXPECT_EQ(steps, run(feed, byte_at_a_time(c.bytes))) << c.bytes;
        ASSERT_FALSE(steps.empty()) << c.bytes;
        EXPECT_EQ(steps.back().event, Event::error) << c.bytes;
        EXPECT_NE(steps.back().what.find(c.reason), std::string::npos) << steps.back().what;
    }
}

MessageHead parse_head(std::string_view request);

// Issue 10 item 7: what RFC 9112 refuses is refused, however the bytes arrive. llhttp checks the
// framing itself (built in its strict mode); Host, absolute-form and HTTP/1.0 checks are ours.
TEST(MessageParser, RefusesWhatRfc9112Refuses) {
    struct Case {
        const char* name;
        Kind kind;
        std::string_view bytes;
        const char* reason;  // part of error()
    };
    const Case cases[] = {
        {"chunk data not followed by CRLF (RFC 9112 7.1)", Kind::request,
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcAB0\r\n\r\n",
         "CRLF after chunk"},
        {"chunk data followed by a bare LF", Kind::request,
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n",
         "CRLF after chunk"},
        {"chunk size line ended by a bare CR", Kind::request,
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\rXabc\r\n0\r\n\r\n",
         "LF after chunk size"},
        {"head ended by CR and another byte", Kind::request, "GET / HTTP/1.1\r\nHost: a\r\n\rX",
         "LF after headers"},
        {"space before the colon (RFC 9112 5.1)", Kind::request,
         "GET / HTTP/1.1\r\nHost: a\r\nX-A : a\r\n\r\n", "HPE_INVALID_HEADER_TOKEN"},
        {"space before the colon in a trailer", Kind::request,
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T : v\r\n\r\n",
         "HPE_INVALID_HEADER_TOKEN"},
        {"a tab in the target", Kind::request, "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
         "HPE_INVALID_URL"},
        {"two Host headers (RFC 9112 3.2)", Kind::request,
         "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", "more than one Host"},
        {"two Host headers, the same value in another case", Kind::request,
         "GET / HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n", "more than one Host"},
        {"HTTP/1.1 without Host", Kind::request, "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
         "no Host"},
        {"Host with a path", Kind::request, "GET / HTTP/1.1\r\nHost: a.test/x\r\n\r\n",
         "not a host"},
        {"Host with userinfo", Kind::request, "GET / HTTP/1.1\r\nHost: u@a.test\r\n\r\n",
         "not a host"},
        {"a line folded into Host (obs-fold)", Kind::request,
         "GET / HTTP/1.1\r\nHost: a.test\r\n X-Injected: 1\r\n\r\n", "not a host"},
        {"HTTP/1.0 with Transfer-Encoding (RFC 9112 6.1)", Kind::request,
         "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         "Transfer-Encoding in an HTTP/1.0"},
        {"absolute-form with another scheme", Kind::request,
         "GET ftp://b.test/x HTTP/1.1\r\nHost: b.test\r\n\r\n", "http or https"},
        {"absolute-form with userinfo (RFC 9110 4.2.4)", Kind::request,
         "GET http://u:p@b.test/x HTTP/1.1\r\nHost: b.test\r\n\r\n", "userinfo"},
        {"absolute-form with an empty host (RFC 9110 4.2.1)", Kind::request,
         "GET http:///x HTTP/1.1\r\nHost: b.test\r\n\r\n", "no host"},
        {"response: chunk data not followed by CRLF", Kind::response,
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
         "CRLF after chunk"},
        {"response: HTTP/1.0 with Transfer-Encoding", Kind::response,
         "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "Transfer-Encoding in an HTTP/1.0"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Feed feed{.kind = c.kind};
        const auto steps = run(feed, c.bytes);
        ASSERT_FALSE(steps.empty());
        EXPECT_EQ(steps.back().event, Event::error);
        EXPECT_NE(steps.back().what.find(c.reason), std::string::npos) << steps.back().what;
        expect_same_at_every_split(Feed{.kind = c.kind}, c.bytes);
    }
}

// What RFC 9112 allows still passes: HTTP/1.0 needs no Host, an empty Host is a Host, an IPv6
// literal with a port is a host.
TEST(MessageParser, AcceptsHostsRfc9112Allows) {
    const std::string_view cases[] = {
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost:\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: a.test:443\r\n\r\n",
    };
    for (const auto bytes : cases) {
        Feed feed;
        const auto steps = run(feed, bytes);
        ASSERT_EQ(steps.size(), 2U) << bytes;
        EXPECT_EQ(steps.back().event, Event::message_complete) << steps.back().what;
    }
}

// RFC 9112 3.2.2: a request in absolute-form is about the target's authority, whatever Host says;
// the head becomes origin-form with that authority as its only Host (what the backend gets).
TEST(MessageParser, AbsoluteFormTargetIsRewrittenToOriginForm) {
    struct Case {
        std::string_view bytes;
        const char* target;
        const char* host;
        const char* path;
    };
    const Case cases[] = {
        {"GET http://b.test/x?y=1 HTTP/1.1\r\nHost: a.test\r\n\r\n", "/x?y=1", "b.test", "/x"},
        {"GET HTTPS://B.test:8443 HTTP/1.1\r\nHost: B.test:8443\r\n\r\n", "/", "B.test:8443", "/"},
        {"GET http://[2001:db8::1]:8443/p/%41 HTTP/1.1\r\nHost: x\r\n\r\n", "/p/%41",
         "[2001:db8::1]:8443", "/p/%41"},
        {"GET http://b.test?q HTTP/1.1\r\nHost: b.test\r\n\r\n", "/?q", "b.test", "/"},
        // HTTP/1.0 may leave Host out: the authority becomes the Host.
        {"GET http://b.test/x HTTP/1.0\r\n\r\n", "/x", "b.test", "/x"},
        // RFC 9112 3.2.4: OPTIONS for the whole server.
        {"OPTIONS http://b.test:8001 HTTP/1.1\r\nHost: b.test:8001\r\n\r\n", "*", "b.test:8001",
         "/"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.bytes);
        Feed feed;
        const auto steps = run(feed, c.bytes);
        ASSERT_EQ(steps.size(), 2U);
        ASSERT_EQ(feed.heads.size(), 1U);
        const auto& head = feed.heads[0];
        EXPECT_EQ(head.target, c.target);
        EXPECT_EQ(head.header("Host"), c.host);
        EXPECT_EQ(head.path(), c.path);
        EXPECT_EQ(std::count_if(head.headers.begin(), head.headers.end(),
                                [](const auto& h) { return h.first == "Host"; }),
                  1);
        expect_same_at_every_split(Feed{}, c.bytes);
    }
    // What the backend gets: origin-form, the authority as Host and as Forwarded's host.
    EXPECT_EQ(backend_request_head(
                  parse_head("GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n"),
                  "192.0.2.1", "https", true),
              "GET /x HTTP/1.1\r\nHost: b.test\r\nAccept: */*\r\nX-Forwarded-For: 192.0.2.1\r\n"
              "X-Forwarded-Proto: https\r\nForwarded: for=192.0.2.1;proto=https;host=b.test\r\n"
              "Connection: keep-alive\r\n\r\n");
}

TEST(MessageParser, ErrorSaysWhereTheBadByteIs) {
    constexpr std::string_view kBadName = "GET / HTTP/1.1\r\nHost a\r\n\r\n";
    MessageParser parser(Kind::request);
    ASSERT_EQ(parser.parse(kBadName.substr(0, 10)).event, Event::need_more);
    const auto progress = parser.parse(kBadName.substr(10));
    EXPECT_EQ(progress.event, Event::error);
    // A field name is a token: llhttp (strict) refuses the space itself, not the line end later;
    // the offset counts from the start of this call's input.
    EXPECT_EQ(10 + progress.consumed, kBadName.find(' ', 16));
}

TEST(MessageParser, UpgradeRequestEndsWithItsHead) {
    constexpr std::string_view kUpgrade =
        "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        "\x81\x05hello";
    MessageParser parser(Kind::request);
    auto progress = parser.parse(kUpgrade);
    ASSERT_EQ(progress.event, Event::head_complete);
    const auto head_size = progress.consumed;
    // The frames after it are the tunnel's business, not part of the message.
    progress = parser.parse(kUpgrade.substr(head_size));
    EXPECT_EQ(progress.event, Event::message_complete);
    EXPECT_EQ(progress.consumed, 0U);
}

TEST(MessageHead, Path) {
    struct Case {
        const char* target;
        const char* path;
    };
    const Case cases[] = {
        {"/", "/"},
        {"/a/b?c=d", "/a/b"},
        {"/a#frag", "/a"},
        {"*", "/"},
        {"http://www.contoso.com", "/"},
        {"http://www.contoso.com?q", "/"},
        {"https://www.contoso.com:8443/app/x?y", "/app/x"},
        {"www.contoso.com:443", "/"},
        {"/redirect?to=http://x/", "/redirect"},
    };
    for (const auto& c : cases) {
        MessageHead head;
        head.target = c.target;
        EXPECT_EQ(head.path(), c.path) << c.target;
    }
}

MessageHead parse_head(std::string_view request) {
    MessageParser parser(Kind::request);
    EXPECT_EQ(parser.parse(request).event, Event::head_complete) << parser.error();
    return parser.head();
}

TEST(BackendRequestHead, RewritesHopByHopAndForwarding) {
    struct Case {
        const char* name;
        std::string_view request;
        const char* client_ip;
        bool keep_alive;
        std::string_view expected;
    };
    const Case cases[] = {
        {"hop-by-hop removed, Host kept, XFF appended",
         "GET /app?x=1 HTTP/1.1\r\nHost: www.contoso.com\r\nConnection: keep-alive, X-Secret\r\n"
         "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n"
         "Upgrade: h2c\r\nX-Secret: 1\r\nX-Forwarded-For: 203.0.113.7\r\n"
         "X-Forwarded-Proto: http\r\nAccept: */*\r\n\r\n",
         "192.0.2.10", true,
         "GET /app?x=1 HTTP/1.1\r\nHost: www.contoso.com\r\nAccept: */*\r\n"
         "X-Forwarded-For: 203.0.113.7, 192.0.2.10\r\nX-Forwarded-Proto: https\r\n"
         "Forwarded: for=192.0.2.10;proto=https;host=www.contoso.com\r\n"
         "Connection: keep-alive\r\n\r\n"},
        {"IPv6 client quoted and bracketed, host with port quoted, existing Forwarded kept",
         "POST /f HTTP/1.1\r\nHost: a.example:8443\r\nForwarded: for=198.51.100.1\r\n"
         "Content-Length: 2\r\n\r\n",
         "2001:db8::1", false,
         "POST /f HTTP/1.1\r\nHost: a.example:8443\r\nContent-Length: 2\r\n"
         "X-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: https\r\n"
         "Forwarded: for=198.51.100.1, for=\"[2001:db8::1]\";proto=https;"
         "host=\"a.example:8443\"\r\nConnection: close\r\n\r\n"},
        {"framing headers survive being named in Connection",
         "POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Transfer-Encoding, Host\r\n"
         "Content-Length: 1\r\n\r\n",
         "10.0.0.1", true,
         "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nX-Forwarded-For: 10.0.0.1\r\n"
         "X-Forwarded-Proto: https\r\nForwarded: for=10.0.0.1;proto=https;host=a\r\n"
         "Connection: keep-alive\r\n\r\n"},
        {"WebSocket upgrade keeps Upgrade, HTTP/1.0 version and no Host",
         "GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: k\r\n\r\n",
         "[::1]", true,
         "GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n"
         "X-Forwarded-For: [::1]\r\nX-Forwarded-Proto: https\r\n"
         "Forwarded: for=\"[::1]\";proto=https\r\nConnection: Upgrade\r\n\r\n"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto rewritten =
            backend_request_head(parse_head(c.request), c.client_ip, "https", c.keep_alive);
        EXPECT_EQ(rewritten, c.expected);
        // What the backend receives is itself a well-formed head of the same size.
        MessageParser reparsed(Kind::request);
        const auto progress = reparsed.parse(rewritten);
        EXPECT_EQ(progress.event, Event::head_complete) << reparsed.error();
        EXPECT_EQ(progress.consumed, rewritten.size());
    }
}

TEST(SimpleResponse, ParsesBack) {
    struct Case {
        int status;
        const char* reason;
        const char* content_type;
        std::string_view body;
        bool keep_alive;
    };
    const Case cases[] = {
        {200, "OK", "text/plain; charset=utf-8", "hello from snibind\n", true},
        {502, "Bad Gateway", "", "", false},
        {404, "Not Found", "text/html", "<h1>no</h1>", false},
    };
    for (const auto& c : cases) {
        const auto bytes =
            simple_response(c.status, c.reason, c.content_type, c.body, c.keep_alive);
        MessageParser parser(Kind::response);
        auto progress = parser.parse(bytes);
        ASSERT_EQ(progress.event, Event::head_complete) << parser.error();
        const auto& head = parser.head();
        EXPECT_EQ(head.status, c.status);
        EXPECT_EQ(head.reason, c.reason);
        EXPECT_EQ(head.header("Content-Type"), c.content_type);
        EXPECT_EQ(head.header("Server"), "snibind");
        EXPECT_EQ(head.keep_alive, c.keep_alive);
        EXPECT_EQ(parser.content_length(), static_cast<std::int64_t>(c.body.size()));
        EXPECT_EQ(bytes.substr(progress.consumed), c.body);
        const auto head_size = progress.consumed;
        progress = parser.parse(std::string_view(bytes).substr(head_size));
        EXPECT_EQ(progress.event, Event::message_complete);
        EXPECT_EQ(head_size + progress.consumed, bytes.size());
    }
}

TEST(I5_InvalidHostnameResponse, IsHttpSysBytes) {
    // 1994-11-06 08:49:37 UTC, RFC 9110's example date.
    const auto when = std::chrono::system_clock::from_time_t(784111777);
    EXPECT_EQ(http_date(when), "Sun, 06 Nov 1994 08:49:37 GMT");
    const auto bytes = invalid_hostname_response(when);
    EXPECT_EQ(bytes,
              "HTTP/1.1 400 Bad Request\r\n"
              "Content-Type: text/html; charset=us-ascii\r\n"
              "Server: Microsoft-HTTPAPI/2.0\r\n"
              "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
              "Connection: close\r\n"
              "Content-Length: 334\r\n"
              "\r\n"
              "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/"
              "strict.dtd\">\r\n"
              "<HTML><HEAD><TITLE>Bad Request</TITLE>\r\n"
              "<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; "
              "charset=us-ascii\"></HEAD>\r\n"
              "<BODY><h2>Bad Request - Invalid Hostname</h2>\r\n"
              "<hr><p>HTTP Error 400. The request hostname is invalid.</p>\r\n"
              "</BODY></HTML>\r\n");

    const auto now = invalid_hostname_response();
    Feed feed{.kind = Kind::response};
    EXPECT_EQ(run(feed, now), (std::vector<Step>{{Event::head_complete, now.size() - 334, "400"},
                                                 {Event::message_complete, now.size(), ""}}));
    ASSERT_EQ(feed.heads.size(), 1U);
    EXPECT_FALSE(feed.heads[0].keep_alive);
    EXPECT_EQ(feed.heads[0].reason, "Bad Request");
}

}  // namespace
}  // namespace snibind::http
