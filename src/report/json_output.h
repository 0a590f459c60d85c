#pragma once
// The JSON and text renderings of what the core decided, shared by every command that prints one.
#include <nlohmann/json.hpp>
#include <string>

#include "bindings/selection.h"
#include "tls/client_hello_reader.h"

namespace snibind::report {

// "TLSv1.3", "TLSv1.2", ..., "SSLv2", else "0x7f1c".
std::string version_name(std::uint16_t v);

// Bytes as a JSON-safe string: printable ASCII as is, every other byte as the code point of the
// same value (so a NUL in an SNI prints as \u0000 and 0xe9 as \u00e9), never invalid UTF-8.
std::string printable(std::string_view bytes);

// The fields of `snibind hello --json`.
nlohmann::json hello_json(const ClientHelloReader& reader, std::size_t input_bytes);
std::string hello_text(const ClientHelloReader& reader, std::size_t input_bytes);

// The fields of `snibind explain --json`.
nlohmann::json decision_json(const Decision& d, const SelectionSettings& settings);
std::string decision_text(const Decision& d, const SelectionSettings& settings, bool sni_sent,
                          std::string_view sni);

}  // namespace snibind::report
