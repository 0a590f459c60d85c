#include "netsh/netsh_command.h"

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "netsh/netsh_fields.h"
#include "netsh/netsh_text.h"
#include "text/ascii.h"
#include "text/quote.h"

namespace snibind::netsh {

namespace {

enum class Verb { show, add, remove, update };

constexpr std::string_view kNotFound = "The system cannot find the file specified.\n\n";
constexpr std::string_view kAlreadyExists =
    "Cannot create a file when that file already exists.\n\n";
constexpr std::string_view kParameterIncorrect = "The parameter is incorrect.\n\n";
constexpr int kErrorInvalidParameter = 87;

std::optional<Verb> parse_verb(std::string_view word) {
    auto w = to_lower(word);
    if (w == "show") return Verb::show;
    if (w == "add") return Verb::add;
    if (w == "delete") return Verb::remove;
    if (w == "update") return Verb::update;
    return std::nullopt;
}

std::string_view verb_name(Verb v) {
    switch (v) {
        case Verb::show:
            return "show";
        case Verb::add:
            return "add";
        case Verb::remove:
            return "delete";
        case Verb::update:
            return "update";
    }
    return "show";
}

bool family_allowed(Family f, Profile p) {
    switch (f) {
        case Family::ip:
            return true;
        case Family::host:
        case Family::ccs:
            return has_sni(p);
        case Family::scoped_ccs:
            return has_scoped_ccs(p);
    }
    return false;
}

std::string_view key_syntax(Family f) {
    switch (f) {
        case Family::ip:
            return "<ipaddr:port>";
        case Family::host:
        case Family::scoped_ccs:
            return "<name:port>";
        case Family::ccs:
            return "<port>";
    }
    return "<value>";
}

// The first profile that has a family (for error messages).
Profile family_since(Family f) {
    switch (f) {
        case Family::ip:
            return Profile::windows_2008r2;
        case Family::host:
        case Family::ccs:
            return Profile::windows_2012;
        case Family::scoped_ccs:
            return Profile::windows_2022;
    }
    return Profile::windows_2008r2;
}

bool needs_certhash(Family f) {
    return f == Family::ip || f == Family::host;
}

std::string usage(Verb verb, Profile profile) {
    std::string keys;
    for (auto f : {Family::ip, Family::host, Family::ccs, Family::scoped_ccs}) {
        if (!family_allowed(f, profile)) continue;
        if (!keys.empty()) keys += " | ";
        keys += netsh_parameter(f);
        keys += '=';
        keys += key_syntax(f);
    }
    std::string out = "Usage: ";
    out += verb_name(verb);
    out += " sslcert ";
    const std::string indent(out.size(), ' ');
    out += verb == Verb::show ? "[" + keys + "]" : keys;
    out += '\n';
    if (verb == Verb::add || verb == Verb::update) {
        for (auto& field : kSslcertFields) {
            if (!known_in(field, profile)) continue;
            bool required = verb == Verb::add &&
                            (field.kind == FieldKind::thumbprint || field.kind == FieldKind::guid);
            out += indent;
            out += required ? "" : "[";
            out += field.parameter;
            out += '=';
            out += parameter_syntax(field);
            out += required ? "" : "]";
            if (required && field.kind == FieldKind::thumbprint && has_sni(profile)) {
                out += "  (none for ccs=";
                out += has_scoped_ccs(profile) ? " and scopedccs=)" : ")";
            }
            out += '\n';
        }
    }
    return out;
}

struct Failure {
    int code = kErrorInvalidParameter;
    std::string explanation;  // for stderr
    bool print_usage = false;
};

// What netsh prints on stdout for a failed command.
std::string failure_text(Verb verb, int code) {
    std::string out;
    switch (verb) {
        case Verb::show:
            out = kSslcertHeader;
            break;
        case Verb::add:
            out = "SSL Certificate add failed, Error: ";
            break;
        case Verb::remove:
            out = "SSL Certificate deletion failed, Error: ";
            break;
        case Verb::update:
            out = "SSL Certificate update failed, Error: ";
            break;
    }
    if (verb != Verb::show) out += std::to_string(code) + "\n";
    switch (code) {
        case 2:
            out += kNotFound;
            break;
        case 183:
            out += kAlreadyExists;
            break;
        default:
            out += kParameterIncorrect;
            break;
    }
    return out;
}

NetshResult failed(Verb verb, Profile profile, const Failure& f) {
    NetshResult r;
    r.exit_code = 1;
    if (f.print_usage) {
        r.out = "\n" + usage(verb, profile) + "\n" + std::string(kParameterIncorrect);
    } else {
        r.out = failure_text(verb, f.code);
    }
    if (!f.explanation.empty()) r.err = "snibind netsh: " + f.explanation + "\n";
    return r;
}

NetshResult succeeded(std::string out) {
    return NetshResult{0, std::move(out), {}};
}

struct Command {
    std::optional<RecordKey> key;
    std::string host_as_written;
    std::vector<std::pair<const SslcertField*, std::string>> params;
};

// Parses the name=value words after "http VERB sslcert". On failure returns false and sets `f`.
bool parse_parameters(std::span<const std::string> words, Verb verb, Profile profile, Command& cmd,
                      Failure& f) {
    for (auto& word : words) {
        auto eq = word.find('=');
        if (eq == std::string::npos) {
            f.explanation = quote(word) +
                            " is not name=value: snibind supports only the name=value form of "
                            "netsh parameters";
            return false;
        }
        auto name = to_lower(std::string_view(word).substr(0, eq));
        std::string_view value = std::string_view(word).substr(eq + 1);
        if (auto family = family_from_parameter(name)) {
            if (cmd.key) {
                f.explanation = "more than one key parameter (" + cmd.key->netsh_argument() + ", " +
                                shown(word) + ")";
                return false;
            }
            if (!family_allowed(*family, profile)) {
                f.explanation = name + "= records need " +
                                std::string(to_string(family_since(*family))) +
                                " or later (profile " + std::string(to_string(profile)) + ")";
                return false;
            }
            std::string error;
            auto key = RecordKey::parse(*family, value, error);
            if (!key) {
                f.explanation = shown(name) + "=" + shown(value) + ": " + error;
                return false;
            }
            if (key->is_wildcard() && !has_wildcard_hosts(profile)) {
                f.explanation = "wildcard host records need windows-2016 or later (profile " +
                                std::string(to_string(profile)) + ")";
                return false;
            }
            if (*family == Family::host || *family == Family::scoped_ccs) {
                auto written = value.substr(0, value.rfind(':'));
                if (written != key->host) cmd.host_as_written = std::string(written);
            }
            cmd.key = std::move(key);
            continue;
        }
        const SslcertField* field = find_field_by_parameter(name);
        if (!field) {
            f.explanation = "unknown parameter " + quote(name);
            return false;
        }
        if (!known_in(*field, profile)) {
            f.explanation = name + "= needs " + std::string(to_string(field->since)) +
                            " or later (profile " + std::string(to_string(profile)) + ")";
            return false;
        }
        if (verb == Verb::show || verb == Verb::remove) {
            f.explanation = std::string(verb_name(verb)) + " sslcert takes only a key, not " + name;
            return false;
        }
        for (auto& [seen, v] : cmd.params) {
            if (seen == field) {
                f.explanation = name + " is given twice";
                return false;
            }
        }
        cmd.params.emplace_back(field, value);
    }
    return true;
}

// Applies the parameters to `record`; on a bad value returns false and sets `f`.
bool apply(const Command& cmd, Record& record, Failure& f) {
    for (auto& [field, value] : cmd.params) {
        std::string error;
        if (!parse_parameter_value(*field, value, record, error)) {
            f.explanation = error;
            return false;
        }
    }
    if (record.certhash && !needs_certhash(record.key.family)) {
        f.explanation = std::string(netsh_parameter(record.key.family)) +
                        " records take no certhash: the certificate comes from the central "
                        "certificate store";
        return false;
    }
    return true;
}

NetshResult not_found_command(std::span<const std::string> words, std::string explanation) {
    NetshResult r;
    r.exit_code = 1;
    r.out = "The following command was not found: ";
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (i) r.out += ' ';
        r.out += shown(words[i]);  // as typed, unless it is huge
    }
    r.out += ".\n";
    if (!explanation.empty()) r.err = "snibind netsh: " + explanation + "\n";
    return r;
}

}  // namespace

NetshResult run_netsh(std::span<const std::string> words, Store& store, Profile profile,
                      bool& modified) {
    constexpr std::string_view kOnly =
        "snibind implements only 'http add|delete|update|show sslcert'";
    if (words.size() < 3 || to_lower(words[0]) != "http") {
        return not_found_command(words, std::string(kOnly));
    }
    auto verb = parse_verb(words[1]);
    if (!verb || to_lower(words[2]) != "sslcert") {
        return not_found_command(words, std::string(kOnly));
    }
    Command cmd;
    Failure failure;
    if (!parse_parameters(words.subspan(3), *verb, profile, cmd, failure)) {
        return failed(*verb, profile, failure);
    }
    if (!cmd.key && *verb != Verb::show) {
        failure.print_usage = true;
        failure.explanation = "missing key parameter (ipport=, hostnameport=, ccs= or scopedccs=)";
        return failed(*verb, profile, failure);
    }

    switch (*verb) {
        case Verb::show: {
            if (!cmd.key) return succeeded(format_sslcert(store.records(), profile));
            const Record* record = store.find(*cmd.key);
            if (!record) return failed(*verb, profile, Failure{2, {}, false});
            return succeeded(std::string(kSslcertHeader) + format_record(*record, profile));
        }
        case Verb::remove:
            if (store.remove(*cmd.key) != StoreStatus::ok) {
                return failed(*verb, profile, Failure{2, {}, false});
            }
            modified = true;
            return succeeded("\nSSL Certificate successfully deleted\n\n");
        case Verb::add: {
            Record record;
            record.key = *cmd.key;
            record.host_as_written = cmd.host_as_written;
            record.cert_store_name.clear();  // netsh without certstorename: "(null)"
            if (!apply(cmd, record, failure)) return failed(*verb, profile, failure);
            bool hash_missing = needs_certhash(record.key.family) && !record.certhash;
            if (hash_missing || !record.appid) {
                failure.print_usage = true;
                failure.explanation =
                    hash_missing
                        ? "missing parameter certhash (required for ipport= and hostnameport=)"
                        : "missing parameter appid";
                return failed(*verb, profile, failure);
            }
            if (store.add(std::move(record)) != StoreStatus::ok) {
                return failed(*verb, profile, Failure{183, {}, false});
            }
            modified = true;
            return succeeded("\nSSL Certificate successfully added\n\n");
        }
        case Verb::update: {
            // Check every value before looking the key up, as netsh validates before it asks
            // HTTP.sys: a bad value is error 87 even for a missing record.
            Record scratch;
            scratch.key = *cmd.key;
            if (!apply(cmd, scratch, failure)) return failed(*verb, profile, failure);
            const Record* existing = store.find(*cmd.key);
            if (!existing) return failed(*verb, profile, Failure{2, {}, false});
            Record record = *existing;
            if (!apply(cmd, record, failure)) return failed(*verb, profile, failure);
            store.update(std::move(record));
            modified = true;
            return succeeded("\nSSL Certificate successfully updated\n\n");
        }
    }
    return not_found_command(words, std::string(kOnly));
}

std::string netsh_synopsis(Profile profile) {
    std::string out;
    for (auto verb : {Verb::show, Verb::add, Verb::update, Verb::remove}) {
        out += usage(verb, profile);
    }
    return out;
}

}  // namespace snibind::netsh
