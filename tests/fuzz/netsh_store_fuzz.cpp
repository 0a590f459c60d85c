// libFuzzer target for the netsh store importer: the text of `netsh http show sslcert` that
// every store file is (netsh/netsh_text.h).
//
// Invariants, any violation aborts:
// - an import either succeeds with records and no error, or fails with no records, a line within
//   the text and a reason that quotes at most a few hundred bytes of the input (issue 10 item 12);
// - what the importer accepts survives a save: the records printed in the store file's layout
//   (windows-2022, every field) import again to the same records, and printing those gives the
//   same text. A store that loads but saves to something that does not load back would lose
//   every record at the next edit.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "file_error_invariants.h"

#include "netsh/netsh_text.h"

namespace {

using snibind::Profile;
using snibind::netsh::format_sslcert;
using snibind::netsh::parse_sslcert_text;

[[noreturn]] void fail(const char* what, const std::string& detail) {
    snibind::fuzz::fail("netsh_store_fuzz", what, detail);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto result = parse_sslcert_text(text, "store.txt");
    if (!result.ok()) {
        const auto& error = *result.error;
        if (!result.records.empty()) fail("an error with records", error.message());
        snibind::fuzz::check_file_error("netsh_store_fuzz", text, error);
        return 0;
    }
    if (result.records.size() != result.key_lines.size()) fail("key lines", "");
    const std::string saved = format_sslcert(result.records, Profile::windows_2022);
    auto reloaded = parse_sslcert_text(saved, "store.txt");
    if (!reloaded.ok())
        fail("a saved store does not load", reloaded.error->message() + "\n" + saved);
    if (reloaded.records != result.records) fail("a saved store loads different records", saved);
    if (format_sslcert(reloaded.records, Profile::windows_2022) != saved)
        fail("saving a reloaded store changes it", saved);
    return 0;
}
