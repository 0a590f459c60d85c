#include "iis/iis_records.h"

#include <algorithm>
#include <utility>

#include "netsh/netsh_fields.h"
#include "text/ascii.h"

namespace snibind::iis {

namespace {

std::string describe(const BindingRef& ref) {
    return "site '" + ref.site + "' (https/" + ref.binding_information + ")";
}

std::string hash_text(const std::optional<Thumbprint>& hash) {
    return hash ? hash->hex() : std::string("(none)");
}

const Thumbprint* certificate_for_site(const SiteCertificates& certificates,
                                       std::string_view site) {
    for (const auto& [name, hash] : certificates)
        if (iequals(name, site)) return &hash;
    return nullptr;
}

struct Candidate {
    BindingRef ref;
    const IisBinding* binding;
    std::optional<Thumbprint> hash;
};

struct KeyGroup {
    RecordKey key;
    std::vector<Candidate> candidates;  // file order
};

void plan_group(const KeyGroup& group, Profile profile, RecordPlan& plan) {
    bool ccs = group.key.family == Family::ccs || group.key.family == Family::scoped_ccs;
    auto owner = std::find_if(group.candidates.begin(), group.candidates.end(),
                              [&](const Candidate& c) { return ccs || c.hash; });
    if (owner == group.candidates.end()) {
        for (const auto& c : group.candidates) {
            plan.notices.push_back({Notice::Kind::no_certificate, c.ref,
                                    describe(c.ref) + ": no certificate for " +
                                        group.key.display() + ": give --certificate '" +
                                        c.ref.site + "=THUMBPRINT'"});
        }
        return;
    }
    PlannedRecord planned{iis_record(group.key, *owner->binding, owner->hash, profile),
                          {owner->ref}};
    for (auto it = group.candidates.begin(); it != group.candidates.end(); ++it) {
        if (it == owner) continue;
        planned.users.push_back(it->ref);
        if (ccs || iequals(it->ref.site, owner->ref.site)) continue;
        plan.notices.push_back({Notice::Kind::shares_record, it->ref,
                                describe(it->ref) + " shares " + group.key.display() + " with " +
                                    describe(owner->ref) + ": one record, one certificate (I3)"});
        if (it->hash && *it->hash != *owner->hash) {
            plan.notices.push_back({Notice::Kind::cert_overridden, it->ref,
                                    describe(it->ref) + " wants certificate " + it->hash->hex() +
                                        " but gets " + owner->hash->hex() + " of site '" +
                                        owner->ref.site + "' (I3)"});
        }
    }
    plan.records.push_back(std::move(planned));
}

// The https bindings of every site whose record key is `key`, except those in `excluded`.
std::vector<BindingRef> bindings_with_key(const ApplicationHost& config, const RecordKey& key,
                                          Profile profile,
                                          const std::vector<BindingRef>& excluded) {
    std::vector<BindingRef> out;
    for (const auto& site : config.sites()) {
        for (const auto& b : site.bindings) {
            std::string error;
            if (!b.is_https()) continue;
            auto k = record_key_for(b, profile, error);
            if (!k || *k != key) continue;
            BindingRef ref{site.name, b.binding_information};
            bool skip = std::any_of(excluded.begin(), excluded.end(), [&](const BindingRef& e) {
                return iequals(e.site, ref.site) &&
                       iequals(e.binding_information, ref.binding_information);
            });
            if (!skip) out.push_back(std::move(ref));
        }
    }
    return out;
}

const IisBinding* find_binding(const IisSite& site, std::string_view protocol,
                               std::string_view info) {
    for (const auto& b : site.bindings)
        if (iequals(b.protocol, protocol) && iequals(b.binding_information, info)) return &b;
    return nullptr;
}

std::string no_site(std::string_view site) {
    return "Cannot find SITE object with identifier \"" + std::string(site) + "\".";
}

// Deletes the records of `removed` (bindings about to disappear), reporting the other bindings
// that used them (I3).
void drop_records(const ApplicationHost& config, netsh::Store& store,
                  const std::vector<std::pair<BindingRef, const IisBinding*>>& removed,
                  Profile profile, ManagerResult& result) {
    std::vector<BindingRef> excluded;
    for (const auto& r : removed) excluded.push_back(r.first);
    std::vector<RecordKey> done;
    for (const auto& [ref, binding] : removed) {
        std::string error;
        if (!binding->is_https()) continue;
        auto key = record_key_for(*binding, profile, error);
        if (!key || std::find(done.begin(), done.end(), *key) != done.end()) continue;
        done.push_back(*key);
        auto siblings = bindings_with_key(config, *key, profile, excluded);
        bool ccs = key->family == Family::ccs;
        if (ccs && !siblings.empty()) {
            result.actions.push_back("kept " + key->netsh_argument() +
                                     ": other CCS bindings on the port use it");
            continue;
        }
        if (store.remove(*key) != netsh::StoreStatus::ok) continue;
        result.actions.push_back("deleted " + key->netsh_argument());
        for (const auto& s : siblings) {
            result.notices.push_back({Notice::Kind::sibling_lost, s,
                                      describe(s) + " loses HTTPS: it used " + key->display() +
                                          ", which is deleted (I3)"});
        }
    }
}

}  // namespace

// "https/*:443:a" -> {"https", "*:443:a"}; "*:443:a" -> {"https", "*:443:a"}.
std::pair<std::string, std::string> split_binding_argument(std::string_view text) {
    auto slash = text.find('/');
    auto colon = text.find(':');
    if (slash != std::string_view::npos && (colon == std::string_view::npos || slash < colon))
        return {std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
    return {"https", std::string(text)};
}

Guid iis_appid() {
    static const Guid appid = *Guid::parse(kIisAppId);
    return appid;
}

std::string_view to_string(Notice::Kind kind) {
    switch (kind) {
        case Notice::Kind::shares_record:
            return "shares_record";
        case Notice::Kind::cert_overridden:
            return "cert_overridden";
        case Notice::Kind::no_certificate:
            return "no_certificate";
        case Notice::Kind::skipped:
            return "skipped";
        case Notice::Kind::kept_existing:
            return "kept_existing";
        case Notice::Kind::already_present:
            return "already_present";
        case Notice::Kind::sibling_changed:
            return "sibling_changed";
        case Notice::Kind::sibling_lost:
            return "sibling_lost";
    }
    return "notice";
}

std::optional<RecordKey> record_key_for(const IisBinding& binding, Profile profile,
                                        std::string& error) {
    if (!binding.is_https()) {
        error = "not an https binding";
        return std::nullopt;
    }
    auto parsed = parse_http_binding(binding.protocol, binding.binding_information, error);
    if (!parsed) return std::nullopt;
    auto ipport = [&] {
        return RecordKey::ip(parsed->ip.value_or(IpAddress::v4_any()), parsed->port);
    };
    // IIS 7.5 has no sslFlags: every https binding is an IP:port binding (pitfall 6).
    if (!has_sni(profile)) return ipport();
    if (binding.ssl_flags & kSslCentralCertStore) return RecordKey::ccs(parsed->port);
    if (!(binding.ssl_flags & kSslSni)) return ipport();
    if (parsed->host.empty()) {
        error = "SNI (sslFlags 1) needs a host name in bindingInformation";
        return std::nullopt;
    }
    if (parsed->host.starts_with("*.") && !has_wildcard_hosts(profile)) {
        error = "wildcard host bindings need windows-2016 or later (profile " +
                std::string(to_string(profile)) + ")";
        return std::nullopt;
    }
    return RecordKey::hostname(parsed->host, parsed->port);
}

std::uint32_t record_flags_for(std::uint32_t ssl_flags, Profile profile) {
    static constexpr std::pair<std::uint32_t, RecordFlag> kBits[]{
        {kSslDisableHttp2, kDisableHttp2},         {kSslDisableOcspStapling, kDisableOcspStapling},
        {kSslDisableQuic, kDisableQuic},           {kSslDisableTls13, kDisableTls13},
        {kSslDisableLegacyTls, kDisableLegacyTls},
    };
    std::uint32_t flags = kDefaultRecordFlags;
    for (auto [bit, flag] : kBits) {
        if (!(ssl_flags & bit)) continue;
        for (const auto& field : netsh::kSslcertFields)
            if (field.flag == flag && netsh::known_in(field, profile)) flags |= flag;
    }
    return flags;
}

Record iis_record(const RecordKey& key, const IisBinding& binding,
                  const std::optional<Thumbprint>& hash, Profile profile) {
    Record r;
    r.key = key;
    r.appid = iis_appid();
    bool ccs = key.family == Family::ccs || key.family == Family::scoped_ccs;
    if (!ccs) r.certhash = hash;
    r.cert_store_name =
        ccs ? std::string()
            : (binding.certificate_store_name.empty() ? std::string("MY")
                                                      : binding.certificate_store_name);
    r.flags = record_flags_for(binding.ssl_flags, profile);
    return r;
}

RecordPlan plan_records(const std::vector<IisSite>& sites, const SiteCertificates& certificates,
                        Profile profile) {
    RecordPlan plan;
    std::vector<KeyGroup> groups;
    for (const auto& site : sites) {
        const Thumbprint* site_hash = certificate_for_site(certificates, site.name);
        for (const auto& b : site.bindings) {
            if (!b.is_https()) continue;
            BindingRef ref{site.name, b.binding_information};
            std::string error;
            auto key = record_key_for(b, profile, error);
            if (!key) {
                plan.notices.push_back(
                    {Notice::Kind::skipped, ref, describe(ref) + ": no record: " + error});
                continue;
            }
            std::optional<Thumbprint> hash =
                site_hash ? std::optional<Thumbprint>(*site_hash) : b.certificate_hash;
            auto group = std::find_if(groups.begin(), groups.end(),
                                      [&](const KeyGroup& g) { return g.key == *key; });
            if (group == groups.end()) {
                groups.push_back({*key, {}});
                group = groups.end() - 1;
            }
            group->candidates.push_back({std::move(ref), &b, hash});
        }
    }
    for (const auto& group : groups) plan_group(group, profile, plan);
    return plan;
}

std::vector<RecordKey> import_records(RecordPlan& plan, netsh::Store& store) {
    std::vector<RecordKey> added;
    for (const auto& planned : plan.records) {
        if (store.add(planned.record) == netsh::StoreStatus::ok) {
            added.push_back(planned.record.key);
            continue;
        }
        const Record* existing = store.find(planned.record.key);
        const BindingRef& owner = planned.users.front();
        if (existing && existing->certhash == planned.record.certhash) {
            plan.notices.push_back({Notice::Kind::already_present, owner,
                                    planned.record.key.display() +
                                        " is already in the store with the same certificate"});
            continue;
        }
        std::string users;
        for (const auto& u : planned.users) users += (users.empty() ? "" : ", ") + describe(u);
        plan.notices.push_back(
            {Notice::Kind::kept_existing, owner,
             "At least one other site is using the same HTTPS binding and the binding is "
             "configured with a different certificate: " +
                 planned.record.key.display() + " keeps certificate " +
                 hash_text(existing ? existing->certhash : std::nullopt) +
                 " (S2: not overwritten), so " + users + " get it instead of " +
                 hash_text(planned.record.certhash)});
    }
    return added;
}

ManagerResult bind_certificate(ApplicationHost& config, netsh::Store& store, std::string_view site,
                               std::string_view binding_information, const Thumbprint& hash,
                               Profile profile) {
    ManagerResult result;
    const IisSite* s = config.find_site(site);
    if (!s) {
        result.error = no_site(site);
        return result;
    }
    auto [protocol, info] = split_binding_argument(binding_information);
    const IisBinding* binding = find_binding(*s, protocol, info);
    if (!binding || !binding->is_https()) {
        result.error = "site '" + s->name + "' has no https binding '" + info + "'";
        return result;
    }
    std::string error;
    auto key = record_key_for(*binding, profile, error);
    if (!key) {
        result.error = "site '" + s->name + "', binding https/" + info + ": " + error;
        return result;
    }
    if (key->family == Family::ccs) {
        result.error = "site '" + s->name + "', binding https/" + info +
                       ": a Central Certificate Store binding (sslFlags 2) takes its certificate "
                       "from the CCS folder by host name, not from a thumbprint";
        return result;
    }
    BindingRef self{s->name, binding->binding_information};
    IisBinding chosen = *binding;
    auto siblings = bindings_with_key(config, *key, profile, {self});
    std::optional<Thumbprint> previous;
    if (const Record* existing = store.find(*key)) {
        previous = existing->certhash;
        store.remove(*key);
        result.actions.push_back("deleted " + key->netsh_argument());
    }
    store.add(iis_record(*key, chosen, hash, profile));
    result.actions.push_back("added " + key->netsh_argument() + " certhash=" + hash.hex() +
                             " appid=" + std::string(kIisAppId));
    std::string store_name =
        chosen.certificate_store_name.empty() ? "MY" : chosen.certificate_store_name;
    config.set_binding_certificate(self.site, "https", self.binding_information, hash, store_name);
    for (const auto& sibling : siblings) {
        config.set_binding_certificate(sibling.site, "https", sibling.binding_information, hash,
                                       store_name);
        if (iequals(sibling.site, self.site) || previous == hash) continue;
        result.notices.push_back({Notice::Kind::sibling_changed, sibling,
                                  describe(sibling) + " now gets certificate " + hash.hex() +
                                      " instead of " + hash_text(previous) + ": it shares " +
                                      key->display() + " (I3)"});
    }
    result.ok = true;
    return result;
}

ManagerResult add_binding(ApplicationHost& config, netsh::Store& store, std::string_view site,
                          const IisBinding& binding, Profile profile) {
    ManagerResult result;
    switch (config.add_binding(site, binding)) {
        case EditStatus::ok:
            break;
        case EditStatus::no_site:
            result.error = no_site(site);
            return result;
        case EditStatus::duplicate:
            result.error =
                "site '" + std::string(site) + "' already has the binding " + binding.to_string();
            return result;
        default: {
            std::string error;
            parse_http_binding(binding.protocol, binding.binding_information, error);
            result.error = "binding " + binding.to_string() + ": " + error;
            return result;
        }
    }
    result.actions.push_back("added binding " + binding.to_string() + " to site '" +
                             std::string(site) + "'");
    std::string error;
    auto key = binding.is_https() ? record_key_for(binding, profile, error) : std::nullopt;
    if (key && binding.certificate_hash && key->family != Family::ccs) {
        auto bound = bind_certificate(config, store, site, binding.to_string(),
                                      *binding.certificate_hash, profile);
        result.actions.insert(result.actions.end(), bound.actions.begin(), bound.actions.end());
        result.notices = std::move(bound.notices);
    } else if (key && key->family == Family::ccs && !store.find(*key)) {
        store.add(iis_record(*key, binding, std::nullopt, profile));
        result.actions.push_back("added " + key->netsh_argument() +
                                 " appid=" + std::string(kIisAppId));
    } else if (key && !store.find(*key)) {
        result.notices.push_back({Notice::Kind::no_certificate,
                                  {std::string(site), binding.binding_information},
                                  "no record for " + key->display() +
                                      " yet: choose a certificate (iis "
                                      "bind-certificate)"});
    } else if (binding.is_https() && !key) {
        result.notices.push_back({Notice::Kind::skipped,
                                  {std::string(site), binding.binding_information},
                                  "no record: " + error});
    }
    result.ok = true;
    return result;
}

ManagerResult remove_binding(ApplicationHost& config, netsh::Store& store, std::string_view site,
                             std::string_view binding_information, Profile profile) {
    ManagerResult result;
    const IisSite* s = config.find_site(site);
    if (!s) {
        result.error = no_site(site);
        return result;
    }
    auto [protocol, info] = split_binding_argument(binding_information);
    const IisBinding* binding = find_binding(*s, protocol, info);
    if (!binding) {
        result.error = "site '" + s->name + "' has no binding " + protocol + "/" + info;
        return result;
    }
    BindingRef ref{s->name, binding->binding_information};
    drop_records(config, store, {{ref, binding}}, profile, result);
    config.remove_binding(ref.site, binding->protocol, ref.binding_information);
    result.actions.push_back("removed binding " + protocol + "/" + ref.binding_information +
                             " from site '" + ref.site + "'");
    result.ok = true;
    return result;
}

ManagerResult delete_site(ApplicationHost& config, netsh::Store& store, std::string_view site,
                          Profile profile) {
    ManagerResult result;
    const IisSite* s = config.find_site(site);
    if (!s) {
        result.error = no_site(site);
        return result;
    }
    std::vector<std::pair<BindingRef, const IisBinding*>> removed;
    for (const auto& b : s->bindings) removed.push_back({{s->name, b.binding_information}, &b});
    drop_records(config, store, removed, profile, result);
    std::string name = s->name;
    config.delete_site(name);
    result.actions.push_back("deleted site '" + name + "'");
    result.ok = true;
    return result;
}

}  // namespace snibind::iis
