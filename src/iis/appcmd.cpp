#include "iis/appcmd.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "text/ascii.h"
#include "text/quote.h"

namespace snibind::iis {

namespace {

std::string to_upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c;
    return out;
}

// cmd.exe passes the quotes of /site.name:"Default Web Site" through; appcmd drops them.
std::string unquote(std::string_view v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return std::string(v);
}

AppcmdResult error(std::string message, std::string explanation = {}) {
    AppcmdResult r;
    r.exit_code = 1;
    r.out = "ERROR ( message:" + message + " )\n";
    if (!explanation.empty()) r.err = "snibind appcmd: " + explanation + "\n";
    return r;
}

AppcmdResult not_found(std::string_view site) {
    return error("Cannot find SITE object with identifier \"" + std::string(site) + "\".");
}

AppcmdResult unknown_attribute(std::string_view name) {
    return error("Unknown attribute \"" + std::string(name) + "\".  Replace with -? for help.");
}

AppcmdResult invalid_binding(const IisBinding& b) {
    std::string why;
    parse_http_binding(b.protocol, b.binding_information, why);
    AppcmdResult r;
    r.exit_code = 1;
    r.out =
        "ERROR ( hresult:80070057, message:Failed to commit configuration changes.\n"
        "The parameter is incorrect.\n )\n";
    r.err = "snibind appcmd: binding " + b.to_string() + ": " +
            (why.empty() ? std::string("protocol and bindingInformation are required") : why) +
            "\n";
    return r;
}

AppcmdResult duplicate_binding(const IisBinding& b) {
    // appcmd breaks the line before the closing ". )".
    return error(
        "Cannot add duplicate collection entry of type 'binding' with combined key attributes "
        "'protocol, bindingInformation' respectively set to '" +
        b.protocol + ", " + b.binding_information + "'\n.");
}

struct Parameter {
    enum class Kind { set, add_binding, remove_binding } kind = Kind::set;
    std::string name;   // lower case: "site.name", "bindings", "physicalpath"
    std::string value;  // unquoted; for bindings changes the text inside [...]
};

struct Command {
    std::optional<std::string> identifier;
    std::vector<Parameter> params;
};

std::optional<Command> parse_words(std::span<const std::string> words, std::string& bad) {
    Command cmd;
    for (const auto& word : words) {
        if (word.empty() || (word[0] != '/' && word[0] != '-')) {
            if (cmd.identifier) {
                bad = "more than one identifier (" + quote(*cmd.identifier) + ", " + quote(word) +
                      ")";
                return std::nullopt;
            }
            cmd.identifier = unquote(word);
            continue;
        }
        std::string_view rest = std::string_view(word).substr(1);
        Parameter p;
        if (rest.starts_with('+') || rest.starts_with('-')) {
            p.kind =
                rest[0] == '+' ? Parameter::Kind::add_binding : Parameter::Kind::remove_binding;
            rest.remove_prefix(1);
            auto open = rest.find(".[");
            if (open == std::string_view::npos || !rest.ends_with(']')) {
                bad = quote(word) + " is not /+bindings.[name='value',...]";
                return std::nullopt;
            }
            p.name = to_lower(rest.substr(0, open));
            p.value = std::string(rest.substr(open + 2, rest.size() - open - 3));
        } else {
            auto colon = rest.find(':');
            p.name = to_lower(rest.substr(0, colon));
            if (colon != std::string_view::npos) p.value = unquote(rest.substr(colon + 1));
        }
        cmd.params.push_back(std::move(p));
    }
    return cmd;
}

// "protocol='https',bindingInformation='*:443:h',sslFlags='1'" -> name/value pairs. Values are in
// single quotes (which may hold commas) or bare.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_selector(
    std::string_view text) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!text.empty()) {
        auto eq = text.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        std::string name = to_lower(text.substr(0, eq));
        text.remove_prefix(eq + 1);
        std::string value;
        if (text.starts_with('\'')) {
            auto close = text.find('\'', 1);
            if (close == std::string_view::npos) return std::nullopt;
            value = std::string(text.substr(1, close - 1));
            text.remove_prefix(close + 1);
        } else {
            auto comma = text.find(',');
            value = std::string(text.substr(0, comma));
            text.remove_prefix(comma == std::string_view::npos ? text.size() : comma);
        }
        if (!text.empty()) {
            if (text[0] != ',') return std::nullopt;
            text.remove_prefix(1);
        }
        out.emplace_back(std::move(name), std::move(value));
    }
    return out;
}

// Fills `b` from selector attributes; returns the name of an unknown or bad one.
std::optional<std::string> apply_selector(
    const std::vector<std::pair<std::string, std::string>>& attrs, IisBinding& b) {
    for (const auto& [name, value] : attrs) {
        if (name == "protocol") {
            b.protocol = value;
        } else if (name == "bindinginformation") {
            b.binding_information = value;
        } else if (name == "sslflags") {
            auto flags = parse_ssl_flags(value);
            if (!flags) return name;
            b.ssl_flags = *flags;
        } else if (name == "certificatehash") {
            b.certificate_hash = Thumbprint::parse(value);
            if (!b.certificate_hash) return name;
        } else if (name == "certificatestorename") {
            b.certificate_store_name = value;
        } else {
            return name;
        }
    }
    return std::nullopt;
}

const Parameter* find_param(const Command& cmd, std::string_view name) {
    for (const auto& p : cmd.params)
        if (p.kind == Parameter::Kind::set && p.name == name) return &p;
    return nullptr;
}

// The site a set/delete is about: the identifier, or /site.name: (appcmd also takes /name:).
std::optional<std::string> target_site(const Command& cmd) {
    if (cmd.identifier) return cmd.identifier;
    if (auto p = find_param(cmd, "site.name")) return p->value;
    return std::nullopt;
}

AppcmdResult must_specify_site() {
    return error("Must specify the SITE object with identifier or \"SITE.NAME\" parameter.");
}

AppcmdResult list_sites(const Command& cmd, const ApplicationHost& config) {
    for (const auto& p : cmd.params) {
        if (p.kind != Parameter::Kind::set ||
            (p.name != "name" && p.name != "id" && p.name != "site.name")) {
            return unknown_attribute(p.name);
        }
    }
    AppcmdResult r;
    if (cmd.identifier && !config.find_site(*cmd.identifier)) return not_found(*cmd.identifier);
    const Parameter* name = find_param(cmd, "name");
    if (!name) name = find_param(cmd, "site.name");
    const Parameter* id = find_param(cmd, "id");
    for (const auto& site : config.sites()) {
        if (cmd.identifier && !iequals(site.name, *cmd.identifier)) continue;
        if (name && !iequals(site.name, name->value)) continue;
        if (id && std::to_string(site.id) != id->value) continue;
        r.out += format_site_line(site) + "\n";
    }
    return r;
}

AppcmdResult set_site(const Command& cmd, ApplicationHost& config, bool& modified) {
    auto site = target_site(cmd);
    if (!site) return must_specify_site();
    const IisSite* s = config.find_site(*site);
    if (!s) return not_found(*site);
    std::string name = s->name;
    bool changed = false;
    for (const auto& p : cmd.params) {
        if (p.kind == Parameter::Kind::set) {
            if (p.name == "site.name" && !cmd.identifier) continue;
            return unknown_attribute(p.name);
        }
        if (p.name != "bindings") return unknown_attribute(p.name);
        auto attrs = parse_selector(p.value);
        IisBinding b;
        if (!attrs) {
            return error(
                "Malformed collection indexer; format is [@position,name='value',name2="
                "'value2',...]. @position is optional, and specifies whether to search "
                "from the (s)tart, (e)nd, or (a)ny position of the collection.",
                "cannot read [" + p.value + "]");
        }
        if (auto bad = apply_selector(*attrs, b)) return unknown_attribute(*bad);
        if (p.kind == Parameter::Kind::add_binding) {
            if (b.protocol.empty() || b.binding_information.empty()) return invalid_binding(b);
            switch (config.add_binding(name, b)) {
                case EditStatus::ok:
                    break;
                case EditStatus::duplicate:
                    return duplicate_binding(b);
                default:
                    return invalid_binding(b);
            }
        } else if (config.remove_binding(name, b.protocol, b.binding_information) !=
                   EditStatus::ok) {
            return error("Cannot find requested collection element.");
        }
        changed = true;
    }
    if (!changed) {
        return error("Must specify the attribute to set.",
                     "give /+bindings.[...] or "
                     "/-bindings.[...]");
    }
    modified = true;
    return AppcmdResult{0, "SITE object \"" + name + "\" changed\n", {}};
}

AppcmdResult add_site(const Command& cmd, ApplicationHost& config, bool& modified) {
    IisSite site;
    std::string physical_path;
    for (const auto& p : cmd.params) {
        if (p.kind != Parameter::Kind::set) return unknown_attribute(p.name);
        if (p.name == "name") {
            site.name = p.value;
        } else if (p.name == "id") {
            try {
                site.id = static_cast<std::uint32_t>(std::stoul(p.value));
            } catch (const std::exception&) {
                return error("Invalid id \"" + p.value + "\".");
            }
        } else if (p.name == "physicalpath") {
            physical_path = p.value;
        } else if (p.name == "bindings") {
            std::string_view list = p.value;
            while (!list.empty()) {
                auto comma = list.find(',');
                std::string_view one = list.substr(0, comma);
                list =
                    comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
                auto slash = one.find('/');
                IisBinding b;
                if (slash != std::string_view::npos) {
                    b.protocol = std::string(one.substr(0, slash));
                    b.binding_information = std::string(one.substr(slash + 1));
                }
                if (b.protocol.empty()) return invalid_binding(b);
                site.bindings.push_back(std::move(b));
            }
        } else {
            return unknown_attribute(p.name);
        }
    }
    if (site.name.empty() && cmd.identifier) site.name = *cmd.identifier;
    if (site.name.empty()) return error("Missing required attribute \"name\".");
    std::string name = site.name;
    std::vector<IisBinding> bindings = site.bindings;
    switch (config.add_site(std::move(site), physical_path)) {
        case EditStatus::ok:
            break;
        case EditStatus::duplicate:
            for (std::size_t i = 1; i < bindings.size(); ++i) {
                for (std::size_t j = 0; j < i; ++j) {
                    if (iequals(bindings[i].to_string(), bindings[j].to_string()))
                        return duplicate_binding(bindings[i]);
                }
            }
            return error("Failed to add duplicate collection element \"" + name + "\".");
        default:
            for (const auto& b : bindings) {
                std::string why;
                if (!parse_http_binding(b.protocol, b.binding_information, why) && !why.empty())
                    return invalid_binding(b);
            }
            return error("Missing required attribute \"name\".");
    }
    modified = true;
    AppcmdResult r;
    r.out = "SITE object \"" + name + "\" added\n";
    if (!physical_path.empty()) {
        r.out += "APP object \"" + name + "/\" added\n";
        r.out += "VDIR object \"" + name + "/\" added\n";
    }
    return r;
}

AppcmdResult delete_site(const Command& cmd, ApplicationHost& config, bool& modified) {
    for (const auto& p : cmd.params) {
        if (p.kind != Parameter::Kind::set || (p.name != "site.name" && p.name != "name"))
            return unknown_attribute(p.name);
    }
    auto site = target_site(cmd);
    if (!site) {
        if (auto p = find_param(cmd, "name")) site = p->value;
    }
    if (!site) return must_specify_site();
    const IisSite* s = config.find_site(*site);
    if (!s) return not_found(*site);
    std::string name = s->name;
    config.delete_site(name);
    modified = true;
    return AppcmdResult{0, "SITE object \"" + name + "\" deleted\n", {}};
}

}  // namespace

std::string format_site_line(const IisSite& site) {
    std::string bindings;
    for (const auto& b : site.bindings) {
        if (!bindings.empty()) bindings += ',';
        bindings += b.to_string();
    }
    return "SITE \"" + site.name + "\" (id:" + std::to_string(site.id) + ",bindings:" + bindings +
           ",state:" + (site.server_auto_start ? "Started" : "Stopped") + ")";
}

AppcmdResult run_appcmd(std::span<const std::string> words, ApplicationHost& config,
                        bool& modified) {
    if (words.size() < 2) {
        AppcmdResult r;
        r.exit_code = 2;
        r.err =
            "snibind appcmd: give a command: list site | set site | add site | delete site "
            "(see --help)\n";
        return r;
    }
    auto object = to_lower(words[1]);
    if (object != "site" && object != "sites") {
        AppcmdResult r;
        r.exit_code = 1;
        r.out = "Object '" + to_upper(words[1]) +
                "' is not supported.  Run 'appcmd.exe /?' to display supported objects.\n";
        r.err = "snibind appcmd: only the SITE object is implemented\n";
        return r;
    }
    std::string bad;
    auto cmd = parse_words(words.subspan(2), bad);
    if (!cmd) return error("Invalid syntax.", bad);
    auto verb = to_lower(words[0]);
    if (verb == "list") return list_sites(*cmd, config);
    if (verb == "set") return set_site(*cmd, config, modified);
    if (verb == "add") return add_site(*cmd, config, modified);
    if (verb == "delete") return delete_site(*cmd, config, modified);
    return error("The command \"" + words[0] + "\" is not supported by the SITE object.",
                 "snibind implements list, set, add and delete for sites");
}

}  // namespace snibind::iis
