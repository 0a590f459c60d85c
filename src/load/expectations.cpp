#include "load/expectations.h"

#include "netsh/store_file.h"

namespace snibind::load {

namespace {

Expectation predict(const BindingTable::Reader& reader, const SelectionSettings& settings,
                    const IpAddress& destination, std::uint16_t port, const std::string* name) {
    Connection conn{destination, port, {}, HostProblem::none, name != nullptr};
    std::string host;
    if (name) {
        conn.sni_problem = normalise_sni(*name, settings.trailing_dot, host);
        conn.host = host;
    }
    const Decision d = select_certificate(reader, conn, settings);
    Expectation e;
    if (d.outcome != Outcome::selected) {
        e.kind = Expectation::Kind::no_certificate;
    } else if (d.certhash) {
        e.kind = Expectation::Kind::certificate;
        e.thumbprint = *d.certhash;
    }
    return e;
}

}  // namespace

ExpectationTable::ExpectationTable(const std::vector<Record>& records,
                                   const SelectionSettings& settings,
                                   const std::vector<IpAddress>& destinations, std::uint16_t port,
                                   const std::vector<std::string>& names)
    : per_destination_(names.size() + 1) {
    BindingTable table(records);
    auto reader = table.read();
    table_.reserve(destinations.size() * per_destination_);
    for (const IpAddress& dst : destinations) {
        for (const std::string& name : names)
            table_.push_back(predict(reader, settings, dst, port, &name));
        table_.push_back(predict(reader, settings, dst, port, nullptr));
    }
}

std::optional<ExpectationTable> ExpectationTable::load(const std::filesystem::path& store,
                                                       const SelectionSettings& settings,
                                                       const std::vector<IpAddress>& destinations,
                                                       std::uint16_t port,
                                                       const std::vector<std::string>& names,
                                                       std::string& error) {
    netsh::ImportError import_error;
    auto loaded = netsh::Store::load(store, netsh::MissingFile::error, import_error);
    if (!loaded) {
        error = import_error.message();
        return std::nullopt;
    }
    return ExpectationTable(loaded->records(), settings, destinations, port, names);
}

}  // namespace snibind::load
