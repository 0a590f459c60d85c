// libFuzzer target for the YAML configuration of `snibind serve` (config/config.h): YAML text
// to a checked Config, through yaml-cpp and every key's parser.
//
// parse_config reads no file except the admin token file, and that only when it is a regular
// file (at most 4 KiB of it): the config's own folder does not exist here, so only an absolute
// path could name a file, and reading one is harmless. `_env` keys read the environment.
//
// Invariants, any violation aborts: no exception escapes (every failure is a ConfigError); an
// error names a line within the text (or 0) and a reason that quotes at most a few hundred bytes
// of the input; a config that parses has at least one listener and no record key twice.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "file_error_invariants.h"

#include "config/config.h"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
    snibind::fuzz::fail("config_fuzz", what, detail);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    snibind::config::ConfigError error;
    std::optional<snibind::config::Config> config;
    try {
        config =
            snibind::config::parse_config(text, "/nonexistent-snibind-fuzz/config.yaml", error);
    } catch (const std::exception& e) {
        fail("an exception escaped parse_config", e.what());
    }
    if (!config) {
        snibind::fuzz::check_file_error("config_fuzz", text, error);
        return 0;
    }
    if (config->listen.empty()) fail("a config without a listener", std::string(text));
    for (std::size_t i = 0; i < config->records.size(); ++i)
        for (std::size_t j = i + 1; j < config->records.size(); ++j)
            if (config->records[i].key == config->records[j].key)
                fail("a record key given twice", config->records[i].key.netsh_argument());
    return 0;
}
