#include "bindings/profile.h"

#include <string>

namespace snibind {

std::string_view profile_names() {
    static const std::string names = kProfileNames.list(", ");
    return names;
}

}  // namespace snibind
