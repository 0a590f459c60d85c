#pragma once
// A store: the SSL bindings of one (simulated) machine, kept in a text file that is exactly the
// output of `netsh http show sslcert` (selection.md S1, S2).
//
// File format: the windows-2022 layout of `show sslcert` (netsh/netsh_text.h), whatever profile is
// active. The newest layout prints every field, so a record written under one profile and read
// under another loses nothing; `show` prints a store in the active profile's layout instead. Any
// real `show sslcert` dump (older Windows included) is a valid store file.
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bindings/record.h"
#include "netsh/netsh_text.h"

namespace snibind::netsh {

// The outcome of a store operation, valued as the Windows error netsh reports for it.
enum class StoreStatus : int {
    ok = 0,
    not_found = 2,         // ERROR_FILE_NOT_FOUND: "The system cannot find the file specified."
    already_exists = 183,  // ERROR_ALREADY_EXISTS: "Cannot create a file when that file ..."
};

// What load() does when the file does not exist.
enum class MissingFile { error, empty };

class Store {
  public:
    Store() = default;
    // Precondition: no two records have the same key (parse_sslcert_text guarantees it).
    explicit Store(std::vector<Record> records);

    // In file order; add() appends.
    const std::vector<Record>& records() const { return records_; }
    // The records themselves, leaving the store empty: a million-record store is not copied.
    std::vector<Record> release_records() && { return std::move(records_); }
    std::size_t size() const { return records_.size(); }
    bool empty() const { return records_.empty(); }

    // The record with this key, or nullptr. The pointer is valid until the store changes.
    const Record* find(const RecordKey& key) const;
    // S2: add never overwrites: already_exists when the key is present, the store unchanged.
    StoreStatus add(Record record);
    // Replaces the record with the same key in place; not_found when there is none.
    StoreStatus update(Record record);
    // Deletes the record with this key; not_found when there is none.
    StoreStatus remove(const RecordKey& key);

    // The file's content: format_sslcert(records(), windows-2022).
    std::string text() const;

    // Reads and imports a store file. A file that does not exist is an empty store under
    // MissingFile::empty, and otherwise an error "cannot open store FILE: No such file or
    // directory" (line 0). An import error carries the file's line and reason.
    static std::optional<Store> load(const std::filesystem::path& path, MissingFile missing,
                                     ImportError& error);
    // Writes text() atomically: to "PATH.tmp.<pid>" (keeping an existing file's permissions),
    // fsync, rename over PATH, fsync the directory. An interrupted save leaves either the old or
    // the new file, never a partial one. On failure returns false, sets `error` and removes the
    // temporary file.
    bool save(const std::filesystem::path& path, std::string& error) const;

  private:
    std::vector<Record>::iterator locate(const RecordKey& key);

    std::vector<Record> records_;
};

// The file helpers every store uses (this one, the URL reservations, applicationHost.config).
struct FileError {
    std::string_view what;  // "open" or "read"
    int err = 0;            // errno
    bool is_missing() const { return what == "open" && err == ENOENT; }
};
std::string errno_text(int err);
// The whole file, or nullopt with `error`.
std::optional<std::string> read_file(const std::filesystem::path& path, FileError& error);
// The save() of every store: to "PATH.tmp.<pid>" (keeping an existing file's permissions),
// fsync, rename over PATH, fsync the directory; an interrupted write leaves the old file or the
// new one, never a partial one. On failure returns false, sets `error`, removes the temporary.
bool write_file_atomically(const std::filesystem::path& path, std::string_view text,
                           std::string& error);

}  // namespace snibind::netsh
