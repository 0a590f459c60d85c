#pragma once
// The invariant every parser of an admin's file shares (the netsh store importer, the YAML
// configuration): an error names a line the text has (0: none in particular; +1: the end of
// the last line) and a reason that quotes at most a few hundred bytes of the input (text/quote.h
// cuts each quoted piece at 256 bytes; a reason holds at most two).
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace snibind::fuzz {

[[noreturn]] inline void fail(const char* target, const char* what, const std::string& detail) {
    std::fprintf(stderr, "%s: %s\n%.2000s\n", target, what, detail.c_str());
    std::abort();
}

// `Error` has `line`, `reason` and `message()` (config::ConfigError, netsh::ImportError).
template <typename Error>
void check_file_error(const char* target, std::string_view text, const Error& error) {
    std::size_t lines = 1;
    for (char c : text) lines += c == '\n';
    if (error.line < 0 || static_cast<std::size_t>(error.line) > lines + 1)
        fail(target, "an error on a line the text does not have", error.message());
    if (error.reason.size() > 4 * 1024)
        fail(target, "an error quoting too much input", error.reason);
}

}  // namespace snibind::fuzz
