#pragma once
// The HTTP.sys records IIS writes for its https bindings (src/bindings/README.md I2), and the IIS
// Manager operations that rewrite them (I3): choosing a certificate, removing a binding, deleting a
// site.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/profile.h"
#include "bindings/record.h"
#include "iis/application_host.h"
#include "netsh/store_file.h"

namespace snibind::iis {

// IIS's application id on every record it writes (I6).
inline constexpr std::string_view kIisAppId = "{4dc3e181-e14b-4a21-b022-59fc669b0914}";
Guid iis_appid();

// A binding as the iis commands take it: "https/*:443:host" (protocol/bindingInformation) or
// just "*:443:host" (https). Returns {protocol, bindingInformation}.
std::pair<std::string, std::string> split_binding_argument(std::string_view text);

// The record key an https binding needs (I2): sslFlags with neither 1 nor 2 -> ipport (`*` ->
// 0.0.0.0); 1 -> hostnameport host:port; 2 or 3 -> ccs=port. Under windows-2008r2 (IIS 7.5) every
// binding is ipport: sslFlags did not exist yet. nullopt with `error` for a binding that cannot
// have a record: not https, SNI without a host name, SNI/CCS or a wildcard host the profile lacks.
std::optional<RecordKey> record_key_for(const IisBinding& binding, Profile profile,
                                        std::string& error);
// The record flags for sslFlags bits 4..64 (disable HTTP/2, OCSP stapling, QUIC, TLS 1.3, legacy
// TLS), on top of netsh's defaults; a bit the profile's netsh does not know is dropped.
std::uint32_t record_flags_for(std::uint32_t ssl_flags, Profile profile);
// A record as IIS writes it: IIS's appid, certificate from `hash` (none for CCS), store "MY"
// unless the binding names one.
Record iis_record(const RecordKey& key, const IisBinding& binding,
                  const std::optional<Thumbprint>& hash, Profile profile);

// One https binding of one site.
struct BindingRef {
    std::string site;
    std::string binding_information;  // "*:443:www.contoso.com"
    friend bool operator==(const BindingRef&, const BindingRef&) = default;
};

// Something an import or an IIS Manager operation tells its user.
struct Notice {
    enum class Kind {
        shares_record,    // I3: a non-SNI binding uses the record of an earlier site
        cert_overridden,  // I3: ... and wanted a different certificate than the one it gets
        no_certificate,   // no thumbprint for a binding that needs one
        skipped,          // no record possible (see record_key_for)
        kept_existing,    // S2: the store already has the key with another certificate
        already_present,  // the store already has the key with the same certificate
        sibling_changed,  // I3: bind-certificate changed the certificate of another site
        sibling_lost,     // I3: remove-binding/delete-site deleted a record another site uses
    };
    Kind kind;
    BindingRef binding;
    std::string message;  // one line for people
};
std::string_view to_string(Notice::Kind kind);

// The records for every https binding, in file order of the binding that creates each, plus the
// notices. `certificates` maps a site name (case-insensitively) to its thumbprint; it wins over a
// binding's certificateHash attribute. Non-SNI bindings on one IP:port share one record, and its
// certificate is the first site's (I3).
struct PlannedRecord {
    Record record;
    std::vector<BindingRef> users;  // the bindings served by it, the creating one first
};
struct RecordPlan {
    std::vector<PlannedRecord> records;
    std::vector<Notice> notices;
};
using SiteCertificates = std::map<std::string, Thumbprint>;
RecordPlan plan_records(const std::vector<IisSite>& sites, const SiteCertificates& certificates,
                        Profile profile);

// Adds the planned records to `store` (S2: an existing key is never overwritten: kept_existing or
// already_present). Returns the keys added, in order; appends notices to `plan.notices`.
std::vector<RecordKey> import_records(RecordPlan& plan, netsh::Store& store);

// What an IIS Manager operation did, for its report.
struct ManagerResult {
    bool ok = false;
    std::string error;                 // when !ok: why nothing was changed
    std::vector<std::string> actions;  // "deleted ipport=0.0.0.0:443", "added ipport=..."
    std::vector<Notice> notices;       // siblings affected
};

// IIS Manager, Edit Site Binding, SSL certificate: the binding's record is deleted and added again
// with `hash` (a non-SNI binding: the shared IP:port record, so every sibling gets the new
// certificate too and is reported). The config gets certificateHash/certificateStoreName on the
// binding and on its siblings' bindings.
ManagerResult bind_certificate(ApplicationHost& config, netsh::Store& store, std::string_view site,
                               std::string_view binding_information, const Thumbprint& hash,
                               Profile profile);
// IIS Manager, Add Site Binding: the binding is added to the site, then, for https with a
// certificate, handled as bind_certificate.
ManagerResult add_binding(ApplicationHost& config, netsh::Store& store, std::string_view site,
                          const IisBinding& binding, Profile profile);
// IIS Manager, Remove binding: the binding goes, and so does its record, even when other sites'
// bindings use it (I3: they lose HTTPS and are reported). A ccs=port record is kept while another
// CCS binding on the port remains.
ManagerResult remove_binding(ApplicationHost& config, netsh::Store& store, std::string_view site,
                             std::string_view binding_information, Profile profile);
// IIS Manager, Remove site: remove_binding for each https binding, then the site.
ManagerResult delete_site(ApplicationHost& config, netsh::Store& store, std::string_view site,
                          Profile profile);

}  // namespace snibind::iis
