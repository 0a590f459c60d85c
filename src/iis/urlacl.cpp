#include "iis/urlacl.h"

#include <algorithm>
#include <charconv>
#include <system_error>
#include <utility>

#include "iis/application_host.h"
#include "netsh/store_file.h"
#include "text/ascii.h"
#include "text/quote.h"

namespace snibind::iis {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// ---- accounts: netsh resolves names to SIDs; a lab knows only the well-known ones ----

struct WellKnownAccount {
    std::string_view name;     // what people type after user=
    std::string_view printed;  // what `show urlacl` prints
    std::string_view sid;      // the SDDL abbreviation
};

constexpr WellKnownAccount kAccounts[]{
    {"everyone", "\\Everyone", "WD"},
    {"network service", "NT AUTHORITY\\NETWORK SERVICE", "NS"},
    {"local service", "NT AUTHORITY\\LOCAL SERVICE", "LS"},
    {"system", "NT AUTHORITY\\SYSTEM", "SY"},
    {"authenticated users", "NT AUTHORITY\\Authenticated Users", "AU"},
    {"users", "BUILTIN\\Users", "BU"},
    {"administrators", "BUILTIN\\Administrators", "BA"},
};

const WellKnownAccount* find_account(std::string_view user) {
    auto bare = user;
    if (auto slash = bare.rfind('\\'); slash != std::string_view::npos)
        bare = bare.substr(slash + 1);
    for (const auto& a : kAccounts)
        if (iequals(a.name, bare) || iequals(a.printed, user)) return &a;
    return nullptr;
}

std::string printed_user(std::string_view user) {
    if (auto a = find_account(user)) return std::string(a->printed);
    return std::string(user);
}

std::string_view access_right(bool listen, bool delegate) {
    if (listen && delegate) return "GA";
    return listen ? "GX" : "GW";
}

// Without an account database the SID of an ordinary account is unknown: the SDDL names it.
std::string sddl_for(const std::vector<UrlAce>& users) {
    std::string out = "D:";
    for (const auto& u : users) {
        auto a = find_account(u.user);
        out += "(A;;" + std::string(access_right(u.listen, u.delegate)) + ";;;" +
               (a ? std::string(a->sid) : u.user) + ")";
    }
    return out;
}

// "D:(A;;GX;;;WD)(A;;GA;;;BU)" -> the users; nullopt when it is not that shape.
std::optional<std::vector<UrlAce>> users_from_sddl(std::string_view sddl) {
    if (!istarts_with(sddl, "D:")) return std::nullopt;
    sddl.remove_prefix(2);
    std::vector<UrlAce> users;
    while (!sddl.empty()) {
        if (sddl.front() != '(') return std::nullopt;
        auto close = sddl.find(')');
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view ace = sddl.substr(1, close - 1);
        sddl.remove_prefix(close + 1);
        // type;flags;rights;object;inherited object;sid
        std::vector<std::string_view> parts;
        for (std::size_t start = 0;;) {
            auto semi = ace.find(';', start);
            parts.push_back(ace.substr(start, semi - start));
            if (semi == std::string_view::npos) break;
            start = semi + 1;
        }
        if (parts.size() != 6 || parts[0] != "A" || parts[5].empty()) return std::nullopt;
        UrlAce u;
        u.listen = parts[2] == "GX" || parts[2] == "GA";
        u.delegate = parts[2] == "GW" || parts[2] == "GA";
        if (!u.listen && !u.delegate) return std::nullopt;
        u.user = std::string(parts[5]);
        for (const auto& a : kAccounts)
            if (a.sid == parts[5]) u.user = std::string(a.printed);
        users.push_back(std::move(u));
    }
    if (users.empty()) return std::nullopt;
    return users;
}

// ---- URLs ----

struct ParsedUrl {
    std::string scheme;
    std::string host;  // "+", "*", a name, "10.0.0.5", "[::1]"
    std::uint16_t port = 0;
    std::string path;
};

std::optional<ParsedUrl> parse_url(std::string_view url, std::string& error) {
    ParsedUrl p;
    if (istarts_with(url, "https://")) {
        p.scheme = "https";
    } else if (istarts_with(url, "http://")) {
        p.scheme = "http";
    } else {
        error = "the URL does not start with http:// or https://";
        return std::nullopt;
    }
    std::string_view rest = url.substr(p.scheme.size() + 3);
    std::size_t host_end = 0;
    if (rest.starts_with('[')) {
        host_end = rest.find(']');
        if (host_end == std::string_view::npos) {
            error = "the IPv6 address has no closing ']'";
            return std::nullopt;
        }
        ++host_end;
        if (!IpAddress::parse(rest.substr(0, host_end))) {
            error = quote(rest.substr(0, host_end)) + " is not an IPv6 address";
            return std::nullopt;
        }
    } else {
        host_end = std::min(rest.find(':'), rest.find('/'));
        if (host_end == std::string_view::npos) host_end = rest.size();
    }
    p.host = std::string(rest.substr(0, host_end));
    if (p.host.empty()) {
        error = "the URL has no host (use + or * for any host)";
        return std::nullopt;
    }
    rest.remove_prefix(host_end);
    if (!rest.starts_with(':')) {
        error = "the URL has no port (https://+:443/)";
        return std::nullopt;
    }
    rest.remove_prefix(1);
    auto slash = rest.find('/');
    auto port_text = rest.substr(0, slash);
    auto port = parse_port(port_text);
    if (!port) {
        error = "port " + quote(port_text) + " is not 1-65535";
        return std::nullopt;
    }
    p.port = *port;
    p.path = slash == std::string_view::npos ? std::string() : std::string(rest.substr(slash));
    if (p.path.empty() || p.path.back() != '/') {
        error = "the URL must end with '/'";
        return std::nullopt;
    }
    for (char c : p.host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '+' || c == '*' || c == '[' ||
                  c == ']' || c == ':';
        if (!ok) {
            error = "host " + quote(p.host) + " has a character a host name cannot have";
            return std::nullopt;
        }
    }
    if ((p.host.find_first_of("+*") != std::string::npos) && p.host != "+" && p.host != "*" &&
        !p.host.starts_with("*.")) {
        error = "host " + quote(p.host) + ": + and * stand alone";
        return std::nullopt;
    }
    return p;
}

// ---- the importer ----

class Importer {
  public:
    explicit Importer(std::string_view file) : file_(file) {}

    UrlaclImport run(std::string_view text) {
        if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
        if (text.find('\0') != std::string_view::npos) {
            fail(0,
                 "contains a NUL byte: UTF-16 text is not supported, save it as UTF-8 (or "
                 "use cmd's > instead of PowerShell 5's)");
            return std::move(result_);
        }
        int number = 0;
        while (!text.empty() && !result_.error) {
            auto nl = text.find('\n');
            std::string_view line = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
            read_line(trim(line), ++number);
        }
        if (result_.error) result_.reservations.clear();
        return std::move(result_);
    }

  private:
    void fail(int line, std::string reason) {
        result_.error = netsh::ImportError{file_, line, std::move(reason)};
    }

    static bool is_prompt(std::string_view line) {
        return line.size() >= 3 && line[1] == ':' && line[2] == '\\' &&
               line.find('>') != std::string_view::npos;
    }

    static bool is_underline(std::string_view line) {
        while (!line.empty()) {
            if (line.starts_with('-')) {
                line.remove_prefix(1);
            } else if (line.starts_with("\xE2\x80\x94")) {
                line.remove_prefix(3);
            } else {
                return false;
            }
        }
        return true;
    }

    static std::optional<bool> yes_no(std::string_view v) {
        if (iequals(v, "yes")) return true;
        if (iequals(v, "no")) return false;
        return std::nullopt;
    }

    void read_line(std::string_view line, int number) {
        if (line.empty() || is_prompt(line) || is_underline(line) ||
            iequals(line, "URL Reservations:")) {
            return;
        }
        auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            fail(number, quote(line) + " is not 'label: value'");
            return;
        }
        auto label = trim(line.substr(0, colon));
        auto value = trim(line.substr(colon + 1));
        auto& list = result_.reservations;
        if (iequals(label, "Reserved URL")) {
            std::string error;
            if (!parse_url(value, error)) {
                fail(number, "Reserved URL " + quote(value) + ": " + error);
                return;
            }
            for (const auto& r : list) {
                if (iequals(r.url, value)) {
                    fail(number, "Reserved URL " + quote(value) + " is given twice");
                    return;
                }
            }
            list.push_back({std::string(value), {}, {}});
            return;
        }
        if (list.empty()) {
            if (iequals(label, "IP") || iequals(label, "Hostname") ||
                iequals(label, "SSL Certificate bindings")) {
                fail(number, "this is 'netsh http show sslcert' output, not 'show urlacl'");
            } else {
                fail(number, quote(label) + " before the first Reserved URL");
            }
            return;
        }
        auto& current = list.back();
        if (iequals(label, "User")) {
            current.users.push_back({std::string(value), true, false});
        } else if (iequals(label, "SDDL")) {
            current.sddl = std::string(value);
        } else if (iequals(label, "Listen") || iequals(label, "Delegate")) {
            auto flag = yes_no(value);
            if (current.users.empty() || !flag) {
                fail(number, current.users.empty()
                                 ? std::string(label) + " before the first User"
                                 : std::string(label) + ": " + quote(value) + " is not Yes or No");
                return;
            }
            (iequals(label, "Listen") ? current.users.back().listen
                                      : current.users.back().delegate) = *flag;
        } else {
            fail(number, "unknown label " + quote(label) +
                             " (not English 'netsh http show urlacl' output)");
        }
    }

    std::string file_;
    UrlaclImport result_;
};

// ---- netsh commands ----

constexpr std::string_view kNotFound = "The system cannot find the file specified.\n\n";
constexpr std::string_view kAlreadyExists =
    "Cannot create a file when that file already exists.\n\n";
constexpr std::string_view kParameterIncorrect = "The parameter is incorrect.\n\n";

netsh::NetshResult failed(std::string_view verb, int code, std::string explanation) {
    netsh::NetshResult r;
    r.exit_code = 1;
    if (verb == "show") {
        r.out = std::string(kUrlaclHeader);
    } else {
        r.out = "Url reservation " + std::string(verb) + " failed, Error: " + std::to_string(code) +
                "\n";
    }
    r.out += code == 2 ? kNotFound : code == 183 ? kAlreadyExists : kParameterIncorrect;
    if (!explanation.empty()) r.err = "snibind netsh: " + explanation + "\n";
    return r;
}

struct Params {
    std::optional<std::string> url, user, listen, delegate, sddl;
};

bool parse_params(std::span<const std::string> words, std::string_view verb, Params& p,
                  std::string& bad) {
    for (const auto& word : words) {
        auto eq = word.find('=');
        if (eq == std::string::npos) {
            bad = quote(word) + " is not name=value";
            return false;
        }
        auto name = to_lower(std::string_view(word).substr(0, eq));
        std::string value = word.substr(eq + 1);
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        std::optional<std::string>* slot = name == "url"        ? &p.url
                                           : name == "user"     ? &p.user
                                           : name == "listen"   ? &p.listen
                                           : name == "delegate" ? &p.delegate
                                           : name == "sddl"     ? &p.sddl
                                                                : nullptr;
        if (!slot || (verb != "add" && name != "url")) {
            bad = std::string(verb) + " urlacl takes no parameter " + quote(name);
            return false;
        }
        if (*slot) {
            bad = name + " is given twice";
            return false;
        }
        *slot = std::move(value);
    }
    return true;
}

netsh::NetshResult add(const Params& p, UrlaclStore& store, bool& modified) {
    if (!p.url) return failed("add", 87, "missing parameter url");
    std::string error = check_reservation_url(*p.url);
    if (!error.empty()) return failed("add", 87, "url=" + *p.url + ": " + error);
    UrlReservation r;
    r.url = *p.url;
    if (p.sddl) {
        if (p.user || p.listen || p.delegate)
            return failed("add", 87, "give either user= (with listen=, delegate=) or sddl=");
        auto users = users_from_sddl(*p.sddl);
        if (!users) return failed("add", 87, "sddl=" + *p.sddl + " is not D:(A;;GX;;;SID)...");
        r.users = std::move(*users);
        r.sddl = *p.sddl;
    } else {
        if (!p.user) return failed("add", 87, "missing parameter user (or sddl)");
        auto yes = [](const std::optional<std::string>& v, bool fallback) -> std::optional<bool> {
            if (!v) return fallback;
            if (iequals(*v, "yes")) return true;
            if (iequals(*v, "no")) return false;
            return std::nullopt;
        };
        auto listen = yes(p.listen, true);
        auto delegate = yes(p.delegate, false);
        if (!listen || !delegate) return failed("add", 87, "listen= and delegate= take yes or no");
        if (!*listen && !*delegate)
            return failed("add", 87, "listen=no delegate=no grants nothing");
        r.users.push_back({printed_user(*p.user), *listen, *delegate});
        r.sddl = sddl_for(r.users);
    }
    if (store.add(std::move(r)) != netsh::StoreStatus::ok) return failed("add", 183, {});
    modified = true;
    return {0, "\nURL reservation successfully added\n\n", {}};
}

}  // namespace

UrlaclImport parse_urlacl_text(std::string_view text, std::string_view file_name) {
    return Importer(file_name).run(text);
}

std::string format_reservation(const UrlReservation& reservation) {
    std::string out = "    Reserved URL            : " + reservation.url + "\n";
    for (const auto& u : reservation.users) {
        out += "        User: " + u.user + "\n";
        out += std::string("            Listen: ") + (u.listen ? "Yes" : "No") + "\n";
        out += std::string("            Delegate: ") + (u.delegate ? "Yes" : "No") + "\n";
    }
    if (!reservation.sddl.empty()) out += "            SDDL: " + reservation.sddl + "\n";
    return out + "\n";
}

std::string format_urlacl(const std::vector<UrlReservation>& reservations) {
    std::string out(kUrlaclHeader);
    for (const auto& r : reservations) out += format_reservation(r);
    return out;
}

std::string check_reservation_url(std::string_view url) {
    std::string error;
    parse_url(url, error);
    return error;
}

std::optional<http::UrlPrefix> url_prefix_for(std::string_view url, std::size_t site,
                                              std::string& error) {
    auto parsed = parse_url(url, error);
    if (!parsed) return std::nullopt;
    http::UrlPrefix p;
    p.scheme = parsed->scheme;
    p.port = parsed->port;
    p.path = parsed->path;
    p.site = site;
    if (parsed->host == "+") {
        p.kind = http::PrefixKind::strong_wildcard;
    } else if (parsed->host == "*") {
        p.kind = http::PrefixKind::weak_wildcard;
    } else if (auto ip = IpAddress::parse(parsed->host)) {
        p.kind = http::PrefixKind::ip_bound;
        p.ip = *ip;
    } else {
        p.kind = http::PrefixKind::explicit_host;
        p.host = to_lower(parsed->host);
    }
    return p;
}

const UrlReservation* UrlaclStore::find(std::string_view url) const {
    for (const auto& r : reservations_)
        if (iequals(r.url, url)) return &r;
    return nullptr;
}

netsh::StoreStatus UrlaclStore::add(UrlReservation reservation) {
    if (find(reservation.url)) return netsh::StoreStatus::already_exists;
    reservations_.push_back(std::move(reservation));
    return netsh::StoreStatus::ok;
}

netsh::StoreStatus UrlaclStore::remove(std::string_view url) {
    auto it = std::find_if(reservations_.begin(), reservations_.end(),
                           [&](const UrlReservation& r) { return iequals(r.url, url); });
    if (it == reservations_.end()) return netsh::StoreStatus::not_found;
    reservations_.erase(it);
    return netsh::StoreStatus::ok;
}

std::optional<UrlaclStore> UrlaclStore::load(const std::filesystem::path& file,
                                             netsh::MissingFile missing,
                                             netsh::ImportError& error) {
    netsh::FileError file_error;
    auto text = netsh::read_file(file, file_error);
    if (!text) {
        if (file_error.is_missing() && missing == netsh::MissingFile::empty) return UrlaclStore{};
        error = {file.string(), 0,
                 "cannot " + std::string(file_error.what) + " urlacl store " + file.string() +
                     ": " + netsh::errno_text(file_error.err)};
        return std::nullopt;
    }
    auto imported = parse_urlacl_text(*text, file.string());
    if (!imported.ok()) {
        error = *imported.error;
        return std::nullopt;
    }
    return UrlaclStore(std::move(imported.reservations));
}

bool UrlaclStore::save(const std::filesystem::path& file, std::string& error) const {
    return netsh::write_file_atomically(file, text(), error);
}

netsh::NetshResult run_netsh_urlacl(std::span<const std::string> words, UrlaclStore& store,
                                    bool& modified) {
    if (words.size() < 3 || !iequals(words[0], "http") || !iequals(words[2], "urlacl")) {
        return {1, "The following command was not found.\n",
                "snibind netsh: expected http show|add|delete urlacl\n"};
    }
    std::string verb = to_lower(words[1]);
    if (verb != "show" && verb != "add" && verb != "delete") {
        return {1,
                "The following command was not found: " + words[0] + " " + words[1] + " " +
                    words[2] + ".\n",
                "snibind netsh: urlacl takes show, add and delete\n"};
    }
    Params p;
    std::string bad;
    if (!parse_params(words.subspan(3), verb, p, bad)) return failed(verb, 87, bad);
    if (verb == "show") {
        if (!p.url) return {0, store.text(), {}};
        const UrlReservation* r = store.find(*p.url);
        if (!r) return failed(verb, 2, {});
        return {0, std::string(kUrlaclHeader) + format_reservation(*r), {}};
    }
    if (verb == "add") return add(p, store, modified);
    if (!p.url) return failed(verb, 87, "missing parameter url");
    if (store.remove(*p.url) != netsh::StoreStatus::ok) return failed(verb, 2, {});
    modified = true;
    return {0, "\nURL reservation successfully deleted\n\n", {}};
}

}  // namespace snibind::iis
