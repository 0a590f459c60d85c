#pragma once
// `netsh http add|delete|update|show sslcert` against a Store, with Windows' messages and exit
// statuses (src/bindings/README.md S1, S2, section 3).
//
// Differences from netsh.exe, on purpose: parameters are `name=value` only (netsh's positional
// form, `add sslcert 0.0.0.0:443 <hash> <appid>`, is not supported); verbs and objects must be
// spelt out (no `sh ssl` abbreviations); only the sslcert object of the http context exists; the
// usage text printed for a missing parameter is snibind's own, not netsh's. `add` without
// certstorename stores an empty name, which `show` prints as "(null)", as Windows does
// (tests/data/netsh/s3.txt); HTTP.sys then uses MY.
#include <span>
#include <string>

#include "bindings/profile.h"
#include "netsh/store_file.h"

namespace snibind::netsh {

struct NetshResult {
    int exit_code = 0;  // 0 on success, 1 when netsh reports a failure (as netsh.exe)
    std::string out;    // what netsh prints (its error messages included), byte for byte
    std::string err;    // snibind's explanation of a failure ("missing parameter appid"), or empty
};

// Runs one netsh command, e.g. {"http", "add", "sslcert", "ipport=0.0.0.0:443",
// "certhash=...", "appid={...}"}. Verbs and parameter names are case-insensitive. `profile`
// decides which keys and parameters exist and which fields `show` prints. Sets `modified` when the
// store changed (a successful add, delete or update) and leaves it alone otherwise.
NetshResult run_netsh(std::span<const std::string> words, Store& store, Profile profile,
                      bool& modified);

// The verbs and the parameters each takes under `profile`, for help texts.
std::string netsh_synopsis(Profile profile);

}  // namespace snibind::netsh
