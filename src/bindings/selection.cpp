#include "bindings/selection.h"

#include <algorithm>
#include <charconv>

namespace snibind {

std::string_view to_string(Step s) {
    switch (s) {
        case Step::sni_exact:
            return "sni_exact";
        case Step::sni_wildcard:
            return "sni_wildcard";
        case Step::scoped_ccs:
            return "scoped_ccs";
        case Step::ccs:
            return "ccs";
        case Step::ip_exact:
            return "ip_exact";
        case Step::ipv6_any:
            return "ipv6_any";
        case Step::ipv4_any:
            return "ipv4_any";
    }
    return "";
}

std::string_view to_string(StepResult r) {
    switch (r) {
        case StepResult::hit:
            return "hit";
        case StepResult::miss:
            return "miss";
        case StepResult::skipped:
            return "skipped";
        case StepResult::unusable_key:
            return "unusable_key";
    }
    return "";
}

std::string_view to_string(Outcome o) {
    switch (o) {
        case Outcome::selected:
            return "selected";
        case Outcome::rejected:
            return "rejected";
        case Outcome::no_match:
            return "no_match";
        case Outcome::failed:
            return "failed";
    }
    return "";
}

namespace {

// L1 and L2: the order the steps are tried in.
constexpr std::array<Step, 7> kSniFirst = {Step::sni_exact, Step::sni_wildcard, Step::scoped_ccs,
                                           Step::ccs,       Step::ip_exact,     Step::ipv6_any,
                                           Step::ipv4_any};
constexpr std::array<Step, 7> kIpFirst = {Step::ip_exact,   Step::sni_exact, Step::sni_wildcard,
                                          Step::scoped_ccs, Step::ccs,       Step::ipv6_any,
                                          Step::ipv4_any};

bool is_host_step(Step s) {
    return s == Step::sni_exact || s == Step::sni_wildcard || s == Step::scoped_ccs ||
           s == Step::ccs;
}

std::string_view parent_of(std::string_view host) {
    auto dot = host.find('.');
    return dot == std::string_view::npos ? std::string_view{} : host.substr(dot + 1);
}

// "*." + parent without allocating: the wildcard key is looked up from a small stack buffer.
struct WildcardKey {
    std::array<char, 260> buf;
    std::size_t len = 0;
    explicit WildcardKey(std::string_view parent) {
        buf[0] = '*';
        buf[1] = '.';
        std::copy(parent.begin(), parent.end(), buf.begin() + 2);
        len = parent.size() + 2;
    }
    std::string_view view() const { return {buf.data(), len}; }
};

// A reason a step does not apply to this connection at all, or nullopt.
std::optional<Reason> skip_reason(Step s, const Connection& c, Profile profile) {
    if (is_host_step(s)) {
        if (!c.sni_sent) return Reason::no_sni;
        if (c.host.empty()) return Reason::sni_not_host;
        if (!has_sni(profile)) return Reason::profile_no_sni;
        if (s == Step::sni_wildcard && !has_wildcard_hosts(profile)) {
            return Reason::profile_no_wildcard;
        }
        if (s == Step::sni_wildcard && parent_of(c.host).empty()) return Reason::no_parent;
        if (s == Step::scoped_ccs && !has_scoped_ccs(profile)) return Reason::profile_no_scoped;
    }
    if (s == Step::ipv6_any && !c.dst.v6) return Reason::not_ipv6;
    return std::nullopt;
}

}  // namespace

RecordKey Decision::key(Step s) const {
    switch (s) {
        case Step::sni_exact:
            return RecordKey::hostname(std::string(host()), port);
        case Step::sni_wildcard:
            return RecordKey::hostname("*." + std::string(parent_of(host())), port);
        case Step::scoped_ccs:
            return RecordKey::scoped_ccs(std::string(host()), port);
        case Step::ccs:
            return RecordKey::ccs(port);
        case Step::ip_exact:
            return RecordKey::ip(dst, port);
        case Step::ipv6_any:
            return RecordKey::ip(IpAddress::v6_any(), port);
        case Step::ipv4_any:
            return RecordKey::ip(IpAddress::v4_any(), port);
    }
    return {};
}

void RecordName::append(std::string_view s) {
    const std::size_t n = std::min(s.size(), text_.size() - size_);
    std::copy_n(s.data(), n, text_.data() + size_);
    size_ += n;
}

RecordName Decision::record_name(Step s) const {
    RecordName name;
    auto append_port = [&] {
        std::array<char, 8> digits;
        const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), port).ptr;
        name.append({digits.data(), static_cast<std::size_t>(end - digits.data())});
    };
    switch (s) {
        case Step::sni_exact:
        case Step::sni_wildcard:
        case Step::scoped_ccs:
            name.append(netsh_label(s == Step::scoped_ccs ? Family::scoped_ccs : Family::host));
            name.append(" ");
            if (s == Step::sni_wildcard) {
                name.append("*.");
                name.append(parent_of(host()));
            } else {
                name.append(host());
            }
            name.append(":");
            append_port();
            return name;
        case Step::ccs:
            name.append(netsh_label(Family::ccs));
            name.append(" ");
            append_port();
            return name;
        case Step::ip_exact:
        case Step::ipv6_any:
        case Step::ipv4_any:
            name.append(netsh_label(Family::ip));
            name.append(" ");
            name.append(key(s).netsh_value());  // an IP key holds no host to copy
            return name;
    }
    return name;
}

CcsFileName::CcsFileName(std::string_view host, bool wildcard) {
    std::string_view stem = wildcard ? parent_of(host) : host;
    if (stem.empty() || stem.size() > 253) return;  // a host name is at most 253 bytes
    auto end = name_.begin();
    if (wildcard) end = std::copy_n("_.", 2, end);
    end = std::copy(stem.begin(), stem.end(), end);
    end = std::copy_n(".pfx", 4, end);
    size_ = static_cast<std::size_t>(end - name_.begin());
}

std::string Decision::ccs_file() const {
    if (!step || (*step != Step::ccs && *step != Step::scoped_ccs)) return {};
    return CcsFileName(host(), ccs_wildcard_file).str();
}

std::string Decision::describe(const TraceStep& t) const {
    switch (t.reason) {
        case Reason::record_found:
            if (t.step == Step::ccs || t.step == Step::scoped_ccs) {
                return "record found; serving " + ccs_file() + " from the CCS folder";
            }
            return "record found";
        case Reason::no_record:
            return "no such record";
        case Reason::no_sni:
            return "the client sent no SNI, so only IP records can match (L3)";
        case Reason::sni_not_host:
            return "the SNI is not a host name (" + snibind::describe(sni_problem, "") +
                   "), so it counts as no SNI (L6)";
        case Reason::profile_no_sni:
            return "this Windows profile has no SNI or CCS records";
        case Reason::profile_no_wildcard:
            return "wildcard host records exist only from windows-2016";
        case Reason::profile_no_scoped:
            return "scoped CCS records exist only in windows-2022";
        case Reason::no_parent:
            return "the host name has one label: no wildcard applies";
        case Reason::not_ipv6:
            return "the destination is IPv4; [::] covers IPv6 only (S3)";
        case Reason::ccs_file_missing: {
            CcsFileName wildcard(host(), true);
            return "record found, but neither " + CcsFileName(host(), false).str() +
                   (wildcard.empty() ? "" : " nor " + wildcard.str()) +
                   " is in the CCS folder; going on";
        }
        case Reason::key_unusable:
            return "the certificate's private key cannot be used (L9)";
    }
    return {};
}

Decision select_certificate(const BindingTable::Reader& table, const Connection& conn,
                            const SelectionSettings& settings,
                            const CertificateSource* certificates) {
    static const CertificateSource no_certificates;
    const CertificateSource& certs = certificates ? *certificates : no_certificates;

    Decision d;
    d.dst = conn.dst;
    d.port = conn.port;
    d.sni_problem = conn.sni_problem;
    d.host_len_ = std::min(conn.host.size(), d.host_.size());
    std::copy_n(conn.host.begin(), d.host_len_, d.host_.begin());
    const std::string_view host = d.host();

    auto note = [&](Step s, StepResult r, Reason why) { d.trace[d.trace_size++] = {s, r, why}; };

    const auto& order = settings.precedence == Precedence::ip_first ? kIpFirst : kSniFirst;
    for (Step s : order) {
        if (auto why = skip_reason(s, conn, settings.profile)) {
            note(s, StepResult::skipped, *why);
            continue;
        }
        const Record* record = nullptr;
        bool wildcard_file = false;
        switch (s) {
            case Step::sni_exact:
                record = table.find({Family::host, conn.port, {}, host});
                break;
            case Step::sni_wildcard: {
                WildcardKey wildcard(parent_of(host));
                record = table.find({Family::host, conn.port, {}, wildcard.view()});
                break;
            }
            case Step::scoped_ccs:
            case Step::ccs: {
                record = s == Step::ccs ? table.find({Family::ccs, conn.port, {}, {}})
                                        : table.find({Family::scoped_ccs, conn.port, {}, host});
                if (!record) break;
                // The certificate is S.pfx, else _.parent.pfx; neither means go on (L1 step 3).
                if (certs.has_ccs_file(CcsFileName(host, false).view())) break;
                if (CcsFileName parent(host, true);
                    !parent.empty() && certs.has_ccs_file(parent.view())) {
                    wildcard_file = true;
                    break;
                }
                note(s, StepResult::miss, Reason::ccs_file_missing);
                continue;
            }
            case Step::ip_exact:
                record = table.find({Family::ip, conn.port, conn.dst, {}});
                break;
            case Step::ipv6_any:
                record = table.find({Family::ip, conn.port, IpAddress::v6_any(), {}});
                break;
            case Step::ipv4_any:
                record = table.find({Family::ip, conn.port, IpAddress::v4_any(), {}});
                break;
        }
        if (!record) {
            note(s, StepResult::miss, Reason::no_record);
            continue;
        }
        d.step = s;
        d.ccs_wildcard_file = wildcard_file;
        const bool from_ccs = s == Step::ccs || s == Step::scoped_ccs;
        // A forwarded record's certificate is the backend's: nothing here for L9 to check.
        if (!record->has(kRejectConnections) && record->action != RecordAction::forward &&
            !certs.key_usable(*record, from_ccs ? d.ccs_file() : std::string{})) {
            note(s, StepResult::unusable_key, Reason::key_unusable);
            if (settings.unusable_key == UnusableKey::next) {
                d.step.reset();
                continue;
            }
            d.outcome = Outcome::failed;
            return d;
        }
        note(s, StepResult::hit, Reason::record_found);
        d.certhash = record->certhash;
        d.flags = record->flags;
        d.action_id = record->action_id;
        d.action = record->action;
        // L5: a record with reject set is chosen like any other, then the connection is dropped.
        d.outcome = record->has(kRejectConnections) ? Outcome::rejected : Outcome::selected;
        return d;
    }
    d.outcome = Outcome::no_match;
    return d;
}

Connection connection_for(const Endpoint& dst, std::optional<std::string_view> sni,
                          TrailingDot trailing_dot, std::string& host) {
    Connection conn{dst.addr, dst.port, {}, HostProblem::none, sni.has_value()};
    if (sni) {
        conn.sni_problem = normalise_sni(*sni, trailing_dot, host);
        conn.host = host;
    }
    return conn;
}

const Record* chosen_record(const BindingTable::Reader& table, const Decision& d) {
    return d.step ? table.find(key_view(d.key(*d.step))) : nullptr;
}

}  // namespace snibind
