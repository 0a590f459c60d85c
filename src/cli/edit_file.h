#pragma once
// What netsh (sslcert and urlacl) and appcmd have in common: a Windows tool editing its store
// file. Locked (netsh::EditLock, unless the command only reads), loaded (or why not), run, saved
// only when the command changed something (atomically, by the store's save()), unlocked, then
// the tool's own output and exit status.
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "netsh/netsh_text.h"
#include "netsh/store_file.h"

namespace snibind::cli {

// Whether a command may change the file. An edit holds the file's lock from before it reads the
// file until its save is in place, so two edits at once never lose one; a read (netsh show,
// appcmd list) takes no lock, since a save replaces the file atomically.
enum class Access { read, edit };

// `load(error)` reads the file: std::optional<Store>, and `error` when it cannot. `run(store,
// modified)` returns the tool's result: {exit_code, out, err}. `what` names the file in the
// message of a failed save ("store", "config"). Returns the process exit status: the tool's, or
// 2 when the file cannot be locked, read or written.
template <typename Load, typename Run>
int edit_file(std::string_view tool, const std::filesystem::path& file, std::string_view what,
              Access access, Load load, Run run) {
    std::optional<netsh::EditLock> lock;
    if (access == Access::edit) {
        std::string lock_error;
        lock = netsh::EditLock::acquire(file, lock_error);
        if (!lock) {
            std::cerr << tool << ": " << lock_error << " (the " << what << " is unchanged)\n";
            return 2;
        }
    }
    netsh::ImportError load_error;
    auto store = load(load_error);
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
    lock.reset();  // the edit is in place: the next writer may go on while this one reports
    std::cout << result.out << std::flush;
    std::cerr << result.err;
    return result.exit_code;
}

}  // namespace snibind::cli
