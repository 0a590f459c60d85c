#pragma once
// The admin console's single page (HTML, CSS and script in one string): it reads the JSON API.
#include <string>

namespace snibind::admin {

const std::string& console_page();

}  // namespace snibind::admin
