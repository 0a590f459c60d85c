#pragma once
// The Windows versions snibind imitates (src/bindings/README.md section 3).
#include <optional>
#include <string_view>

#include "bindings/setting_names.h"

namespace snibind {

// Ordered oldest first: a feature "since P" exists in every profile >= P.
enum class Profile {
    windows_2008r2,
    windows_2012,
    windows_2012r2,
    windows_2016,
    windows_2019,
    windows_2022,
};

inline constexpr Profile kDefaultProfile = Profile::windows_2022;

inline constexpr SettingNames<Profile, 6> kProfileNames{
    "profile",
    {{{Profile::windows_2008r2, "windows-2008r2"},
      {Profile::windows_2012, "windows-2012"},
      {Profile::windows_2012r2, "windows-2012r2"},
      {Profile::windows_2016, "windows-2016"},
      {Profile::windows_2019, "windows-2019"},
      {Profile::windows_2022, "windows-2022"}}}};

constexpr std::string_view to_string(Profile p) {
    return kProfileNames.name(p);
}
constexpr std::optional<Profile> parse_profile(std::string_view text) {
    return kProfileNames.parse(text);
}
// "windows-2008r2, windows-2012, ..." for help texts and error messages.
std::string_view profile_names();

// SNI (hostnameport) and CCS records: Windows Server 2012 / IIS 8.
constexpr bool has_sni(Profile p) {
    return p >= Profile::windows_2012;
}
// Wildcard host records (*.contoso.com:443): Windows Server 2016.
constexpr bool has_wildcard_hosts(Profile p) {
    return p >= Profile::windows_2016;
}
// Scoped CCS records: newer Windows only.
constexpr bool has_scoped_ccs(Profile p) {
    return p >= Profile::windows_2022;
}

}  // namespace snibind
