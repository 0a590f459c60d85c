#include "bindings/profile.h"

#include <array>
#include <utility>

namespace snibind {

namespace {
constexpr std::array<std::pair<Profile, std::string_view>, 6> kNames{{
    {Profile::windows_2008r2, "windows-2008r2"},
    {Profile::windows_2012, "windows-2012"},
    {Profile::windows_2012r2, "windows-2012r2"},
    {Profile::windows_2016, "windows-2016"},
    {Profile::windows_2019, "windows-2019"},
    {Profile::windows_2022, "windows-2022"},
}};
}  // namespace

std::string_view to_string(Profile p) {
    for (auto& [profile, name] : kNames)
        if (profile == p) return name;
    return "windows-2022";
}

std::optional<Profile> parse_profile(std::string_view text) {
    for (auto& [profile, name] : kNames)
        if (name == text) return profile;
    return std::nullopt;
}

std::string_view profile_names() {
    return "windows-2008r2, windows-2012, windows-2012r2, windows-2016, windows-2019, "
           "windows-2022";
}

}  // namespace snibind
