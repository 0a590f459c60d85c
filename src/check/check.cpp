#include "check/check.h"

#include <map>
#include <set>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace snibind::check {

namespace {

constexpr std::string_view kIisAppid = "{4dc3e181-e14b-4a21-b022-59fc669b0914}";
constexpr std::string_view kIisExpressAppid = "{214124cd-d05b-4309-9af9-9caa44b2b74a}";
constexpr Profile kProfiles[] = {Profile::windows_2008r2, Profile::windows_2012,
                                 Profile::windows_2012r2, Profile::windows_2016,
                                 Profile::windows_2019,   Profile::windows_2022};

// The address a client of this binding connects to. "*" means any unassigned address: a listen
// address on that port when the config has one, else a documentation address (RFC 5737) that no
// exact IP record names.
Endpoint destination_for(const http::SiteBinding& b, const config::Config& config) {
    if (b.ip) return {*b.ip, b.port};
    for (const auto& l : config.listen)
        if (l.endpoint.port == b.port) return l.endpoint;
    return {IpAddress::from_v4(0xc0000201), b.port};  // 192.0.2.1
}

class Checker {
  public:
    Checker(const model::Model& rt, std::chrono::system_clock::time_point now)
        : rt_(rt), now_(now) {}

    Report run() {
        check_records();
        for (const auto& site : rt_.config.sites)
            for (const auto& b : site.bindings)
                if (b.protocol == "https") check_binding(site, b);
        check_shared_certificates();
        check_ip_first_shadows();
        check_sni_only_ports();
        check_unbound_records();
        return std::move(report_);
    }

    std::vector<Finding> records_only() {
        check_records();
        return std::move(report_.findings);
    }

  private:
    Decision decide(const Endpoint& dst, std::string_view host, const SelectionSettings& s) {
        Connection conn{dst.addr, dst.port, host, HostProblem::none, !host.empty()};
        return select_certificate(rt_.table.read(), conn, s, &rt_.certificates);
    }

    Probe probe(std::string label, const Endpoint& dst, std::string_view host,
                const SelectionSettings& s) {
        Probe p{std::move(label), decide(dst, host, s), "-", std::nullopt};
        if (p.decision.outcome == Outcome::selected) {
            auto cert = rt_.certificate_for(p.decision);
            if (cert) {
                p.certificate = cert->info().subject;
                if (!host.empty()) p.covers = cert->covers(host);
            }
        }
        return p;
    }

    // A loaded certificate that covers `host`, for a fix; nullptr when there is none.
    const certs::Certificate* certificate_covering(std::string_view host) const {
        for (const auto& c : rt_.certificates.all())
            if (c->covers(host) && c->info().key_usable() && c->valid_at(now_)) return c.get();
        return nullptr;
    }

    std::string hash_for(std::string_view host) const {
        const auto* c = certificate_covering(host);
        return c ? c->thumbprint().hex()
                 : std::string("<thumbprint of a certificate for ") + std::string(host) + ">";
    }

    void add(Severity sev, std::string kind, std::string rule, std::string subject,
             std::string message, std::string fix) {
        std::string key = kind + "|" + subject;
        if (!seen_.insert(key).second) return;
        report_.findings.push_back({sev, std::move(kind), std::move(rule), std::move(subject),
                                    std::move(message), std::move(fix)});
    }

    void check_binding(const http::Site& site, const http::SiteBinding& b) {
        HostReport h{site.name, b.to_string(), b.host, destination_for(b, rt_.config), {}};
        const SelectionSettings& configured = rt_.config.selection;
        std::string subject = fmt::format("site '{}' {}", site.name, b.to_string());
        if (!b.host.empty())
            h.probes.push_back(probe("with SNI", h.destination, b.host, configured));
        h.probes.push_back(probe("without SNI", h.destination, {}, configured));
        if (!b.host.empty()) {
            for (Profile p : kProfiles) {
                if (p == configured.profile) continue;
                SelectionSettings s = configured;
                s.profile = p;
                h.probes.push_back(probe(std::string(to_string(p)), h.destination, b.host, s));
            }
            SelectionSettings other = configured;
            other.precedence = configured.precedence == Precedence::sni_first
                                   ? Precedence::ip_first
                                   : Precedence::sni_first;
            h.probes.push_back(
                probe(std::string(to_string(other.precedence)), h.destination, b.host, other));
        }
        const Endpoint ipport{
            h.destination.addr.is_unspecified() ? IpAddress::v4_any() : h.destination.addr, b.port};

        if (!b.host.empty()) {
            const Probe& sni = h.probes[0];
            if (sni.decision.outcome == Outcome::no_match) {
                add(Severity::error, "no_record", "L8", subject,
                    fmt::format("clients of {} get a TCP reset: no record matches {} with SNI",
                                b.host, h.destination.to_string()),
                    fmt::format("netsh http add sslcert hostnameport={}:{} certhash={} appid={} "
                                "certstorename=MY",
                                b.host, b.port, hash_for(b.host), kIisAppid));
            } else if (sni.covers && !*sni.covers) {
                const Decision& d = sni.decision;
                bool from_host_record = d.step == Step::sni_exact || d.step == Step::sni_wildcard;
                add(Severity::error, "certificate_mismatch", "I7", subject,
                    fmt::format("clients of {} get {} ({}), which does not name {}", b.host,
                                sni.certificate, d.key(*d.step).display(), b.host),
                    from_host_record
                        ? fmt::format("netsh http update sslcert hostnameport={}:{} certhash={}",
                                      b.host, b.port, hash_for(b.host))
                        : fmt::format("netsh http add sslcert hostnameport={}:{} certhash={} "
                                      "appid={} certstorename=MY",
                                      b.host, b.port, hash_for(b.host), kIisAppid));
            }
            if (sni.decision.step && is_ip_step(*sni.decision.step)) {
                auto& group = non_sni_hosts_[sni.decision.key(*sni.decision.step).netsh_argument()];
                group.certhash = sni.decision.certhash;
                group.port = b.port;
                group.hosts.emplace_back(site.name, b.host);
            }
            // Selection says it itself: a CCS step found its record but no file (L1 step 3).
            const Decision& d = sni.decision;
            for (std::size_t i = 0; i < d.trace_size; ++i) {
                if (d.trace[i].reason != Reason::ccs_file_missing) continue;
                add(Severity::error, "ccs_file_missing", "L1 step 3", subject,
                    fmt::format("{} exists but the CCS folder has neither {} nor a "
                                "_.parent.pfx for it: {} falls through to {}",
                                d.key(d.trace[i].step).display(), CcsFileName(b.host, false).view(),
                                b.host,
                                d.step ? d.key(*d.step).display() : std::string("no record")),
                    fmt::format("copy the certificate as '{}' into the CCS folder {}",
                                CcsFileName(b.host, false).view(),
                                rt_.config.ccs_folder ? rt_.config.ccs_folder->string()
                                                      : std::string("(ccs: folder)")));
            }
            // Without SNI, a host with its own SNI record gets whatever the IP records hold.
            const Probe& bare = h.probes[1];
            bool own_sni_record = sni.decision.step && !is_ip_step(*sni.decision.step);
            if (own_sni_record && bare.covers && !*bare.covers) {
                add(Severity::warning, "no_sni_certificate", "L3", subject,
                    fmt::format("clients without SNI (Windows XP, Android 2.x, Java 6, anyone "
                                "connecting by address) get {} for {}",
                                bare.certificate, b.host),
                    fmt::format("netsh http update sslcert ipport={} certhash={}  (a SAN or "
                                "wildcard certificate that names every site on it)",
                                ipport.to_string(), hash_for(b.host)));
            }
        }
        sni_ports_.insert(b.port);
        report_.hosts.push_back(std::move(h));
    }

    static bool is_ip_step(Step s) {
        return s == Step::ip_exact || s == Step::ipv6_any || s == Step::ipv4_any;
    }

    // I3, I4: sites without SNI on one IP:port share its one certificate.
    void check_shared_certificates() {
        for (const auto& [record_key, group] : non_sni_hosts_) {
            const auto& hosts = group.hosts;
            std::set<std::string> sites;
            for (const auto& [site, host] : hosts) sites.insert(site);
            if (sites.size() < 2) continue;
            auto cert = group.certhash ? rt_.certificates.find(*group.certhash) : nullptr;
            std::vector<std::string> uncovered;
            for (const auto& [site, host] : hosts)
                if (!cert || !cert->covers(host)) uncovered.push_back(host);
            if (uncovered.empty()) continue;
            std::string names;
            for (const auto& [site, host] : hosts) names += (names.empty() ? "" : ", ") + host;
            add(Severity::error, "shared_certificate", "I3", record_key,
                fmt::format("{} sites share {} and so one certificate ({}), which does not name {}",
                            sites.size(), record_key,
                            cert ? cert->info().subject : std::string("missing"),
                            fmt::format("{}", fmt::join(uncovered, ", "))),
                fmt::format("netsh http update sslcert {} certhash=<a SAN certificate naming {}>  "
                            "(or give each site an SNI binding: appcmd set site /site.name:X "
                            "/+bindings.[protocol='https',bindingInformation='*:{}:host',"
                            "sslFlags='1'])",
                            record_key, names, group.port));
        }
    }

    // L2: under ip-first an exact IP record beats every SNI record on its port.
    void check_ip_first_shadows() {
        bool ip_first = rt_.config.selection.precedence == Precedence::ip_first;
        for (const Record* ip_ptr : rt_.records) {
            const Record& ip = *ip_ptr;
            if (ip.key.family != Family::ip || ip.key.addr.is_unspecified()) continue;
            for (const Record* host_ptr : rt_.records) {
                const Record& host = *host_ptr;
                if (host.key.family != Family::host || host.key.port != ip.key.port) continue;
                if (ip.certhash == host.certhash) continue;
                add(ip_first ? Severity::warning : Severity::info, "ip_first_shadow", "L2",
                    ip.key.netsh_argument(),
                    fmt::format("{} {} {}: connections to {} with SNI {} get the IP record's "
                                "certificate",
                                ip.key.display(),
                                ip_first ? "shadows"
                                         : "would shadow, under "
                                           "ip-first,",
                                host.key.display(), ip.key.netsh_value(), host.key.host),
                    fmt::format("netsh http delete sslcert {}", ip.key.netsh_argument()));
            }
        }
    }

    // Pitfall 3: SNI or CCS records on a port and no IP record: clients without SNI are reset.
    void check_sni_only_ports() {
        std::set<std::uint16_t> sni_ports, ip_ports;
        for (const Record* r : rt_.records)
            (r->key.family == Family::ip ? ip_ports : sni_ports).insert(r->key.port);
        for (std::uint16_t port : sni_ports) {
            if (ip_ports.count(port)) continue;
            std::string hash = "<thumbprint of the default certificate>";
            add(Severity::warning, "sni_only_port", "L3, L8", fmt::format("port {}", port),
                fmt::format("port {} has only SNI/CCS records: clients without SNI are reset",
                            port),
                fmt::format("netsh http add sslcert ipport=0.0.0.0:{} certhash={} appid={} "
                            "certstorename=MY",
                            port, hash, kIisAppid));
        }
    }

    void check_unbound_records() {
        if (rt_.config.sites.empty()) return;
        for (const Record* r_ptr : rt_.records) {
            const Record& r = *r_ptr;
            if (sni_ports_.count(r.key.port)) continue;
            add(Severity::info, "record_without_site", "I2", r.key.netsh_argument(),
                fmt::format("no https site binds port {}: {} serves only non-IIS listeners",
                            r.key.port, r.key.display()),
                fmt::format("netsh http delete sslcert {}  (if it is stale)",
                            r.key.netsh_argument()));
        }
    }

    void check_records() {
        for (const Record* r_ptr : rt_.records) {
            const Record& r = *r_ptr;
            // Only for a finding: `serve` runs this over a million records that have none.
            auto subject = [&] { return r.key.netsh_argument(); };
            if (r.key.port >= 44300 && r.key.port <= 44399) {
                bool express = r.appid && r.appid->to_string() == kIisExpressAppid;
                add(Severity::warning, "iis_express_port", "I6", subject(),
                    fmt::format("port {} is in IIS Express's range 44300-44399{}", r.key.port,
                                express ? ": this is its development certificate; an IIS site "
                                          "on this port collides with it"
                                        : ": IIS Express reserves it with its development "
                                          "certificate"),
                    fmt::format("use a port outside 44300-44399, or netsh http delete sslcert {}",
                                subject()));
            }
            if (!r.certhash || r.action == RecordAction::forward) continue;
            auto cert = rt_.certificates.find(*r.certhash);
            if (!cert) {
                add(Severity::error, "certificate_missing", "L9", subject(),
                    fmt::format(
                        "{} names certificate {}, which is not among the loaded "
                        "certificates: its handshakes fail (unusable_key: {})",
                        r.key.display(), r.certhash->hex(),
                        rt_.config.selection.unusable_key == UnusableKey::fail ? "fail" : "next"),
                    "add the certificate file under certificates:, or netsh http delete sslcert " +
                        subject());
                continue;
            }
            const auto& info = cert->info();
            if (!info.key_usable())
                add(Severity::error, "key_unusable", "L9", subject(),
                    fmt::format("the key of {} cannot be used: {}", info.subject, info.key_problem),
                    "re-import the certificate with its private key (PFX with the right password)");
            if (now_ > info.not_after)
                add(Severity::error, "certificate_expired", "I7", subject(),
                    fmt::format("{} expired on {:%Y-%m-%d}", info.subject,
                                std::chrono::floor<std::chrono::seconds>(info.not_after)),
                    fmt::format("netsh http update sslcert {} certhash=<a renewed certificate>",
                                subject()));
            else if (now_ < info.not_before)
                add(Severity::warning, "certificate_not_yet_valid", "I7", subject(),
                    fmt::format("{} is not valid before {:%Y-%m-%d}", info.subject,
                                std::chrono::floor<std::chrono::seconds>(info.not_before)),
                    "check the server clock, or serve a certificate valid now");
            if (r.key.family == Family::host && !r.key.is_wildcard() && !cert->covers(r.key.host))
                add(Severity::error, "record_certificate_mismatch", "I7", subject(),
                    fmt::format("{} serves {}, which does not name {}", r.key.display(),
                                info.subject, r.key.host),
                    fmt::format("netsh http update sslcert {} certhash={}", subject(),
                                hash_for(r.key.host)));
        }
        for (const auto& cert : rt_.certificates.ccs_all())
            if (!cert->info().key_usable())
                add(Severity::error, "ccs_key_unusable", "L9", cert->info().file.string(),
                    fmt::format("CCS file {}: {}", cert->info().file.filename().string(),
                                cert->info().key_problem),
                    "re-export the PFX with its key, with the CCS password");
    }

    const model::Model& rt_;
    std::chrono::system_clock::time_point now_;
    Report report_;
    std::set<std::string> seen_;
    std::set<std::uint16_t> sni_ports_;  // ports some https site binds
    // Hosts served by an IP record (no SNI record of their own), by that record's key.
    struct SharedRecord {
        std::optional<Thumbprint> certhash;
        std::uint16_t port = 0;
        std::vector<std::pair<std::string, std::string>> hosts;  // site, host
    };
    std::map<std::string, SharedRecord> non_sni_hosts_;
};

nlohmann::json finding_json(const Finding& f) {
    return {{"severity", to_string(f.severity)},
            {"kind", f.kind},
            {"rule", f.rule},
            {"subject", f.subject},
            {"message", f.message},
            {"fix", f.fix}};
}

}  // namespace

std::string_view to_string(Severity s) {
    switch (s) {
        case Severity::error:
            return "error";
        case Severity::warning:
            return "warning";
        case Severity::info:
            return "info";
    }
    return "?";
}

int Report::exit_status() const {
    for (const auto& f : findings)
        if (f.severity != Severity::info) return 1;
    return 0;
}

Report check(const model::Model& runtime, std::chrono::system_clock::time_point now) {
    return Checker(runtime, now).run();
}

std::vector<Finding> record_findings(const model::Model& runtime,
                                     std::chrono::system_clock::time_point now) {
    return Checker(runtime, now).records_only();
}

std::string report_text(const Report& report) {
    std::string out;
    for (const auto& h : report.hosts) {
        out += fmt::format("site '{}' {} (client connects to {})\n", h.site, h.binding,
                           h.destination.to_string());
        for (const auto& p : h.probes) {
            const Decision& d = p.decision;
            std::string what = d.step ? d.key(*d.step).display() : std::string("no record");
            std::string cover =
                !p.covers ? "" : (*p.covers ? "  names the host" : "  DOES NOT name the host");
            out += fmt::format("  {:<16} {:<9} {:<44} {}{}\n", p.label, to_string(d.outcome), what,
                               p.certificate, cover);
        }
    }
    if (!report.hosts.empty()) out += "\n";
    if (report.findings.empty()) {
        out += "No findings.\n";
        return out;
    }
    for (const auto& f : report.findings) {
        out += fmt::format("{}: {} [{}] {}: {}\n    fix: {}\n", to_string(f.severity), f.kind,
                           f.rule, f.subject, f.message, f.fix);
    }
    std::size_t errors = 0, warnings = 0;
    for (const auto& f : report.findings) {
        errors += f.severity == Severity::error;
        warnings += f.severity == Severity::warning;
    }
    out += fmt::format("\n{} errors, {} warnings, {} notes\n", errors, warnings,
                       report.findings.size() - errors - warnings);
    return out;
}

nlohmann::json report_json(const Report& report) {
    nlohmann::json j;
    j["hosts"] = nlohmann::json::array();
    for (const auto& h : report.hosts) {
        nlohmann::json probes = nlohmann::json::array();
        for (const auto& p : h.probes) {
            const Decision& d = p.decision;
            probes.push_back(
                {{"client", p.label},
                 {"outcome", to_string(d.outcome)},
                 {"step", d.step ? nlohmann::json(to_string(*d.step)) : nullptr},
                 {"record", d.step ? nlohmann::json(d.key(*d.step).display()) : nullptr},
                 {"certificate", p.certificate},
                 {"covers", p.covers ? nlohmann::json(*p.covers) : nullptr}});
        }
        j["hosts"].push_back({{"site", h.site},
                              {"binding", h.binding},
                              {"host", h.host},
                              {"destination", h.destination.to_string()},
                              {"probes", probes}});
    }
    j["findings"] = nlohmann::json::array();
    for (const auto& f : report.findings) j["findings"].push_back(finding_json(f));
    j["exit_status"] = report.exit_status();
    return j;
}

}  // namespace snibind::check
