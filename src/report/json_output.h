#pragma once
// The JSON and text renderings of what the core decided, shared by every command that prints one.
#include <nlohmann/json.hpp>
#include <string>

#include "bindings/selection.h"
#include "tls/client_hello_reader.h"

namespace snibind::report {

// "TLSv1.3", "TLSv1.2", ..., "SSLv2", else "0x7f1c".
std::string version_name(std::uint16_t v);

// JSON as text: the one way snibind writes JSON (admin API, every --json, the lab responder, the
// load report), `indent` as nlohmann's dump() (-1: one line). A string that is not valid UTF-8
// (a raw SNI or query byte, a file name, a site name from a config) gets U+FFFD for each bad
// byte: nlohmann's default throws type_error 316 instead, which would stop a command or the
// whole server. Fields that show client bytes use printable() first, to keep every byte visible.
std::string json_text(const nlohmann::json& j, int indent = 2);

// Bytes as a JSON-safe string: printable ASCII as is, every other byte as the code point of the
// same value (so a NUL in an SNI prints as \u0000 and 0xe9 as \u00e9), never invalid UTF-8.
std::string printable(std::string_view bytes);

// The fields of `snibind hello --json`.
nlohmann::json hello_json(const ClientHelloReader& reader, std::size_t input_bytes);
std::string hello_text(const ClientHelloReader& reader, std::size_t input_bytes);

// The fields of `snibind explain --json`. `record` (chosen_record()) names the record as the
// store holds it (a U-label host as written); without it, by the key the step looked up.
nlohmann::json decision_json(const Decision& d, const SelectionSettings& settings,
                             const Record* record = nullptr);
std::string decision_text(const Decision& d, const SelectionSettings& settings, bool sni_sent,
                          std::string_view sni);

}  // namespace snibind::report
