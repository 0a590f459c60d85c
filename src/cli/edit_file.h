#pragma once
// What netsh (sslcert and urlacl) and appcmd have in common: a Windows tool editing its store
// file. Loaded (or why not), run, saved only when the command changed something (atomically,
// by the store's save()), then the tool's own output and exit status.
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "netsh/netsh_text.h"

namespace snibind::cli {

// `run(store, modified)` returns the tool's result: {exit_code, out, err}. `what` names the file
// in the message of a failed save ("store", "config"). Returns the process exit status: the
// tool's, or 2 when the file cannot be read or written.
template <typename Store, typename Run>
int edit_file(std::string_view tool, const std::filesystem::path& file, std::string_view what,
              std::optional<Store> store, const netsh::ImportError& load_error, Run run) {
    if (!store) {
        std::cerr << tool << ": " << load_error.message() << "\n";
        return 2;
    }
    bool modified = false;
    auto result = run(*store, modified);
    if (modified) {
        std::string save_error;
        if (!store->save(file, save_error)) {
            std::cerr << tool << ": " << save_error << " (the " << what << " is unchanged)\n";
            return 2;
        }
    }
    std::cout << result.out << std::flush;
    std::cerr << result.err;
    return result.exit_code;
}

}  // namespace snibind::cli
