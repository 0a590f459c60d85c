#pragma once
// The <system.applicationHost><sites> section of an IIS applicationHost.config
// (src/bindings/README.md I1), read and edited with libxml2. Applications and physical paths are
// kept so that a lab can show them; snibind never serves files.
//
// Edits change only the elements they are about: the rest of the file (other sections, comments,
// indentation, CRLF line ends, IIS's `<a b="c" />` style) is written back as it was read, except
// for what XML makes equivalent (libxml2 may re-escape characters in attribute values, and adds an
// <?xml?> declaration when there was none). External entities are refused, never loaded.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/record.h"
#include "http/sites.h"
#include "netsh/netsh_text.h"

namespace snibind::iis {

// sslFlags bits of a binding (I1).
enum SslFlag : std::uint32_t {
    kSslSni = 1,
    kSslCentralCertStore = 2,
    kSslDisableHttp2 = 4,
    kSslDisableOcspStapling = 8,
    kSslDisableQuic = 16,
    kSslDisableTls13 = 32,
    kSslDisableLegacyTls = 64,
};

// Parses an sslFlags attribute: a decimal number ("3") or the flag names IIS's schema uses
// ("Sni, CentralCertStore", "None"), case-insensitive. nullopt for anything else.
std::optional<std::uint32_t> parse_ssl_flags(std::string_view text);

struct IisBinding {
    std::string protocol;             // "https", "http", "net.tcp", ... as written
    std::string binding_information;  // "*:443:www.contoso.com"; other protocols: "808:*"
    std::uint32_t ssl_flags = 0;
    // IIS 8.5+ keeps the certificate on the binding element too (certificateHash,
    // certificateStoreName); older versions know it only from HTTP.sys.
    std::optional<Thumbprint> certificate_hash;
    std::string certificate_store_name;
    int line = 0;  // 0 for a binding added since the file was read

    bool is_https() const;
    bool is_http_family() const;  // http or https: the bindings HTTP.sys routes
    // "https/*:443:www.contoso.com", as appcmd lists bindings.
    std::string to_string() const;
};

struct IisVirtualDirectory {
    std::string path;           // "/"
    std::string physical_path;  // "%SystemDrive%\inetpub\wwwroot"
};

struct IisApplication {
    std::string path;  // "/" or "/app"
    std::string application_pool;
    std::vector<IisVirtualDirectory> virtual_directories;
};

struct IisSite {
    std::string name;
    std::uint32_t id = 0;
    bool server_auto_start = true;
    std::vector<IisBinding> bindings;
    std::vector<IisApplication> applications;
    int line = 0;

    // The physical path of the root application's root virtual directory, or "".
    std::string physical_path() const;
};

// What an edit did.
enum class EditStatus {
    ok,
    no_site,     // no site with that name
    duplicate,   // the binding, site name or site id is already there
    no_binding,  // no binding with that protocol and bindingInformation
    invalid,     // an http/https bindingInformation that does not parse (I1)
};

// Checks an http or https bindingInformation ("*:443:host", "[::1]:443:") and returns it as the
// proxy config writes it; other protocols are not checked (nullopt without an error).
std::optional<http::SiteBinding> parse_http_binding(std::string_view protocol,
                                                    std::string_view binding_information,
                                                    std::string& error);

class ApplicationHost {
  public:
    // Reads an applicationHost.config. Errors carry the file, the line (xmlGetLineNo) and why:
    // XML that does not parse, no <system.applicationHost><sites> section, a <site> without a
    // name or a numeric id, a malformed http/https bindingInformation, a bad sslFlags or
    // certificateHash, duplicate sites or bindings (IIS refuses to start with them too).
    static std::optional<ApplicationHost> load(const std::filesystem::path& file,
                                               netsh::ImportError& error);
    // The same from text; `file_name` is used in errors only.
    static std::optional<ApplicationHost> parse(std::string_view xml, std::string_view file_name,
                                                netsh::ImportError& error);

    ApplicationHost(ApplicationHost&&) noexcept;
    ApplicationHost& operator=(ApplicationHost&&) noexcept;
    ~ApplicationHost();

    // In file order.
    const std::vector<IisSite>& sites() const { return sites_; }
    // Site names compare case-insensitively, as in IIS.
    const IisSite* find_site(std::string_view name) const;

    // appcmd's /+bindings.[...]: invalid for a malformed http/https bindingInformation, duplicate
    // when the site already has a binding with the same
    // protocol and bindingInformation (compared case-insensitively).
    EditStatus add_binding(std::string_view site, const IisBinding& binding);
    // appcmd's /-bindings.[...]: an empty protocol matches any.
    EditStatus remove_binding(std::string_view site, std::string_view protocol,
                              std::string_view binding_information);
    // Writes certificateHash and certificateStoreName on a binding (IIS Manager, IIS 8.5+).
    EditStatus set_binding_certificate(std::string_view site, std::string_view protocol,
                                       std::string_view binding_information, const Thumbprint& hash,
                                       std::string_view store_name);
    // A new <site> with its bindings and, when physical_path is not empty, a root application
    // and virtual directory. An id of 0 becomes the largest id + 1. Duplicate on a used name or id.
    EditStatus add_site(IisSite site, std::string_view physical_path);
    EditStatus delete_site(std::string_view name);

    // The whole file as it now stands.
    std::string text() const;
    // Writes text() atomically (a temporary file renamed over `file`).
    bool save(const std::filesystem::path& file, std::string& error) const;

  private:
    struct Document;
    explicit ApplicationHost(std::unique_ptr<Document> doc);
    void reread();

    std::unique_ptr<Document> doc_;
    std::vector<IisSite> sites_;
};

// The sites as the proxy's `sites:` section holds them (only http and https bindings; a site with
// none is left out). Backends stay empty: the lab responder answers.
std::vector<http::Site> to_http_sites(const std::vector<IisSite>& sites);

// The `sites:` section of the proxy config (README, serve) for these sites, as YAML text.
std::string sites_yaml(const std::vector<http::Site>& sites);

// For the proxy config: the sites of an applicationHost.config, or nullopt with `error` set to
// "file:line: reason".
std::optional<std::vector<http::Site>> load_iis_sites(const std::filesystem::path& applicationHost,
                                                      std::string& error);

}  // namespace snibind::iis
