#include "report/json_output.h"

#include <fmt/format.h>

namespace snibind::report {

std::string version_name(std::uint16_t v) {
    switch (v) {
        case 0x0304:
            return "TLSv1.3";
        case 0x0303:
            return "TLSv1.2";
        case 0x0302:
            return "TLSv1.1";
        case 0x0301:
            return "TLSv1.0";
        case 0x0300:
            return "SSLv3";
        case 0x0002:
            return "SSLv2";
        default:
            return fmt::format("0x{:04x}", v);
    }
}

std::string json_text(const nlohmann::json& j, int indent) {
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string printable(std::string_view bytes) {
    std::string out;
    for (unsigned char c : bytes) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else {  // U+0080..U+00FF in UTF-8
            out += static_cast<char>(0xc0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3f));
        }
    }
    return out;
}

namespace {

nlohmann::json or_null(std::string_view s, bool present) {
    return present ? nlohmann::json(printable(s)) : nlohmann::json(nullptr);
}

// Steps are numbered as in src/bindings/README.md L1.
int rule_step(Step s) {
    switch (s) {
        case Step::sni_exact:
            return 1;
        case Step::sni_wildcard:
            return 2;
        case Step::scoped_ccs:
        case Step::ccs:
            return 3;
        case Step::ip_exact:
            return 4;
        case Step::ipv6_any:
            return 5;
        case Step::ipv4_any:
            return 6;
    }
    return 0;
}

std::string drop_action(const SelectionSettings& s) {
    return s.on_reject == OnReject::alert
               ? "the handshake is refused with a fatal unrecognized_name alert (on_reject: alert)"
               : "the TCP connection is reset, as Windows does (on_reject: reset)";
}

}  // namespace

nlohmann::json hello_json(const ClientHelloReader& reader, std::size_t input_bytes) {
    const auto& h = reader.hello();
    bool ok = reader.result() == HelloResult::client_hello;
    nlohmann::json j;
    j["result"] = std::string(to_string(reader.result()));
    j["error"] = ok ? nlohmann::json(nullptr) : nlohmann::json(reader.error());
    j["sni"] = or_null(h.sni(), ok && h.has_sni());
    j["host"] = or_null(h.host(), ok && !h.host().empty());
    j["sni_problem"] = ok && h.has_sni() && h.sni_problem() != HostProblem::none
                           ? nlohmann::json(describe(h.sni_problem(), h.sni()))
                           : nlohmann::json(nullptr);
    j["alpn"] = nlohmann::json::array();
    j["versions"] = nlohmann::json::array();
    if (ok) {
        for (std::size_t i = 0; i < h.alpn_count(); ++i) j["alpn"].push_back(printable(h.alpn(i)));
        for (auto v : h.versions()) j["versions"].push_back(version_name(v));
    }
    j["ech"] = ok && h.ech();
    j["records"] = reader.records();
    j["bytes"] = ok ? reader.hello_end() : input_bytes;
    j["trailing_bytes"] = ok ? input_bytes - reader.hello_end() : 0;
    return j;
}

std::string hello_text(const ClientHelloReader& reader, std::size_t input_bytes) {
    auto j = hello_json(reader, input_bytes);
    std::string out = fmt::format("result:      {}\n", j["result"].get<std::string>());
    if (!j["error"].is_null())
        out += fmt::format("error:       {}\n", j["error"].get<std::string>());
    if (reader.result() != HelloResult::client_hello) return out;
    auto list = [](const nlohmann::json& a) {
        std::string s;
        for (auto& e : a) s += (s.empty() ? "" : ", ") + e.get<std::string>();
        return s.empty() ? std::string("(none)") : s;
    };
    out += fmt::format("sni:         {}\n", j["sni"].is_null() ? "(none: only IP records can match)"
                                                               : json_text(j["sni"], -1));
    if (!j["host"].is_null()) out += fmt::format("host:        {}\n", j["host"].get<std::string>());
    if (!j["sni_problem"].is_null()) {
        out += fmt::format("sni_problem: {} (treated as no SNI)\n",
                           j["sni_problem"].get<std::string>());
    }
    out += fmt::format("alpn:        {}\n", list(j["alpn"]));
    out += fmt::format("versions:    {}\n", list(j["versions"]));
    out += fmt::format("ech:         {}\n", reader.hello().ech() ? "present" : "no");
    out += fmt::format("records:     {}\n", reader.records());
    out += fmt::format("bytes:       {} (+{} after the hello)\n", reader.hello_end(),
                       input_bytes - reader.hello_end());
    return out;
}

nlohmann::json decision_json(const Decision& d, const SelectionSettings& settings,
                             const Record* record) {
    nlohmann::json j;
    j["outcome"] = std::string(to_string(d.outcome));
    if (record)
        j["record"] = record->display_as_stored();
    else
        j["record"] = d.step ? nlohmann::json(d.key(*d.step).display()) : nlohmann::json(nullptr);
    j["certhash"] = d.certhash ? nlohmann::json(d.certhash->hex()) : nlohmann::json(nullptr);
    auto ccs = d.ccs_file();
    j["ccs_file"] = ccs.empty() ? nlohmann::json(nullptr) : nlohmann::json(ccs);
    j["step"] = d.step ? nlohmann::json(std::string(to_string(*d.step))) : nlohmann::json(nullptr);
    j["destination"] = Endpoint{d.dst, d.port}.to_string();
    j["host"] = d.host().empty() ? nlohmann::json(nullptr) : nlohmann::json(std::string(d.host()));
    j["profile"] = std::string(to_string(settings.profile));
    j["precedence"] = std::string(to_string(settings.precedence));
    j["trace"] = nlohmann::json::array();
    for (std::size_t i = 0; i < d.trace_size; ++i) {
        const auto& t = d.trace[i];
        j["trace"].push_back({{"step", std::string(to_string(t.step))},
                              {"rule", fmt::format("L1.{}", rule_step(t.step))},
                              {"key", d.key(t.step).display()},
                              {"result", std::string(to_string(t.result))},
                              {"why", d.describe(t)}});
    }
    return j;
}

std::string decision_text(const Decision& d, const SelectionSettings& settings, bool sni_sent,
                          std::string_view sni) {
    std::string out = fmt::format(
        "Connection to {} {} ({}, {}):\n", Endpoint{d.dst, d.port}.to_string(),
        sni_sent ? fmt::format("with SNI \"{}\"", printable(sni)) : std::string("without SNI"),
        to_string(settings.profile), to_string(settings.precedence));
    for (std::size_t i = 0; i < d.trace_size; ++i) {
        const auto& t = d.trace[i];
        out += fmt::format("  step {}  {:<44} {:<8} {}\n", rule_step(t.step),
                           d.key(t.step).display(), to_string(t.result), d.describe(t));
    }
    switch (d.outcome) {
        case Outcome::selected:
            out += fmt::format("=> {}: serve {}\n", d.key(*d.step).display(),
                               d.certhash ? "certificate " + d.certhash->hex()
                                          : d.ccs_file() + " from the CCS folder");
            break;
        case Outcome::rejected:
            out += fmt::format("=> {} has 'Reject Connections' set (L5): {}\n",
                               d.key(*d.step).display(), drop_action(settings));
            break;
        case Outcome::no_match:
            out += fmt::format("=> no record matches (L8): {}\n", drop_action(settings));
            break;
        case Outcome::failed:
            out += fmt::format(
                "=> {} was chosen but its key is unusable (L9, unusable_key: fail): the handshake "
                "fails\n",
                d.key(*d.step).display());
            break;
    }
    return out;
}

}  // namespace snibind::report
