#pragma once
// The proxy's YAML configuration (`snibind serve`), parsed and checked, before anything is loaded
// from disk. Key names are fixed by issue 3; see config/lab.yaml for a commented example.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bindings/address.h"
#include "bindings/record.h"
#include "bindings/selection.h"
#include "http/sites.h"
#include "proxy_protocol/proxy_header.h"

namespace snibind::config {

// A config error: the file, the 1-based line (0 when the error is not tied to one) and why.
struct ConfigError {
    std::filesystem::path file;
    int line = 0;
    std::string reason;
    std::string message() const;  // "lab.yaml:12: listen: '127.0.0.1' is not ADDR:PORT"
};

struct Listener {
    Endpoint endpoint;
    bool accept_proxy = false;  // a PROXY v1/v2 header precedes the hello (src/tls/README.md)
    // TCP_DEFER_ACCEPT: accepted once the client has sent something (proxy/worker.cpp).
    bool defer_accept = true;
};

// A record's action is the core's (bindings/record.h): selection carries it into the decision.
using Action = RecordAction;

// One entry under `records:`. Everything except the key is optional.
struct RecordEntry {
    RecordKey key;  // parsed from "hostnameport=a.example.com:8443" (netsh key syntax)
    int line = 0;   // where the entry starts, for later errors (missing certificate, ...)
    Action action = Action::terminate;
    std::optional<Endpoint> backend;                    // forward: required
    std::optional<proxy::ProxyVersion> proxy_protocol;  // forward: header sent to the backend
    std::optional<Thumbprint> certhash;
    std::optional<std::filesystem::path> certificate;  // resolved against the config's folder
    // netsh flag names as keys ("disablelegacytls: true", "clientcertnegotiation: enable"), kept
    // as the values to apply on top of the store's record (bit set -> on/off).
    std::uint32_t flags_set = 0, flags_cleared = 0;
    std::optional<Guid> appid;
};

struct Limits {
    std::chrono::milliseconds hello_timeout{5000};
    // Terminate: the TLS handshake after the hello (result=handshake_timeout). Forward: the
    // connection to the record's backend (result=backend_timeout). Each defaults to
    // hello_timeout, which bounded both before they could be set apart.
    std::chrono::milliseconds handshake_timeout{5000};
    std::chrono::milliseconds connect_timeout{5000};
    std::size_t max_hello_bytes = 16384;
    std::chrono::milliseconds idle_timeout{60000};
    // After termination: how long a site's backend may take to accept the connection, take the
    // request or send the next bytes of its answer (504 if it has not answered at all).
    std::chrono::milliseconds backend_timeout{60000};
    // How long an idle kept-alive connection to a site's backend waits in the pool for a next
    // request (see Config::backend_keepalive) before it is closed.
    std::chrono::milliseconds backend_keepalive_timeout{60000};
    std::size_t max_connections = 20000;
    std::chrono::milliseconds drain_timeout{10000};
    // The admin console: a connection that has not sent a whole request (or read its answer)
    // within admin_timeout is closed; beyond admin_max_connections open ones, 503 and close.
    std::chrono::milliseconds admin_timeout{10000};
    std::size_t admin_max_connections = 64;
};

struct Config {
    std::filesystem::path file;   // the YAML file itself; relative paths are against its folder
    SelectionSettings selection;  // profile, precedence, trailing_dot, unusable_key, on_reject
    std::vector<Listener> listen;
    std::optional<std::filesystem::path> store;
    std::vector<std::filesystem::path> certificates;
    std::string certificate_password;  // for .pfx files: `certificate_password` or its _env form
    std::optional<std::filesystem::path> ccs_folder;
    std::string ccs_password;
    std::vector<RecordEntry> records;  // in file order
    // `applications:`, keyed by appid (RecordEntry::appid; key, certificate and flags unused): the
    // action of every store record of that application that has no `records:` entry.
    std::vector<RecordEntry> applications;
    std::vector<http::Site> sites;
    std::string backend_sni;      // SNI sent to https:// site backends; empty: none (legacy server)
    bool backend_verify = false;  // verify https:// site backends' certificates
    // After termination, idle keep-alive connections kept per site backend and worker thread for
    // the next request, from any client (nginx's upstream `keepalive`); 0: a new connection for
    // every client connection.
    std::size_t backend_keepalive = 32;
    Limits limits;
    std::string access_log = "stdout";  // "stdout", "off", or a path (resolved)
    // The admin console listener: default 127.0.0.1:9443, `admin: off` disables it.
    std::optional<Endpoint> admin = Endpoint{IpAddress::from_v4(0x7f000001), 9443};
    // The admin token (the first line of admin_token_file): required for POST and for any
    // access from outside loopback. Empty: none configured.
    std::string admin_token;
    // Host names the admin console answers besides its own address and localhost (DNS
    // rebinding): lower case, without port.
    std::vector<std::string> admin_hosts;
    // `netsh http show urlacl` text: URL reservations (shown by the console). Optional.
    std::optional<std::filesystem::path> urlacl_store;
    // An IIS applicationHost.config whose <sites> are added to `sites`. Optional.
    std::optional<std::filesystem::path> iis_config;
};

// Reads and checks a config file. Relative paths are resolved against the file's folder;
// `_env` keys read environment variables. Unknown keys are errors (a typo must not be silently
// ignored). On failure returns nullopt and fills `error` with file, line and reason.
std::optional<Config> load_config(const std::filesystem::path& file, ConfigError& error);
// The same, from text (tests); `file` is used for messages and for resolving relative paths.
std::optional<Config> parse_config(std::string_view yaml, const std::filesystem::path& file,
                                   ConfigError& error);

}  // namespace snibind::config
