#include "config/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <span>
#include <sstream>
#include <utility>

#include "http/backend_url.h"
#include "netsh/netsh_fields.h"
#include "text/ascii.h"
#include "text/duration.h"
#include "text/quote.h"
#include "tls/host_name.h"

namespace snibind::config {

namespace {

// Thrown by the parsing helpers and turned into a ConfigError at the top: every check is one line
// instead of a return-and-propagate chain.
struct Failure {
    int line;
    std::string reason;
};

using Known = std::span<const std::string_view>;

constexpr std::string_view kTopLevelKeys[]{
    "profile",
    "precedence",
    "listen",
    "store",
    "certificates",
    "ccs",
    "certificate_password",
    "certificate_password_env",
    "records",
    "applications",
    "sites",
    "backend_sni",
    "backend_verify",
    "backend_keepalive",
    "on_reject",
    "trailing_dot",
    "unusable_key",
    "limits",
    "access_log",
    "admin",
    "admin_token_file",
    "admin_hosts",
    "urlacl_store",
    "iis_config",
};
constexpr std::string_view kListenKeys[]{"address", "accept_proxy", "defer_accept"};
constexpr std::string_view kCcsKeys[]{"folder", "password", "password_env"};
constexpr std::string_view kLimitsKeys[]{"hello_timeout",
                                         "max_hello_bytes",
                                         "idle_timeout",
                                         "max_connections",
                                         "drain_timeout",
                                         "admin_timeout",
                                         "admin_max_connections",
                                         "backend_timeout",
                                         "handshake_timeout",
                                         "connect_timeout",
                                         "backend_keepalive_timeout"};
constexpr std::string_view kSiteKeys[]{"name", "bindings", "backend", "path"};
constexpr std::string_view kRecordKeys[]{"certificate", "certhash",       "action",
                                         "backend",     "proxy_protocol", "appid"};
// An application's action applies to records that already name their certificate in the store.
constexpr std::string_view kApplicationKeys[]{"action", "backend", "proxy_protocol"};

// src/tls/README.md design rule 2: the hello cap is configurable up to 64 KiB. Below a few hundred
// bytes no real ClientHello fits.
constexpr std::size_t kMinHelloBytes = 512;
constexpr std::size_t kMaxHelloBytes = 65536;

int line_of(const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    return mark.is_null() ? 0 : mark.line + 1;
}

[[noreturn]] void fail(const YAML::Node& node, std::string reason) {
    throw Failure{line_of(node), std::move(reason)};
}

std::string in_quotes(std::string_view s) {
    return quote(s);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// " (did you mean 'listen'?)" when one candidate is within two edits, else "".
template <typename Names>
std::string suggestion(std::string_view word, const Names& candidates) {
    const std::string lowered = to_lower(word);
    std::string_view best;
    std::size_t best_distance = 3;
    for (std::string_view candidate : candidates) {
        std::size_t d = edit_distance(lowered, candidate);
        if (d < best_distance) {
            best = candidate;
            best_distance = d;
        }
    }
    return best.empty() ? std::string() : " (did you mean " + in_quotes(best) + "?)";
}

std::string_view kind_name(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map:
            return "a map";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Scalar:
            return "a single value";
        default:
            return "nothing";
    }
}

// "listen: " or "" at the top of a path.
std::string prefix(std::string_view path) {
    return path.empty() ? std::string() : std::string(path) + ": ";
}

void expect_map(const YAML::Node& node, std::string_view path) {
    if (!node.IsMap())
        fail(node, prefix(path) + "expected a map, found " + std::string(kind_name(node)));
}

void expect_list(const YAML::Node& node, std::string_view path) {
    if (!node.IsSequence()) {
        fail(node, prefix(path) + "expected a list, found " + std::string(kind_name(node)));
    }
}

std::string scalar(const YAML::Node& node, std::string_view path) {
    if (!node.IsScalar()) {
        fail(node, prefix(path) + "expected a single value, found " + std::string(kind_name(node)));
    }
    return node.Scalar();
}

// The entries of a map, after checking that every key is known and none is given twice.
class Fields {
  public:
    Fields(const YAML::Node& map, std::string path, Known known)
        : map_(map), path_(std::move(path)) {
        expect_map(map, path_);
        for (auto it = map.begin(); it != map.end(); ++it) {
            std::string key = scalar(it->first, path_);
            if (std::find(known.begin(), known.end(), key) == known.end()) {
                fail(it->first,
                     prefix(path_) + "unknown key " + in_quotes(key) + suggestion(key, known));
            }
            if (!values_.emplace(key, it->second).second) {
                fail(it->first, prefix(path_) + in_quotes(key) + " is given twice");
            }
        }
    }

    std::optional<YAML::Node> get(std::string_view key) const {
        auto it = values_.find(std::string(key));
        if (it == values_.end()) return std::nullopt;
        return it->second;
    }
    YAML::Node required(std::string_view key) const {
        auto value = get(key);
        if (!value) fail(map_, prefix(path_) + in_quotes(key) + " is required");
        return *value;
    }
    std::string path(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }
    const YAML::Node& node() const { return map_; }

  private:
    YAML::Node map_;
    std::string path_;
    std::map<std::string, YAML::Node> values_;
};

bool parse_bool(const YAML::Node& node, std::string_view path) {
    std::string text = to_lower(scalar(node, path));
    if (text == "true") return true;
    if (text == "false") return false;
    fail(node, std::string(path) + ": " + in_quotes(node.Scalar()) + " is not true or false");
}

// text/duration.h's grammar (the load generator's too), in whole milliseconds, at most a year.
std::chrono::milliseconds parse_duration(const YAML::Node& node, std::string_view path) {
    std::string text = scalar(node, path);
    auto parsed = snibind::parse_duration(text);
    constexpr auto kMax = std::chrono::hours(365 * 24);  // a year is plenty
    if (!parsed || *parsed > kMax) {
        fail(node, std::string(path) + ": " + in_quotes(text) +
                       " is not a duration (5s, 500ms, 1.5s, 2m, or a number of seconds)");
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
    if (ms != *parsed)
        fail(node, std::string(path) + ": " + in_quotes(text) + " is finer than a millisecond");
    return ms;
}

std::size_t parse_count(const YAML::Node& node, std::string_view path, std::size_t min,
                        std::size_t max) {
    std::string text = scalar(node, path);
    std::size_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < min ||
        value > max) {
        fail(node, std::string(path) + ": " + in_quotes(text) + " is not a number " +
                       std::to_string(min) + "-" + std::to_string(max));
    }
    return value;
}

Endpoint parse_endpoint(const YAML::Node& node, std::string_view path) {
    std::string text = scalar(node, path);
    auto endpoint = Endpoint::parse(text);
    if (!endpoint) {
        fail(node,
             std::string(path) + ": " + in_quotes(text) + " is not ADDR:PORT (IPv6 as [::1]:8443)");
    }
    return *endpoint;
}

// `parse` is one of the parse_precedence family: text -> optional<Setting>.
template <typename Parse>
auto parse_setting(const YAML::Node& node, std::string_view path, Parse parse,
                   std::string_view choices) {
    std::string text = scalar(node, path);
    auto value = parse(text);
    if (!value)
        fail(node, std::string(path) + ": " + in_quotes(text) + " is not " + std::string(choices));
    return *value;
}

std::string read_env(const YAML::Node& node, std::string_view path) {
    std::string name = scalar(node, path);
    const char* value = std::getenv(name.c_str());
    if (!value)
        fail(node, std::string(path) + ": environment variable " + in_quotes(name) + " is not set");
    return value;
}

// A secret given either inline (`password`) or through the environment (`password_env`).
std::string parse_secret(const Fields& fields, std::string_view key, std::string_view env_key) {
    auto inline_value = fields.get(key);
    auto env_value = fields.get(env_key);
    if (inline_value && env_value) {
        fail(*env_value, fields.path(env_key) + ": give " + std::string(key) + " or " +
                             std::string(env_key) + ", not both");
    }
    if (inline_value) return scalar(*inline_value, fields.path(key));
    if (env_value) return read_env(*env_value, fields.path(env_key));
    return {};
}

// A site's backend (http/backend_url.h), refused with the file's line and the reason.
void check_backend_url(const YAML::Node& node, std::string_view path) {
    std::string text = scalar(node, path);
    std::string why;
    if (!http::BackendUrl::parse(text, why)) {
        fail(node, std::string(path) + ": " + in_quotes(text) +
                       " is not http://HOST:PORT or https://HOST:PORT (" + why + ")");
    }
}

// The first line of the admin token file (its first 4 KiB at most). Only a regular file is read:
// a device or a FIFO named by mistake (/dev/zero, /dev/stdin) would hang the loader or fill memory.
std::string read_token(const YAML::Node& node, const std::filesystem::path& path) {
    const std::string cannot_read = "admin_token_file: cannot read " + in_quotes(path.string());
    std::error_code ec;
    auto status = std::filesystem::status(path, ec);
    if (ec) fail(node, cannot_read);
    if (!std::filesystem::is_regular_file(status))
        fail(node, "admin_token_file: " + in_quotes(path.string()) + " is not a regular file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(node, cannot_read);
    std::string text(4096, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    return text.substr(0, text.find('\n'));
}

// Where a second YAML document starts (the 1-based line of its '---'), or 0 when the text holds
// one document. YAML::Load reads the first document and drops the rest without a word; a config
// is one document, so a second one (a pasted block, a merge gone wrong) is refused instead.
int second_document_line(const std::string& text) {
    struct Found {
        int line;
    };
    // Counts document starts and stops the parse at the second: what follows is never read.
    class Documents : public YAML::EventHandler {
      public:
        void OnDocumentStart(const YAML::Mark& mark) override {
            if (++count_ == 2) throw Found{std::max(mark.line + 1, 1)};
        }
        void OnDocumentEnd() override {}
        void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
        void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
        void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                      const std::string&) override {}
        void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                             YAML::EmitterStyle::value) override {}
        void OnSequenceEnd() override {}
        void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                        YAML::EmitterStyle::value) override {}
        void OnMapEnd() override {}

      private:
        int count_ = 0;
    } documents;
    std::istringstream in(text);
    YAML::Parser parser(in);
    try {
        while (parser.HandleNextDocument(documents)) {
        }
    } catch (const Found& found) {
        return found.line;
    }
    return 0;
}

class Parser {
  public:
    explicit Parser(const std::filesystem::path& file) : folder_(file.parent_path()) {}

    void parse(const YAML::Node& root, Config& config) {
        if (!root.IsMap()) {
            fail(root, "the config must be a map of keys (listen:, records:, ...), found " +
                           std::string(kind_name(root)));
        }
        Fields top(root, "", kTopLevelKeys);
        // Settings first: trailing_dot shapes how record keys are normalised (L6).
        parse_selection(top, config.selection);
        parse_listen(top, config.listen);
        if (auto node = top.get("store")) config.store = path_value(*node, "store");
        if (auto node = top.get("certificates")) {
            expect_list(*node, "certificates");
            for (const auto& entry : *node)
                config.certificates.push_back(path_value(entry, "certificates"));
        }
        config.certificate_password =
            parse_secret(top, "certificate_password", "certificate_password_env");
        if (auto node = top.get("ccs")) {
            Fields ccs(*node, "ccs", kCcsKeys);
            config.ccs_folder = path_value(ccs.required("folder"), "ccs.folder");
            config.ccs_password = parse_secret(ccs, "password", "password_env");
        }
        if (auto node = top.get("records")) parse_records(*node, config);
        if (auto node = top.get("applications")) parse_applications(*node, config);
        if (auto node = top.get("sites")) parse_sites(*node, config.sites);
        if (auto node = top.get("backend_sni")) config.backend_sni = scalar(*node, "backend_sni");
        if (auto node = top.get("backend_verify")) {
            config.backend_verify = parse_bool(*node, "backend_verify");
        }
        if (auto node = top.get("backend_keepalive")) {
            config.backend_keepalive = parse_count(*node, "backend_keepalive", 0, 100'000);
        }
        if (auto node = top.get("limits")) parse_limits(*node, config.limits);
        if (auto node = top.get("access_log")) config.access_log = parse_access_log(*node);
        if (auto node = top.get("admin")) {
            if (node->IsScalar() && node->Scalar() == "off")
                config.admin.reset();
            else
                config.admin = parse_endpoint(*node, "admin");
        }
        if (auto node = top.get("admin_token_file")) {
            config.admin_token = read_token(*node, path_value(*node, "admin_token_file"));
            while (!config.admin_token.empty() &&
                   (config.admin_token.back() == '\r' || config.admin_token.back() == ' '))
                config.admin_token.pop_back();
            if (config.admin_token.size() < 16)
                fail(*node,
                     "admin_token_file: the token (its first line) must have at least 16 "
                     "characters");
        }
        if (auto node = top.get("admin_hosts")) {
            expect_list(*node, "admin_hosts");
            for (const auto& entry : *node) {
                std::string name = scalar(entry, "admin_hosts");
                if (name.empty() || name.find_first_of(" /:") != std::string::npos)
                    fail(entry, "admin_hosts: " + in_quotes(name) +
                                    " is not a host name (give names without port)");
                config.admin_hosts.push_back(to_lower(name));
            }
        }
        if (auto node = top.get("urlacl_store"))
            config.urlacl_store = path_value(*node, "urlacl_store");
        if (auto node = top.get("iis_config")) config.iis_config = path_value(*node, "iis_config");
    }

  private:
    std::filesystem::path path_value(const YAML::Node& node, std::string_view path) const {
        std::string text = scalar(node, path);
        if (text.empty()) fail(node, std::string(path) + ": empty path");
        return folder_ / text;
    }

    // Each setting by its one list of names (bindings/setting_names.h).
    template <typename E, std::size_t N>
    static void parse_named(const Fields& top, const SettingNames<E, N>& names, E& out,
                            const std::string& choices) {
        if (auto node = top.get(names.setting))
            out = parse_setting(
                *node, names.setting, [&](std::string_view t) { return names.parse(t); }, choices);
    }

    static void parse_selection(const Fields& top, SelectionSettings& s) {
        parse_named(top, kProfileNames, s.profile,
                    "a profile (" + std::string(profile_names()) + ")");
        parse_named(top, kPrecedenceNames, s.precedence, kPrecedenceNames.list());
        parse_named(top, kTrailingDotNames, s.trailing_dot, kTrailingDotNames.list());
        parse_named(top, kUnusableKeyNames, s.unusable_key, kUnusableKeyNames.list());
        parse_named(top, kOnRejectNames, s.on_reject, kOnRejectNames.list());
    }

    static void parse_listen(const Fields& top, std::vector<Listener>& listeners) {
        YAML::Node list = top.required("listen");
        expect_list(list, "listen");
        if (list.size() == 0) fail(list, "listen: at least one ADDR:PORT is required");
        for (const auto& entry : list) {
            Listener listener;
            if (entry.IsMap()) {
                Fields fields(entry, "listen", kListenKeys);
                listener.endpoint = parse_endpoint(fields.required("address"), "listen");
                if (auto flag = fields.get("accept_proxy")) {
                    listener.accept_proxy = parse_bool(*flag, "listen.accept_proxy");
                }
                if (auto flag = fields.get("defer_accept")) {
                    listener.defer_accept = parse_bool(*flag, "listen.defer_accept");
                }
            } else if (entry.IsSequence()) {
                fail(entry,
                     "listen: expected ADDR:PORT, found a list (quote IPv6 addresses: "
                     "\"[::1]:8443\")");
            } else {
                listener.endpoint = parse_endpoint(entry, "listen");
            }
            for (const auto& seen : listeners) {
                if (seen.endpoint == listener.endpoint) {
                    fail(entry, "listen: " + listener.endpoint.to_string() + " is given twice");
                }
            }
            listeners.push_back(listener);
        }
    }

    void parse_limits(const YAML::Node& node, Limits& limits) const {
        Fields fields(node, "limits", kLimitsKeys);
        auto positive = [&](std::string_view key, std::chrono::milliseconds& out) {
            auto value = fields.get(key);
            if (!value) return;
            out = parse_duration(*value, fields.path(key));
            if (out.count() == 0) fail(*value, fields.path(key) + ": must be more than 0");
        };
        positive("hello_timeout", limits.hello_timeout);
        limits.handshake_timeout = limits.connect_timeout = limits.hello_timeout;
        positive("handshake_timeout", limits.handshake_timeout);
        positive("connect_timeout", limits.connect_timeout);
        positive("idle_timeout", limits.idle_timeout);
        positive("backend_timeout", limits.backend_timeout);
        positive("backend_keepalive_timeout", limits.backend_keepalive_timeout);
        positive("admin_timeout", limits.admin_timeout);
        if (auto value = fields.get("admin_max_connections")) {
            limits.admin_max_connections =
                parse_count(*value, "limits.admin_max_connections", 1, 100'000);
        }
        // Zero is meaningful here: close open connections at once on shutdown.
        if (auto value = fields.get("drain_timeout")) {
            limits.drain_timeout = parse_duration(*value, "limits.drain_timeout");
        }
        if (auto value = fields.get("max_hello_bytes")) {
            limits.max_hello_bytes =
                parse_count(*value, "limits.max_hello_bytes", kMinHelloBytes, kMaxHelloBytes);
        }
        if (auto value = fields.get("max_connections")) {
            limits.max_connections = parse_count(*value, "limits.max_connections", 1, 10'000'000);
        }
    }

    std::string parse_access_log(const YAML::Node& node) const {
        std::string text = scalar(node, "access_log");
        if (text == "stdout" || text == "off") return text;
        return path_value(node, "access_log").string();
    }

    void parse_sites(const YAML::Node& list, std::vector<http::Site>& sites) const {
        expect_list(list, "sites");
        for (std::size_t i = 0; i < list.size(); ++i) {
            const YAML::Node entry = list[i];
            Fields fields(entry, "sites[" + std::to_string(i) + "]", kSiteKeys);
            http::Site site;
            YAML::Node name = fields.required("name");
            site.name = scalar(name, fields.path("name"));
            for (const auto& seen : sites) {
                if (seen.name == site.name)
                    fail(name, "sites: name " + in_quotes(site.name) + " is given twice");
            }
            YAML::Node bindings = fields.required("bindings");
            expect_list(bindings, fields.path("bindings"));
            if (bindings.size() == 0) fail(bindings, fields.path("bindings") + ": empty");
            for (const auto& binding : bindings) {
                std::string text = scalar(binding, fields.path("bindings"));
                std::string error;
                auto parsed = http::SiteBinding::parse(text, error);
                if (!parsed)
                    fail(binding, fields.path("bindings") + ": " + in_quotes(text) + ": " + error);
                site.bindings.push_back(std::move(*parsed));
            }
            if (auto backend = fields.get("backend")) {
                check_backend_url(*backend, fields.path("backend"));
                site.backend = backend->Scalar();
            }
            if (auto path = fields.get("path")) {
                site.path = scalar(*path, fields.path("path"));
                if (!site.path.starts_with('/')) {
                    fail(*path, fields.path("path") + ": " + in_quotes(site.path) +
                                    " does not start with '/'");
                }
            }
            sites.push_back(std::move(site));
        }
    }

    static RecordKey parse_record_key(const YAML::Node& node, TrailingDot trailing_dot) {
        std::string text = scalar(node, "records");
        auto eq = text.find('=');
        auto syntax = [&](std::string why) {
            fail(node, "records: " + in_quotes(text) + " " + why +
                           " (netsh key syntax: ipport=IP:PORT, hostnameport=NAME:PORT, "
                           "ccs=PORT, scopedccs=NAME:PORT)");
        };
        if (eq == std::string::npos) syntax("is not a record key");
        const std::string_view parameter = std::string_view(text).substr(0, eq);
        auto family = netsh::family_from_parameter(parameter);
        if (!family) {
            constexpr std::array<std::string_view, 4> kNames{"ipport", "hostnameport", "ccs",
                                                             "scopedccs"};
            syntax("has an unknown key type" + suggestion(parameter, kNames));
        }
        std::string error;
        auto key =
            RecordKey::parse(*family, std::string_view(text).substr(eq + 1), error, trailing_dot);
        if (!key) fail(node, "records: " + in_quotes(text) + ": " + error);
        return *key;
    }

    void parse_records(const YAML::Node& map, Config& config) const {
        expect_map(map, "records");
        for (auto it = map.begin(); it != map.end(); ++it) {
            RecordEntry entry;
            entry.key = parse_record_key(it->first, config.selection.trailing_dot);
            entry.line = line_of(it->first);
            for (const auto& seen : config.records) {
                if (seen.key == entry.key) {
                    fail(it->first, "records: " + entry.key.netsh_argument() +
                                        " is given twice (line " + std::to_string(seen.line) + ")");
                }
            }
            // A key with no settings names a record the store must hold, kept to document it.
            if (!it->second.IsNull()) {
                parse_record_settings(it->second, "records[\"" + it->first.Scalar() + "\"]", entry,
                                      record_keys());
            }
            config.records.push_back(std::move(entry));
        }
    }

    // `applications:` maps an appid (the GUID netsh records carry) to an action for every store
    // record of that application, so a store of a million names needs no million YAML entries.
    void parse_applications(const YAML::Node& map, Config& config) const {
        expect_map(map, "applications");
        for (auto it = map.begin(); it != map.end(); ++it) {
            std::string text = scalar(it->first, "applications");
            RecordEntry entry;
            entry.appid = Guid::parse(text);
            if (!entry.appid)
                fail(it->first, "applications: " + in_quotes(text) + " is not a GUID");
            entry.line = line_of(it->first);
            for (const auto& seen : config.applications) {
                if (seen.appid == entry.appid) {
                    fail(it->first, "applications: " + in_quotes(text) + " is given twice (line " +
                                        std::to_string(seen.line) + ")");
                }
            }
            const std::string path = "applications[\"" + text + "\"]";
            if (it->second.IsNull()) fail(it->first, path + ": give it an action");
            parse_record_settings(it->second, path, entry, kApplicationKeys);
            config.applications.push_back(std::move(entry));
        }
    }

    void parse_record_settings(const YAML::Node& node, const std::string& path, RecordEntry& entry,
                               Known keys) const {
        Fields fields(node, path, keys);
        if (auto action = fields.get("action")) {
            std::string text = scalar(*action, fields.path("action"));
            if (text == "terminate") {
                entry.action = Action::terminate;
            } else if (text == "forward") {
                entry.action = Action::forward;
            } else {
                fail(*action, fields.path("action") + ": " + in_quotes(text) +
                                  " is not terminate or forward");
            }
        }
        bool forward = entry.action == Action::forward;
        if (auto backend = fields.get("backend")) {
            if (!forward) fail(*backend, fields.path("backend") + ": only with action: forward");
            entry.backend = parse_endpoint(*backend, fields.path("backend"));
        } else if (forward) {
            fail(node, path + ": action: forward needs a backend (ADDR:PORT)");
        }
        if (auto version = fields.get("proxy_protocol")) {
            if (!forward)
                fail(*version, fields.path("proxy_protocol") + ": only with action: forward");
            entry.proxy_protocol = parse_setting(*version, fields.path("proxy_protocol"),
                                                 proxy::parse_proxy_version, "v1 or v2");
        }
        auto certhash = fields.get("certhash");
        auto certificate = fields.get("certificate");
        if (certhash && certificate) {
            fail(*certificate,
                 path + ": certhash and certificate name the certificate twice; give one");
        }
        if (certhash) {
            std::string text = scalar(*certhash, fields.path("certhash"));
            entry.certhash = Thumbprint::parse(text);
            if (!entry.certhash) {
                fail(*certhash,
                     fields.path("certhash") + ": " + in_quotes(text) + " is not 40 hex digits");
            }
        }
        if (certificate) entry.certificate = path_value(*certificate, fields.path("certificate"));
        if (auto appid = fields.get("appid")) {
            if (appid->IsMap()) fail(*appid, fields.path("appid") + ": quote the GUID (\"{...}\")");
            std::string text = scalar(*appid, fields.path("appid"));
            entry.appid = Guid::parse(text);
            if (!entry.appid)
                fail(*appid, fields.path("appid") + ": " + in_quotes(text) + " is not a GUID");
        }
        for (const netsh::SslcertField& field : netsh::kSslcertFields) {
            if (!is_flag(field)) continue;
            if (auto value = fields.get(field.parameter)) {
                bool on = parse_flag(*value, fields.path(field.parameter));
                (on ? entry.flags_set : entry.flags_cleared) |= field.flag;
            }
        }
    }

    static bool is_flag(const netsh::SslcertField& field) {
        return field.kind == netsh::FieldKind::enabled_flag ||
               field.kind == netsh::FieldKind::set_flag;
    }

    // The record keys: kRecordKeys and the netsh parameter of every flag field.
    static const std::vector<std::string_view>& record_key_names() {
        static const std::vector<std::string_view> names = [] {
            std::vector<std::string_view> out(std::begin(kRecordKeys), std::end(kRecordKeys));
            for (const auto& field : netsh::kSslcertFields)
                if (is_flag(field)) out.push_back(field.parameter);
            return out;
        }();
        return names;
    }
    static Known record_keys() { return record_key_names(); }

    static bool parse_flag(const YAML::Node& node, const std::string& path) {
        std::string text = to_lower(scalar(node, path));
        if (text == "true" || text == "enable") return true;
        if (text == "false" || text == "disable") return false;
        fail(node, path + ": " + in_quotes(node.Scalar()) + " is not true/false or enable/disable");
    }

    std::filesystem::path folder_;
};

}  // namespace

std::string ConfigError::message() const {
    std::string out = file.string();
    if (line > 0) out += ":" + std::to_string(line);
    return out + ": " + reason;
}

std::optional<Config> parse_config(std::string_view yaml, const std::filesystem::path& file,
                                   ConfigError& error) {
    error = ConfigError{file, 0, {}};
    Config config;
    config.file = file;
    try {
        std::string text(yaml);
        if (int line = second_document_line(text)) {
            throw Failure{line,
                          "a second YAML document ('---') is not supported: a config is one "
                          "document"};
        }
        YAML::Node root = YAML::Load(text);
        Parser(file).parse(root, config);
        return config;
    } catch (const Failure& f) {
        error.line = f.line;
        error.reason = f.reason;
    } catch (const YAML::Exception& e) {
        error.line = e.mark.is_null() ? 0 : e.mark.line + 1;
        error.reason = "YAML syntax: " + e.msg;
    }
    return std::nullopt;
}

std::optional<Config> load_config(const std::filesystem::path& file, ConfigError& error) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        error = ConfigError{file, 0, "cannot read the config file"};
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_config(text.str(), file, error);
}

}  // namespace snibind::config
