#pragma once
// HTTP.sys URL reservations: `netsh http show|add|delete urlacl` on a store file that is the text
// of `netsh http show urlacl` (as the sslcert store is the text of `show sslcert`), and the URL
// prefixes they register for the router (src/bindings/README.md I5).
//
// The importer accepts what people publish (tests/data/netsh/u*-urlacl.txt): a prompt line, the
// "URL Reservations:" header and its underline, blank lines, any indentation and padding around
// ':', CRLF, a UTF-8 byte-order mark, several User blocks under one URL and the SDDL line after
// them. Anything else is an error with file, line and reason.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/sites.h"
#include "netsh/netsh_command.h"
#include "netsh/netsh_text.h"
#include "netsh/store_file.h"

namespace snibind::iis {

struct UrlAce {
    std::string user;  // as netsh prints it: "\Everyone", "NT SERVICE\ReportServer"
    bool listen = true;
    bool delegate = false;
    friend bool operator==(const UrlAce&, const UrlAce&) = default;
};

struct UrlReservation {
    std::string url;  // "https://+:443/app/", as written
    std::vector<UrlAce> users;
    std::string sddl;  // "D:(A;;GX;;;WD)"
    friend bool operator==(const UrlReservation&, const UrlReservation&) = default;
};

struct UrlaclImport {
    std::vector<UrlReservation> reservations;
    std::optional<netsh::ImportError> error;
    bool ok() const { return !error.has_value(); }
};

UrlaclImport parse_urlacl_text(std::string_view text, std::string_view file_name);

// "\nURL Reservations:\n-----------------\n\n"
inline constexpr std::string_view kUrlaclHeader = "\nURL Reservations:\n-----------------\n\n";
// One reservation as `show urlacl` prints it, then a blank line.
std::string format_reservation(const UrlReservation& reservation);
// The whole output of `netsh http show urlacl`.
std::string format_urlacl(const std::vector<UrlReservation>& reservations);

// Checks a reservation URL as HTTP.sys does: http or https, a host ("+", "*", a name, an IPv4
// address or a bracketed IPv6 one), an explicit port, a path ending in '/'. Returns the reason it
// is not one, or "" when it is.
std::string check_reservation_url(std::string_view url);

// The URL prefix a reservation registers (I5): "+" strong wildcard, "*" weak wildcard, an IP
// address ip_bound, a name explicit_host. nullopt with `error` for a URL check_reservation_url
// refuses. A reservation is not a site: `site` says which site the router should serve it with.
std::optional<http::UrlPrefix> url_prefix_for(std::string_view url, std::size_t site,
                                              std::string& error);

// The reservations of one (simulated) machine. URLs compare case-insensitively.
class UrlaclStore {
  public:
    UrlaclStore() = default;
    explicit UrlaclStore(std::vector<UrlReservation> reservations)
        : reservations_(std::move(reservations)) {}

    const std::vector<UrlReservation>& reservations() const { return reservations_; }
    const UrlReservation* find(std::string_view url) const;
    netsh::StoreStatus add(UrlReservation reservation);  // already_exists: unchanged
    netsh::StoreStatus remove(std::string_view url);

    std::string text() const { return format_urlacl(reservations_); }
    static std::optional<UrlaclStore> load(const std::filesystem::path& file,
                                           netsh::MissingFile missing, netsh::ImportError& error);
    bool save(const std::filesystem::path& file, std::string& error) const;

  private:
    std::vector<UrlReservation> reservations_;
};

// Runs `http show|add|delete urlacl ...` (words as for netsh::run_netsh): show [url=URL];
// add url=URL user=NAME [listen=yes|no] [delegate=yes|no] | add url=URL sddl=SDDL;
// delete url=URL. netsh's messages: "URL reservation successfully added", "Url reservation add
// failed, Error: 183" (exists), 87 (a bad parameter), "Url reservation delete failed, Error: 2".
netsh::NetshResult run_netsh_urlacl(std::span<const std::string> words, UrlaclStore& store,
                                    bool& modified);

}  // namespace snibind::iis
