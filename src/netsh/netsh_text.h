#pragma once
// The text of `netsh http show sslcert`: an importer that copes with output as people publish it
// (tests/data/netsh/) and a printer that produces Windows' layout for a profile
// (src/bindings/README.md S1, section 3). The fields themselves are described once, in
// netsh/netsh_fields.h.
//
// The importer accepts: CRLF or LF line ends; a UTF-8 byte-order mark; UTF-16 text with a
// byte-order mark (what PowerShell 5's `>` writes); a prompt line ("C:\>netsh http show sslcert",
// or a bare "C:\Users\me>"); the "SSL Certificate bindings:" header and its underline (any line of
// '-' and U+2014); blank lines; missing indentation and uneven padding around ':'; "(null)";
// Enabled/Disabled and Set/Not Set; " Extended Properties:" blocks; fields in any order; records
// that stop early or match an older Windows (a missing field keeps Record's default, which is
// netsh's default). It rejects everything else with file, line and reason, including `show urlacl`
// output and localised (non-English) output, whose labels it cannot read.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/profile.h"
#include "bindings/record.h"

namespace snibind::netsh {

struct ImportError {
    std::string file;
    int line = 0;  // 1-based; 0 when the error is not about one line (an unreadable file)
    std::string reason;
    // "file:line: reason", or just the reason when line is 0.
    std::string message() const;
    friend bool operator==(const ImportError&, const ImportError&) = default;
};

struct ImportResult {
    std::vector<Record> records;  // in file order
    std::vector<int> key_lines;   // the line of each record's key line, parallel to records
    std::optional<ImportError> error;
    bool ok() const { return !error.has_value(); }
};

// Imports the text of `netsh http show sslcert`. `file_name` is only used in errors. On error the
// result holds no records.
ImportResult parse_sslcert_text(std::string_view text, std::string_view file_name);

// The same import, fed in pieces of any size (a store file read a chunk at a time, so that a
// million-record store is never in memory whole): finish() returns what parse_sslcert_text would
// for the pieces' concatenation. `size_hint`, the text's expected size, sizes the record list.
class SslcertImporter {
  public:
    explicit SslcertImporter(std::string_view file_name, std::size_t size_hint = 0);
    ~SslcertImporter();
    SslcertImporter(const SslcertImporter&) = delete;
    SslcertImporter& operator=(const SslcertImporter&) = delete;
    // False once the text has an error (the rest need not be read).
    bool feed(std::string_view piece);
    ImportResult finish() &&;

  private:
    class Impl;
    std::unique_ptr<Impl> importer_;
};

// "\nSSL Certificate bindings:\n-------------------------\n\n"
inline constexpr std::string_view kSslcertHeader =
    "\nSSL Certificate bindings:\n-------------------------\n\n";

// One record as `show sslcert` prints it under `profile`: the key line, the fields the profile
// knows, Extended Properties blocks (windows-2022), then a blank line.
std::string format_record(const Record& record, Profile profile);
// The whole output of `netsh http show sslcert`: kSslcertHeader, then every record.
std::string format_sslcert(const std::vector<Record>& records, Profile profile);

}  // namespace snibind::netsh
