#include "netsh/store_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

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

std::optional<std::string> read_file(const std::filesystem::path& path, FileError& error) {
    Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) {
        error = {"open", errno};
        return std::nullopt;
    }
    std::string text;
    // A million-record store is some 250 MB: growing the string by doubling would copy it
    // about twice over and fault in every copy.
    struct stat status {};
    if (::fstat(file.fd, &status) == 0 && S_ISREG(status.st_mode) && status.st_size > 0)
        text.reserve(static_cast<std::size_t>(status.st_size));
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(file.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = {"read", errno};
            return std::nullopt;
        }
        if (n == 0) return text;
        text.append(buf, static_cast<std::size_t>(n));
    }
}

bool write_file_atomically(const std::filesystem::path& path, std::string_view text,
                           std::string& error) {
    std::string tmp = path.string() + ".tmp." + std::to_string(::getpid());
    auto fail = [&](std::string_view what, int err) {
        error = std::string(what) + " " + tmp + ": " + errno_text(err);
        ::unlink(tmp.c_str());
        return false;
    };
    Fd out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)};
    if (out.fd < 0) {
        error = "cannot create " + tmp + ": " + errno_text(errno);
        return false;
    }
    struct stat existing {};
    if (::stat(path.c_str(), &existing) == 0 && ::fchmod(out.fd, existing.st_mode & 07777) != 0) {
        return fail("cannot set the permissions of", errno);
    }
    if (!write_all(out.fd, text)) return fail("cannot write", errno);
    if (::fsync(out.fd) != 0) return fail("cannot sync", errno);
    if (::close(out.release()) != 0) return fail("cannot close", errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        error = "cannot replace " + path.string() + ": " + errno_text(err);
        ::unlink(tmp.c_str());
        return false;
    }
    // Make the rename itself durable. A failure here cannot lose data any more: not an error.
    auto dir = path.parent_path();
    Fd d{::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd >= 0) ::fsync(d.fd);
    return true;
}

std::optional<Store> Store::load(const std::filesystem::path& path, MissingFile missing,
                                 ImportError& error) {
    error = ImportError{path.string(), 0, {}};
    FileError file_error;
    auto text = read_file(path, file_error);
    if (!text) {
        if (file_error.is_missing() && missing == MissingFile::empty) return Store();
        error.reason = "cannot " + std::string(file_error.what) + " store " + path.string() + ": " +
                       errno_text(file_error.err);
        return std::nullopt;
    }
    auto result = parse_sslcert_text(*text, path.string());
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
