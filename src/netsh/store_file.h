#pragma once
// A store: the SSL bindings of one (simulated) machine, kept in a text file that is exactly the
// output of `netsh http show sslcert` (src/bindings/README.md S1, S2).
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
#include <string_view>
#include <utility>
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
    // Writes text() with write_file_atomically(): an interrupted save leaves either the old or
    // the new file, never a partial one. On failure returns false and sets `error`.
    // A read-modify-write (load, change, save) must hold the EditLock of the file throughout.
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
// The whole file, or its first `limit` bytes when it is longer; nullopt with `error`. A
// directory fails to read (EISDIR).
std::optional<std::string> read_file(const std::filesystem::path& path, FileError& error,
                                     std::size_t limit = std::string::npos);
// The save() of every store: the text goes to an unnamed temporary file in PATH's folder
// (O_TMPFILE; where the file system has none, to "PATH.tmp.<pid>"), keeping an existing file's
// permissions; fsync; the temporary is linked as "PATH.tmp.<pid>" and renamed over PATH; the
// folder is fsynced. An interrupted write leaves the old file or the new one, never a partial
// one, and a killed writer leaves no temporary behind (an unnamed one vanishes with it). Before
// writing, temporaries "PATH.tmp.<pid>" of writers no longer running (a writer killed between
// link and rename, or one without O_TMPFILE) are removed. On failure returns false, sets
// `error`, removes its own temporary.
bool write_file_atomically(const std::filesystem::path& path, std::string_view text,
                           std::string& error);

// The advisory lock that makes an edit of a store file (load, change, save) one step: every
// writer of PATH holds it from before it reads the file until its save is renamed in place, so
// two edits at once never lose one (issue 10, item 2). The CLI (netsh, appcmd, iis) and the
// server's POST /api/netsh take it. It is flock(2) on "PATH.lock", a file of its own: save()
// replaces PATH by rename, so a lock on PATH itself would be on the old inode, which the next
// writer no longer opens. The lock file is created on first use (with PATH's permissions) and
// never removed: removing it would let two writers lock two different files. Readers take no
// lock: save() is atomic, a reader sees the old file or the new one.
class EditLock {
  public:
    // Blocks until the lock is held. nullopt with `error` when the lock file cannot be opened.
    static std::optional<EditLock> acquire(const std::filesystem::path& path, std::string& error);
    EditLock(EditLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    EditLock& operator=(EditLock&& other) noexcept;  // releases this one's lock first
    ~EditLock();                                     // releases the lock

  private:
    explicit EditLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace snibind::netsh
