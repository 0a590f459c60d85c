#include "certs/certificate_store.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <system_error>

#include "text/ascii.h"

namespace snibind::certs {

namespace {

bool has_extension(const std::filesystem::path& file,
                   std::initializer_list<std::string_view> exts) {
    auto ext = to_lower(file.extension().string());
    return std::ranges::find(exts, ext) != exts.end();
}

// The regular files of a folder with one of `exts`, sorted so that "the first wins" for
// duplicates does not depend on the file system's order.
bool list_folder(const std::filesystem::path& folder, std::initializer_list<std::string_view> exts,
                 std::vector<std::filesystem::path>& files, std::string& error) {
    std::error_code ec;
    std::filesystem::directory_iterator it(folder, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec) && has_extension(it->path(), exts)) files.push_back(it->path());
    }
    if (ec) {
        error = folder.string() + ": " + ec.message();
        return false;
    }
    std::ranges::sort(files);
    return true;
}

}  // namespace

std::size_t CertificateStore::ThumbprintHash::operator()(const Thumbprint& t) const noexcept {
    // A SHA-1 is uniformly distributed already: its first bytes are a good hash.
    std::size_t h = 0;
    std::memcpy(&h, t.bytes.data(), sizeof h);
    return h;
}

void CertificateStore::add(std::shared_ptr<const Certificate> cert) {
    if (!cert) return;
    const CertificateInfo& info = cert->info();
    auto [it, inserted] = by_hash_.try_emplace(info.thumbprint, cert);
    if (!inserted) {
        problems_.push_back({info.file, "same certificate (thumbprint " + info.thumbprint.hex() +
                                            ") as " + it->second->info().file.string() +
                                            "; ignored"});
        return;
    }
    if (!info.key_usable()) problems_.push_back({info.file, info.key_problem});
}

bool CertificateStore::add_paths(const std::vector<std::filesystem::path>& paths,
                                 std::string_view password, std::string& error) {
    for (const auto& path : paths) {
        std::vector<std::filesystem::path> files;
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) {
            if (!list_folder(path, {".pem", ".crt", ".pfx", ".p12"}, files, error)) return false;
        } else {
            files.push_back(path);
        }
        for (const auto& file : files) {
            auto cert = load_certificate(file, password, error);
            if (!cert) return false;
            add(std::move(cert));
        }
    }
    return true;
}

bool CertificateStore::set_ccs(const CcsOptions& options, std::string& error) {
    ccs_.clear();
    if (options.folder.empty()) return true;
    std::vector<std::filesystem::path> files;
    if (!list_folder(options.folder, {".pfx"}, files, error)) return false;
    for (const auto& file : files) {
        LoadResult loaded = try_load_certificate(file, options.password);
        if (!loaded.certificate) {
            // The file is there, so L1 step 3 selects it; only its key is unusable (L9), as
            // HTTP.sys finds when it opens the file during the handshake.
            CertificateInfo info;
            info.file = file;
            info.key_problem = loaded.reason;
            loaded.certificate = std::make_shared<const Certificate>(std::move(info), nullptr);
        }
        const CertificateInfo& info = loaded.certificate->info();
        if (!info.key_usable()) problems_.push_back({file, info.key_problem});
        auto [it, inserted] =
            ccs_.try_emplace(to_lower(file.filename().string()), loaded.certificate);
        if (!inserted) {
            problems_.push_back({file, "same CCS name as " + it->second->info().file.string() +
                                           " (names are compared case-insensitively); ignored"});
        }
    }
    return true;
}

std::shared_ptr<const Certificate> CertificateStore::find(const Thumbprint& thumbprint) const {
    auto it = by_hash_.find(thumbprint);
    return it == by_hash_.end() ? nullptr : it->second;
}

std::shared_ptr<const Certificate> CertificateStore::ccs(std::string_view file_name) const {
    auto it = ccs_.find(to_lower(file_name));
    return it == ccs_.end() ? nullptr : it->second;
}

bool CertificateStore::has_ccs_file(std::string_view file_name) const {
    return ccs(file_name) != nullptr;
}

bool CertificateStore::key_usable(const Record& record, std::string_view ccs_file) const {
    std::shared_ptr<const Certificate> cert;
    if (!ccs_file.empty()) {
        cert = ccs(ccs_file);
    } else if (record.certhash) {
        cert = find(*record.certhash);
    }
    return cert && cert->info().key_usable() && cert->ctx() != nullptr;
}

std::vector<std::shared_ptr<const Certificate>> CertificateStore::all() const {
    std::vector<std::shared_ptr<const Certificate>> certs;
    certs.reserve(by_hash_.size());
    for (const auto& [thumbprint, cert] : by_hash_) certs.push_back(cert);
    std::ranges::sort(certs,
                      [](const auto& a, const auto& b) { return a->info().file < b->info().file; });
    return certs;
}

std::vector<std::shared_ptr<const Certificate>> CertificateStore::ccs_all() const {
    std::vector<std::shared_ptr<const Certificate>> certs;
    certs.reserve(ccs_.size());
    for (const auto& [file, cert] : ccs_) certs.push_back(cert);
    std::ranges::sort(certs,
                      [](const auto& a, const auto& b) { return a->info().file < b->info().file; });
    return certs;
}

}  // namespace snibind::certs
