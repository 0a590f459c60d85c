#pragma once
// --expect STORE: the certificate each (destination, name) should get, predicted by the core's
// selection (select_certificate, src/bindings/README.md L1-L9) over a netsh text store. Pure apart
// from load(), which reads the store file.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bindings/address.h"
#include "bindings/record.h"
#include "bindings/selection.h"

namespace snibind::load {

struct Expectation {
    enum class Kind : std::uint8_t {
        certificate,     // this thumbprint must be served
        no_certificate,  // the connection is rejected or matches nothing: no handshake may succeed
        unchecked,       // a CCS record: the store does not say which file's certificate
    };
    Kind kind = Kind::unchecked;
    Thumbprint thumbprint;

    // Whether a completed handshake that served `served` agrees with the prediction.
    bool accepts(const Thumbprint& served) const {
        return kind == Kind::unchecked || (kind == Kind::certificate && served == thumbprint);
    }
};

class ExpectationTable {
  public:
    // One prediction per destination and name; name index names.size() is "no SNI". Names are
    // normalised as a server would (L6) before the lookup.
    ExpectationTable(const std::vector<Record>& records, const SelectionSettings& settings,
                     const std::vector<IpAddress>& destinations, std::uint16_t port,
                     const std::vector<std::string>& names);
    // Reads the store file first; nullopt with `error` when it cannot be read or parsed.
    static std::optional<ExpectationTable> load(const std::filesystem::path& store,
                                                const SelectionSettings& settings,
                                                const std::vector<IpAddress>& destinations,
                                                std::uint16_t port,
                                                const std::vector<std::string>& names,
                                                std::string& error);

    const Expectation& at(std::size_t destination, std::size_t name) const {
        return table_[destination * per_destination_ + name];
    }

  private:
    std::size_t per_destination_ = 0;
    std::vector<Expectation> table_;
};

}  // namespace snibind::load
