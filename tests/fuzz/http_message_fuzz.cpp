// libFuzzer target for MessageParser.
//
// Invariant: how the bytes are cut into reads never changes where heads and messages end. Each
// input is parsed as a request stream and then as a response stream (a response to HEAD when the
// first byte's top bit is set), (1) whole and (2) in two reads split at the first byte's value;
// both must report the same events at the same stream offsets with the same heads. Also checked
// on every call: consumed <= size, need_more consumes everything, no head longer than
// kMaxHeadBytes, nothing after an error. Any violation aborts.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_message.h"

namespace {

using snibind::http::MessageParser;
using Event = MessageParser::Event;

struct Step {
    Event event;
    std::size_t offset;  // in the whole stream
    std::string head;    // head_complete: everything the head says

    bool operator==(const Step&) const = default;
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "http_message_fuzz: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) fail(what);
}

std::string describe(const MessageParser& parser) {
    const auto& head = parser.head();
    std::string out = head.method + ' ' + head.target + ' ' + std::to_string(head.status) + ' ' +
                      head.reason + ' ' + std::to_string(head.version_major) + '.' +
                      std::to_string(head.version_minor) + (head.keep_alive ? " ka" : " close") +
                      (parser.body_chunked() ? " chunked " : " ") +
                      std::to_string(parser.content_length()) + ' ' + std::string(head.path());
    for (const auto& [name, value] : head.headers) out += '\n' + name + ": " + value;
    return out;
}

std::vector<Step> parse_stream(MessageParser::Kind kind, bool no_body,
                               const std::vector<std::string_view>& pieces) {
    MessageParser parser(kind);
    parser.expect_no_body(no_body);
    std::vector<Step> steps;
    std::size_t offset = 0, message_start = 0;
    for (auto piece : pieces) {
        while (true) {
            const auto progress = parser.parse(piece);
            check(progress.consumed <= piece.size(), "consumed more than given");
            piece.remove_prefix(progress.consumed);
            offset += progress.consumed;
            if (progress.event == Event::need_more) {
                check(piece.empty(), "need_more with bytes left over");
                break;
            }
            if (progress.event == Event::error) {
                check(!parser.error().empty(), "error without a reason");
                check(parser.parse(piece).event == Event::error, "an error did not stick");
                steps.push_back({Event::error, offset, ""});
                return steps;
            }
            if (progress.event == Event::head_complete) {
                check(offset - message_start <= MessageParser::kMaxHeadBytes, "head too long");
                steps.push_back({Event::head_complete, offset, describe(parser)});
                continue;
            }
            steps.push_back({Event::message_complete, offset, ""});
            parser.next();
            parser.expect_no_body(no_body);
            message_start = offset;
        }
    }
    const auto at_close = parser.finish();
    check(at_close.consumed == 0, "finish() consumed bytes");
    if (at_close.event != Event::need_more) steps.push_back({at_close.event, offset, ""});
    return steps;
}

void check_stream(MessageParser::Kind kind, bool no_body, std::string_view bytes,
                  std::size_t split) {
    const auto whole = parse_stream(kind, no_body, {bytes});
    const auto in_two = parse_stream(kind, no_body, {bytes.substr(0, split), bytes.substr(split)});
    check(whole == in_two, "splitting the input changed the events");
    for (std::size_t i = 1; i < whole.size(); ++i) {
        check(whole[i - 1].offset <= whole[i].offset, "events out of order");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const std::size_t split = std::min<std::size_t>(data[0], size);
    check_stream(MessageParser::Kind::request, false, bytes, split);
    check_stream(MessageParser::Kind::response, (data[0] & 0x80) != 0, bytes, split);
    return 0;
}
