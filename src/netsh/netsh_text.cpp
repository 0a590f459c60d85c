#include "netsh/netsh_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string>

#include "bindings/binding_table.h"
#include "bindings/huge_pages.h"
#include "netsh/netsh_fields.h"
#include "text/ascii.h"
#include "text/quote.h"

namespace snibind::netsh {

namespace {

constexpr std::string_view kBindingsTitle = "SSL Certificate bindings:";
constexpr std::string_view kExtendedTitle = "Extended Properties:";
constexpr std::string_view kPropertyId = "PropertyId";
constexpr std::string_view kEmDash = "\xE2\x80\x94";  // U+2014, UTF-8

// A '\r' too: "value\r\r\n" would otherwise keep a '\r' that the saved file's line end then
// swallows, and the store would change on its first save.
bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// UTF-16 (after its byte-order mark) to UTF-8; an unpaired surrogate becomes U+FFFD.
std::string utf16_to_utf8(std::string_view bytes, bool little_endian) {
    std::string out;
    out.reserve(bytes.size() / 2);
    auto unit = [&](std::size_t i) -> std::uint32_t {
        auto a = static_cast<unsigned char>(bytes[i]), b = static_cast<unsigned char>(bytes[i + 1]);
        return little_endian ? (b << 8 | a) : (a << 8 | b);
    };
    for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
        std::uint32_t u = unit(i);
        if (u >= 0xD800 && u < 0xDC00 && i + 3 < bytes.size()) {
            std::uint32_t low = unit(i + 2);
            if (low >= 0xDC00 && low < 0xE000) {
                append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
                i += 2;
                continue;
            }
        }
        append_utf8(out, u >= 0xD800 && u < 0xE000 ? 0xFFFD : u);
    }
    return out;
}

// "C:\>netsh http show sslcert", "PS C:\Users\me> netsh ...": sets `command` to what follows '>'.
bool is_prompt(std::string_view line, std::string_view& command) {
    if (line.starts_with("PS ")) line.remove_prefix(3);
    bool drive = line.size() >= 3 &&
                 ((line[0] >= 'A' && line[0] <= 'Z') || (line[0] >= 'a' && line[0] <= 'z')) &&
                 line[1] == ':' && line[2] == '\\';
    auto gt = line.find('>');
    if (!drive || gt == std::string_view::npos) return false;
    command = trim(line.substr(gt + 1));
    return true;
}

// A line made only of '-' and U+2014 (s2.txt's underline), at least one of them.
bool is_underline(std::string_view line) {
    if (line.empty()) return false;
    while (!line.empty()) {
        if (line.front() == '-') {
            line.remove_prefix(1);
        } else if (line.starts_with(kEmDash)) {
            line.remove_prefix(kEmDash.size());
        } else {
            return false;
        }
    }
    return true;
}

// When `line` is `label`, optional blanks, ':' and a value, returns the trimmed value.
std::optional<std::string_view> match_label(std::string_view line, std::string_view label) {
    if (!line.starts_with(label)) return std::nullopt;
    auto rest = trim(line.substr(label.size()));
    if (rest.empty() || rest.front() != ':') return std::nullopt;
    return trim(rest.substr(1));
}

// Splits a "Label : value" line whose label is not a known one. The separator is the first ':'
// with a blank on either side ("IP:porta   : 0.0.0.0:443" -> "IP:porta"), else the first ':'.
bool split_unknown(std::string_view line, std::string_view& label, std::string_view& value) {
    std::size_t sep = std::string_view::npos;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] != ':') continue;
        if ((i > 0 && is_blank(line[i - 1])) || i + 1 == line.size() || is_blank(line[i + 1])) {
            sep = i;
            break;
        }
    }
    if (sep == std::string_view::npos) sep = line.find(':');
    if (sep == std::string_view::npos || sep == 0) return false;
    label = trim(line.substr(0, sep));
    value = trim(line.substr(sep + 1));
    return true;
}

bool is_urlacl_label(std::string_view label) {
    return label == "Reserved URL" || label == "User" || label == "Listen" || label == "Delegate" ||
           label == "SDDL";
}

// Labels of localised `show sslcert` output: pt-BR "IP:porta", "Nome do host:porta", de "IP:Port".
bool is_localised_key_label(std::string_view label) {
    return (label.starts_with("IP:") && label != "IP:port") || label.starts_with("Nome do host");
}

bool has_non_ascii(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return true;
    return false;
}

// Where the importer is in an Extended Properties block.
enum class ImportExt { none, need_id, in_block };

// The record being imported. At namespace scope: clang cannot default-construct a nested class
// with default member initializers (std::optional::emplace) inside its enclosing class.
struct ImportCurrent {
    Record record;
    int key_line = 0;
    std::array<int, kSslcertFields.size()> field_line{};
    ImportExt ext = ImportExt::none;
    int ext_line = 0;
};

class Importer {
  public:
    Importer(std::string_view file_name, std::size_t size_hint) : file_(file_name) {
        // A record takes 200 bytes of text or more (a key line and three fields, as a hosting
        // front end writes them): reserving for that spares a million-record store the copies
        // of a growing vector. Capacity it does not use is never touched and costs no memory.
        result_.records.reserve(size_hint / 200);
        result_.key_lines.reserve(size_hint / 200);
        // The records are the table's slab for as long as they are served (BindingTable::Slab).
        advise_huge_pages(result_.records.data(), result_.records.capacity() * sizeof(Record));
    }

    bool feed(std::string_view piece) {
        if (result_.error) return false;
        if (encoding_ == Encoding::unknown || encoding_ == Encoding::utf16) {
            head_.append(piece);
            // The byte-order mark decides; UTF-16 text (PowerShell 5's `>`) is small and is
            // decoded whole at the end.
            if (encoding_ == Encoding::utf16 || head_.size() < 3) return true;
            decide_encoding();
            if (encoding_ == Encoding::utf16) return true;
            piece = head_;
        }
        lines(piece);
        head_.clear();
        return !result_.error;
    }

    ImportResult finish() {
        if (encoding_ == Encoding::unknown) decide_encoding();
        if (encoding_ == Encoding::utf16) {
            encoding_ = Encoding::utf8;
            lines(utf16_to_utf8(std::string_view(head_).substr(2), head_[0] == '\xFF'));
        } else if (encoding_ == Encoding::utf8 && !head_.empty()) {
            lines(head_);
        }
        if (!carry_.empty() && !result_.error) {
            std::string_view line = carry_;
            if (line.ends_with('\r')) line.remove_suffix(1);
            handle(++number_, line);
        }
        if (!result_.error) finish_record(number_);
        report_first_duplicate();
        if (result_.error) {
            result_.records.clear();
            result_.key_lines.clear();
        }
        return std::move(result_);
    }

  private:
    using Ext = ImportExt;
    using Current = ImportCurrent;
    enum class Encoding { unknown, utf8, utf16 };

    // From the first bytes (head_): a UTF-16 byte-order mark, else UTF-8, whose mark is dropped.
    void decide_encoding() {
        std::string_view head = head_;
        if (head.starts_with("\xFF\xFE") || head.starts_with("\xFE\xFF")) {
            encoding_ = Encoding::utf16;
            return;
        }
        encoding_ = Encoding::utf8;
        if (head.starts_with("\xEF\xBB\xBF")) head_.erase(0, 3);
    }

    // Handles every line `text` completes; a last line without its '\n' waits in carry_.
    void lines(std::string_view text) {
        while (!text.empty() && !result_.error) {
            const auto nl = text.find('\n');
            if (nl == std::string_view::npos) {
                carry_.append(text);
                return;
            }
            std::string_view line = text.substr(0, nl);
            text.remove_prefix(nl + 1);
            if (!carry_.empty()) {
                carry_.append(line);
                line = carry_;
            }
            if (line.ends_with('\r')) line.remove_suffix(1);
            handle(++number_, line);
            carry_.clear();
        }
    }

    // S2: a key is defined once. Checked after the text, not per record: a store of a hosting
    // front end holds a million keys, and probing a hash set at random per record was a quarter
    // of its import; sorting their hashes is not. The error is the one a check per record would
    // have given: the first key line (in file order) whose key an earlier record has, when it
    // comes before the error the text stopped at, if any.
    void report_first_duplicate() {
        if (result_.error && current_) {  // the record the error interrupted has its key line
            result_.records.push_back(std::move(current_->record));
            result_.key_lines.push_back(current_->key_line);
            current_.reset();
        }
        const std::vector<Record>& records = result_.records;
        std::vector<std::pair<std::uint64_t, std::uint32_t>> by_hash(records.size());
        for (std::size_t i = 0; i < records.size(); ++i)
            by_hash[i] = {key_hash(key_view(records[i].key)), static_cast<std::uint32_t>(i)};
        std::sort(by_hash.begin(), by_hash.end());  // records of one hash in file order
        // Within a run of equal hashes (in file order), the first record whose key an earlier
        // one of the run has; the smallest such over all runs.
        std::optional<std::pair<std::uint32_t, std::uint32_t>> first;  // (duplicate, original)
        for (std::size_t a = 0, b = 0; a < by_hash.size(); a = b) {
            while (b < by_hash.size() && by_hash[b].first == by_hash[a].first) ++b;
            for (std::size_t j = a + 1; j < b && !(first && by_hash[j].second >= first->first);
                 ++j) {
                const Record& later = records[by_hash[j].second];
                auto same = std::find_if(by_hash.begin() + a, by_hash.begin() + j, [&](auto& e) {
                    return records[e.second].key == later.key;
                });
                if (same != by_hash.begin() + j) {
                    first = {by_hash[j].second, same->second};
                    break;
                }
            }
        }
        if (!first) return;
        const int line = result_.key_lines[first->first];
        if (result_.error && result_.error->line <= line) return;
        result_.error =
            ImportError{std::string(file_), line,
                        records[first->first].key.display() + " is already defined on line " +
                            std::to_string(result_.key_lines[first->second])};
    }

    void fail(int line, std::string reason) {
        result_.error = ImportError{std::string(file_), line, std::move(reason)};
    }

    // A line that is not a field of an Extended Properties block ends the block; one that needs
    // its PropertyId line cannot end yet.
    bool end_extended_block(int line) {
        if (current_ && current_->ext == Ext::need_id) {
            fail(line, "the Extended Properties block of line " +
                           std::to_string(current_->ext_line) + " has no PropertyId line");
            return false;
        }
        if (current_) current_->ext = Ext::none;
        return true;
    }

    void finish_record(int line) {
        if (!end_extended_block(line) || !current_) return;
        result_.records.push_back(std::move(current_->record));
        result_.key_lines.push_back(current_->key_line);
        current_.reset();
    }

    void handle(int number, std::string_view raw) {
        if (raw.find('\0') != std::string_view::npos) {
            return fail(number,
                        "contains a NUL byte: UTF-16 text needs a byte-order mark (or save it "
                        "as UTF-8)");
        }
        auto line = trim(raw);
        std::string_view command;
        if (line.empty() || line == kBindingsTitle || is_underline(line)) {
            end_extended_block(number);
            return;
        }
        if (is_prompt(line, command)) {
            if (!end_extended_block(number)) return;
            if (command.empty() || istarts_with(command, "netsh http show sslcert")) return;
            if (istarts_with(command, "netsh http show urlacl")) {
                return fail(number,
                            "this is the output of 'netsh http show urlacl' (URL reservations), "
                            "not of 'netsh http show sslcert'");
            }
            return fail(number,
                        "the prompt runs " + quote(command) + ", not 'netsh http show sslcert'");
        }
        if (line == "URL Reservations:") {
            return fail(number,
                        "'URL Reservations:' is the output of 'netsh http show urlacl', not of "
                        "'netsh http show sslcert'");
        }
        if (line == kExtendedTitle || match_label(line, "Extended Properties")) {
            return extended_title(number);
        }
        for (auto family : {Family::ip, Family::host, Family::ccs, Family::scoped_ccs}) {
            RecordKey probe;
            probe.family = family;
            if (auto value = match_label(line, probe.netsh_label())) {
                return key_line(number, family, probe.netsh_label(), *value);
            }
        }
        for (auto& field : kSslcertFields) {
            if (auto value = match_label(line, field.label)) {
                return field_line(number, field, *value);
            }
        }
        if (auto value = match_label(line, kPropertyId)) return property_id(number, *value);
        std::string_view label, value;
        if (!split_unknown(line, label, value)) {
            return fail(number, "cannot read " + quote(line) + ": expected 'Label : value'");
        }
        unknown_label(number, label, value);
    }

    void extended_title(int number) {
        if (!end_extended_block(number)) return;
        if (!current_) {
            return fail(number, "'Extended Properties' comes before the first key line (" +
                                    std::string(kKeyLabels) + ")");
        }
        current_->record.extended_properties.emplace_back();
        current_->ext = Ext::need_id;
        current_->ext_line = number;
    }

    void property_id(int number, std::string_view value) {
        if (!current_ || current_->ext != Ext::need_id) {
            return fail(number,
                        "'PropertyId' must be the first line after ' Extended Properties:'");
        }
        std::uint32_t id = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
        if (value.empty() || ec != std::errc{} || end != value.data() + value.size()) {
            return fail(number, quote(value) + " is not a number (PropertyId)");
        }
        current_->record.extended_properties.back().id = id;
        current_->ext = Ext::in_block;
    }

    void key_line(int number, Family family, std::string_view label, std::string_view value) {
        finish_record(number);
        if (result_.error) return;
        std::string error;
        auto key = RecordKey::parse(family, value, error);
        if (!key) {
            return fail(number,
                        std::string(label) + " " + quote(value) + " is not valid: " + error);
        }
        current_.emplace();
        current_->key_line = number;
        if (family == Family::host || family == Family::scoped_ccs) {
            auto written = value.substr(0, value.rfind(':'));
            if (written != key->host) current_->record.host_as_written = written;
        }
        current_->record.key = std::move(*key);
    }

    void field_line(int number, const SslcertField& field, std::string_view value) {
        if (!current_) {
            return fail(number, "'" + std::string(field.label) +
                                    "' comes before the first key line (" +
                                    std::string(kKeyLabels) + ")");
        }
        if (current_->ext == Ext::need_id) {
            return fail(number,
                        "'PropertyId' must be the first line after ' Extended Properties:'");
        }
        if (current_->ext == Ext::in_block) {
            return fail(number, "'" + std::string(field.label) +
                                    "' comes after an Extended Properties block: the record's "
                                    "fields come first");
        }
        auto index = static_cast<std::size_t>(&field - kSslcertFields.data());
        if (int first = current_->field_line[index]) {
            return fail(number, "'" + std::string(field.label) + "' is given twice for " +
                                    current_->record.key.display() + " (first on line " +
                                    std::to_string(first) + ")");
        }
        std::string error;
        if (!parse_shown_value(field, value, current_->record, error)) {
            return fail(number, std::move(error));
        }
        current_->field_line[index] = number;
    }

    void unknown_label(int number, std::string_view label, std::string_view value) {
        if (current_ && current_->ext == Ext::in_block) {
            // The store file prints it as "label : value": a label that would split differently
            // there ("a:" reads back as "a" and ": value") would change at the first save.
            std::string_view printed_label, printed_value;
            const std::string printed = format_line(label, value);
            if (!split_unknown(trim(std::string_view(printed).substr(0, printed.size() - 1)),
                               printed_label, printed_value) ||
                printed_label != label || printed_value != value) {
                return fail(number, "the Extended Properties field " + quote(label) +
                                        " cannot be kept: printed as 'label : value' in the "
                                        "store file, it would read back differently (a label "
                                        "cannot end with ':')");
            }
            current_->record.extended_properties.back().fields.emplace_back(label, value);
            return;
        }
        if (current_ && current_->ext == Ext::need_id) {
            return fail(number,
                        "'PropertyId' must be the first line after ' Extended Properties:'");
        }
        if (label == "Reserved URL") {
            return fail(number,
                        "'Reserved URL' is a URL reservation (netsh http show urlacl), not an SSL "
                        "certificate binding");
        }
        if (is_urlacl_label(label)) {
            return fail(number, quote(label) +
                                    " belongs to a URL reservation (netsh http show urlacl), not "
                                    "to an SSL certificate binding");
        }
        if (is_localised_key_label(label) || has_non_ascii(label)) {
            return fail(number, quote(label) +
                                    " looks like localised netsh output, which is not supported: "
                                    "run netsh on a system whose display language is English");
        }
        fail(number, "unknown field " + quote(label));
    }

    static constexpr std::string_view kKeyLabels =
        "IP:port, Hostname:port, Central Certificate Store or Scoped CCS";

    std::string_view file_;
    Encoding encoding_ = Encoding::unknown;
    std::string head_;   // the first bytes until the encoding is known; all of a UTF-16 text
    std::string carry_;  // a line whose '\n' has not come yet
    int number_ = 0;     // lines handled
    ImportResult result_;
    std::optional<Current> current_;
};

}  // namespace

std::string ImportError::message() const {
    if (line <= 0) return reason;
    return file + ":" + std::to_string(line) + ": " + reason;
}

class SslcertImporter::Impl : public Importer {
  public:
    using Importer::Importer;
};

SslcertImporter::SslcertImporter(std::string_view file_name, std::size_t size_hint)
    : importer_(std::make_unique<Impl>(file_name, size_hint)) {}
SslcertImporter::~SslcertImporter() = default;
bool SslcertImporter::feed(std::string_view piece) {
    return importer_->feed(piece);
}
ImportResult SslcertImporter::finish() && {
    return importer_->finish();
}

ImportResult parse_sslcert_text(std::string_view text, std::string_view file_name) {
    SslcertImporter importer(file_name, text.size());
    importer.feed(text);
    return std::move(importer).finish();
}

std::string format_record(const Record& record, Profile profile) {
    std::string value = record.key.netsh_value();
    if (!record.host_as_written.empty() &&
        (record.key.family == Family::host || record.key.family == Family::scoped_ccs)) {
        value = record.host_as_written.str() + ":" + std::to_string(record.key.port);
    }
    std::string out = format_line(record.key.netsh_label(), value);
    for (auto& field : kSslcertFields)
        if (known_in(field, profile)) out += format_line(field.label, format_value(field, record));
    if (profile >= kExtendedPropertiesSince) {
        for (auto& block : record.extended_properties) {
            out += " ";
            out += kExtendedTitle;
            out += '\n';
            out += format_line(kPropertyId, std::to_string(block.id));
            for (auto& [label, field_value] : block.fields) out += format_line(label, field_value);
        }
    }
    out += '\n';
    return out;
}

std::string format_sslcert(const std::vector<Record>& records, Profile profile) {
    std::string out(kSslcertHeader);
    for (auto& record : records) out += format_record(record, profile);
    return out;
}

}  // namespace snibind::netsh
