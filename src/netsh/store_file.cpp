#include "netsh/store_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

namespace snibind::netsh {

namespace {

// Closes a descriptor on scope exit.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    int release() {
        int f = fd;
        fd = -1;
        return f;
    }
};

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Whether process `pid` has ended. EPERM means it runs, as another user.
bool has_ended(pid_t pid) {
    return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// Removes the temporaries "NAME.tmp.<pid>" beside `path` whose writer has ended: one killed
// between linking its temporary and renaming it, or one writing where O_TMPFILE is missing (a
// million-record store's temporary is a gigabyte). A writer's own temporary is left alone.
void remove_stale_temporaries(const std::filesystem::path& path) {
    const std::string prefix = path.filename().string() + ".tmp.";
    const auto dir = path.parent_path();
    DIR* d = ::opendir(dir.empty() ? "." : dir.c_str());
    if (!d) return;  // the write itself reports what is wrong with the folder
    while (const dirent* entry = ::readdir(d)) {
        std::string_view name = entry->d_name;
        if (!name.starts_with(prefix)) continue;
        std::string_view digits = name.substr(prefix.size());
        pid_t pid = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
        // Exactly a pid as a writer prints it: "store.txt.tmp.0123" or ".tmp.12x" are not ours.
        if (digits.empty() || digits[0] == '0' || ec != std::errc{} ||
            end != digits.data() + digits.size() || pid <= 0) {
            continue;
        }
        if (pid != ::getpid() && has_ended(pid)) ::unlinkat(::dirfd(d), entry->d_name, 0);
    }
    ::closedir(d);
}

}  // namespace

Store::Store(std::vector<Record> records) : records_(std::move(records)) {
#ifndef NDEBUG
    for (std::size_t i = 0; i < records_.size(); ++i)
        for (std::size_t j = i + 1; j < records_.size(); ++j)
            assert(!(records_[i].key == records_[j].key) && "duplicate key in a Store");
#endif
}

std::vector<Record>::iterator Store::locate(const RecordKey& key) {
    return std::find_if(records_.begin(), records_.end(),
                        [&](const Record& r) { return r.key == key; });
}

const Record* Store::find(const RecordKey& key) const {
    auto it = std::find_if(records_.begin(), records_.end(),
                           [&](const Record& r) { return r.key == key; });
    return it == records_.end() ? nullptr : &*it;
}

StoreStatus Store::add(Record record) {
    if (find(record.key)) return StoreStatus::already_exists;
    records_.push_back(std::move(record));
    return StoreStatus::ok;
}

StoreStatus Store::update(Record record) {
    auto it = locate(record.key);
    if (it == records_.end()) return StoreStatus::not_found;
    *it = std::move(record);
    return StoreStatus::ok;
}

StoreStatus Store::remove(const RecordKey& key) {
    auto it = locate(key);
    if (it == records_.end()) return StoreStatus::not_found;
    records_.erase(it);
    return StoreStatus::ok;
}

std::string Store::text() const {
    return format_sslcert(records_, Profile::windows_2022);
}

std::string errno_text(int err) {
    return std::strerror(err);
}

namespace {

// Reads `path` a piece at a time into one reused buffer, passing each piece to `consume` (which
// returns false to stop early) after `size(n)` with the file's size (0 when unknown: a pipe).
template <class Size, class Consume>
bool read_pieces(const std::filesystem::path& path, FileError& error, std::size_t limit, Size size,
                 Consume consume) {
    Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) {
        error = {"open", errno};
        return false;
    }
    struct stat status {};
    const bool sized =
        ::fstat(file.fd, &status) == 0 && S_ISREG(status.st_mode) && status.st_size > 0;
    size(sized ? std::min(static_cast<std::size_t>(status.st_size), limit) : 0);
    // Not zero-filled: a small file touches only the pages it needs.
    const std::size_t capacity = std::min<std::size_t>(limit, std::size_t{1} << 20);
    auto buffer = std::make_unique_for_overwrite<char[]>(capacity);
    for (std::size_t done = 0; done < limit;) {
        ssize_t n = ::read(file.fd, buffer.get(), std::min(capacity, limit - done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = {"read", errno};
            return false;
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
        if (!consume(std::string_view(buffer.get(), static_cast<std::size_t>(n)))) break;
    }
    return true;
}

}  // namespace

std::optional<std::string> read_file(const std::filesystem::path& path, FileError& error,
                                     std::size_t limit) {
    std::string text;
    // Reserved at the file's size: growing by doubling would copy a big file about twice over.
    const bool read = read_pieces(
        path, error, limit, [&](std::size_t size) { text.reserve(size); },
        [&](std::string_view piece) {
            text.append(piece);
            return true;
        });
    if (!read) return std::nullopt;
    return text;
}

bool write_file_atomically(const std::filesystem::path& path, std::string_view text,
                           std::string& error) {
    remove_stale_temporaries(path);
    const std::string tmp = path.string() + ".tmp." + std::to_string(::getpid());
    const auto dir = path.parent_path();
    const std::string dir_name = dir.empty() ? std::string(".") : dir.string();
    struct stat existing {};
    const bool replaces = ::stat(path.c_str(), &existing) == 0;

    bool named = false;  // `tmp` exists and is ours: removed on failure
    auto fail = [&](std::string what, int err) {
        error = std::move(what) + ": " + errno_text(err);
        if (named) ::unlink(tmp.c_str());
        return false;
    };
    // Writes `text` to `out`, keeping the replaced file's permissions, and makes it durable.
    auto fill = [&](int out) {
        if (replaces && ::fchmod(out, existing.st_mode & 07777) != 0)
            return fail("cannot set the permissions of " + tmp, errno);
        if (!write_all(out, text)) return fail("cannot write " + tmp, errno);
        if (::fsync(out) != 0) return fail("cannot sync " + tmp, errno);
        return true;
    };

    // An unnamed file first: a writer killed while writing (a gigabyte for a million records)
    // leaves nothing behind. It gets its name only once it is complete, and rename cannot
    // replace a file from a descriptor, so it is linked as `tmp` first.
    Fd out{::open(dir_name.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666)};
    if (out.fd >= 0) {
        if (!fill(out.fd)) return false;
        const std::string self = "/proc/self/fd/" + std::to_string(out.fd);
        int linked = ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW);
        if (linked != 0 && errno == EEXIST) {
            // Left by an earlier process with this pid.
            ::unlink(tmp.c_str());
            linked = ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW);
        }
        if (linked == 0) {
            named = true;
        } else {
            ::close(out.release());  // no /proc to link through: write a named file instead
        }
    }
    if (!named) {
        // No O_TMPFILE on this file system (or no /proc): a named temporary, which a killed
        // writer leaves behind for the next write to remove.
        out.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (out.fd < 0) {
            error = "cannot create " + tmp + ": " + errno_text(errno);
            return false;
        }
        named = true;
        if (!fill(out.fd)) return false;
    }
    if (::close(out.release()) != 0) return fail("cannot close " + tmp, errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        return fail("cannot replace " + path.string(), errno);
    // Make the rename itself durable. A failure here cannot lose data any more: not an error.
    Fd d{::open(dir_name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd >= 0) ::fsync(d.fd);
    return true;
}

std::optional<EditLock> EditLock::acquire(const std::filesystem::path& path, std::string& error) {
    const std::string name = path.string() + ".lock";
    // Whoever may write the store may take its lock: the lock file gets the store's permissions
    // (umask aside), as save() keeps them for the store itself.
    struct stat store {};
    const bool store_exists = ::stat(path.c_str(), &store) == 0;
    Fd lock{::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666)};
    if (lock.fd >= 0) {
        if (store_exists) ::fchmod(lock.fd, store.st_mode & 0666);
    } else if (errno == EEXIST) {
        lock.fd = ::open(name.c_str(), O_RDWR | O_CLOEXEC);
    }
    if (lock.fd < 0) {
        error = "cannot open the lock file " + name + ": " + errno_text(errno);
        return std::nullopt;
    }
    while (::flock(lock.fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        error = "cannot lock " + name + ": " + errno_text(errno);
        return std::nullopt;
    }
    return EditLock(lock.release());
}

EditLock::~EditLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

EditLock& EditLock::operator=(EditLock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

std::optional<Store> Store::load(const std::filesystem::path& path, MissingFile missing,
                                 ImportError& error) {
    error = ImportError{path.string(), 0, {}};
    FileError file_error;
    // Imported as it is read: a million-record store (some 250 MB of text) is never in memory
    // whole, and its pages are never faulted in to be copied once and thrown away.
    const std::string name = path.string();
    std::optional<SslcertImporter> importer;
    const bool read = read_pieces(
        path, file_error, std::string::npos,
        [&](std::size_t size) { importer.emplace(name, size); },
        [&](std::string_view piece) { return importer->feed(piece); });
    if (!read) {
        if (file_error.is_missing() && missing == MissingFile::empty) return Store();
        error.reason = "cannot " + std::string(file_error.what) + " store " + name + ": " +
                       errno_text(file_error.err);
        return std::nullopt;
    }
    auto result = std::move(*importer).finish();
    if (!result.ok()) {
        error = std::move(*result.error);
        return std::nullopt;
    }
    return Store(std::move(result.records));
}

bool Store::save(const std::filesystem::path& path, std::string& error) const {
    return write_file_atomically(path, text(), error);
}

}  // namespace snibind::netsh
