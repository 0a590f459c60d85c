#include "iis/application_host.h"

#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "netsh/store_file.h"
#include "text/ascii.h"
#include "text/quote.h"

namespace snibind::iis {

namespace {

const xmlChar* xml(const char* s) {
    return reinterpret_cast<const xmlChar*>(s);
}

bool is_element(const xmlNode* node, const char* name) {
    return node && node->type == XML_ELEMENT_NODE &&
           std::strcmp(reinterpret_cast<const char*>(node->name), name) == 0;
}

xmlNode* first_child(xmlNode* parent, const char* name) {
    for (xmlNode* c = parent ? parent->children : nullptr; c; c = c->next)
        if (is_element(c, name)) return c;
    return nullptr;
}

std::optional<std::string> attribute(const xmlNode* node, const char* name) {
    xmlChar* value = xmlGetProp(node, xml(name));
    if (!value) return std::nullopt;
    std::string out(reinterpret_cast<const char*>(value));
    xmlFree(value);
    return out;
}

int line_of(const xmlNode* node) {
    return static_cast<int>(xmlGetLineNo(node));
}

struct ParseFailure {
    int line;
    std::string reason;
};

std::string in_quotes(std::string_view s) {
    return quote(s);
}

// ---- reading the DOM into IisSite values ----

IisBinding read_binding(const xmlNode* node, const std::string& site) {
    IisBinding b;
    b.line = line_of(node);
    auto protocol = attribute(node, "protocol");
    auto info = attribute(node, "bindingInformation");
    if (!protocol || protocol->empty())
        throw ParseFailure{b.line, "site " + in_quotes(site) + ": <binding> has no protocol"};
    if (!info) {
        throw ParseFailure{b.line,
                           "site " + in_quotes(site) + ": <binding> has no bindingInformation"};
    }
    b.protocol = *protocol;
    b.binding_information = *info;
    std::string error;
    if (!parse_http_binding(b.protocol, b.binding_information, error) && !error.empty()) {
        throw ParseFailure{b.line,
                           "site " + in_quotes(site) + ": binding " + b.to_string() + ": " + error};
    }
    if (auto flags = attribute(node, "sslFlags")) {
        auto parsed = parse_ssl_flags(*flags);
        if (!parsed) {
            throw ParseFailure{b.line, "site " + in_quotes(site) + ": sslFlags " +
                                           in_quotes(*flags) +
                                           " is not a number or a list of flag names (Sni, "
                                           "CentralCertStore, ...)"};
        }
        b.ssl_flags = *parsed;
    }
    if (auto hash = attribute(node, "certificateHash"); hash && !hash->empty()) {
        b.certificate_hash = Thumbprint::parse(*hash);
        if (!b.certificate_hash) {
            throw ParseFailure{b.line, "site " + in_quotes(site) + ": certificateHash " +
                                           in_quotes(*hash) + " is not 40 hex digits"};
        }
    }
    b.certificate_store_name = attribute(node, "certificateStoreName").value_or("");
    return b;
}

IisApplication read_application(const xmlNode* node) {
    IisApplication app;
    app.path = attribute(node, "path").value_or("/");
    app.application_pool = attribute(node, "applicationPool").value_or("");
    for (xmlNode* c = node->children; c; c = c->next) {
        if (!is_element(c, "virtualDirectory")) continue;
        app.virtual_directories.push_back(
            {attribute(c, "path").value_or("/"), attribute(c, "physicalPath").value_or("")});
    }
    return app;
}

std::optional<std::uint32_t> parse_id(std::string_view text) {
    std::uint32_t id = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return id;
}

IisSite read_site(xmlNode* node) {
    IisSite site;
    site.line = line_of(node);
    auto name = attribute(node, "name");
    if (!name || name->empty()) throw ParseFailure{site.line, "<site> has no name attribute"};
    site.name = *name;
    auto id_text = attribute(node, "id");
    if (!id_text) throw ParseFailure{site.line, "site " + in_quotes(site.name) + " has no id"};
    auto id = parse_id(*id_text);
    if (!id) {
        throw ParseFailure{site.line, "site " + in_quotes(site.name) + ": id " +
                                          in_quotes(*id_text) + " is not a number"};
    }
    site.id = *id;
    if (auto start = attribute(node, "serverAutoStart"))
        site.server_auto_start = !iequals(*start, "false");
    for (xmlNode* c = node->children; c; c = c->next) {
        if (is_element(c, "application")) site.applications.push_back(read_application(c));
        if (!is_element(c, "bindings")) continue;
        for (xmlNode* b = c->children; b; b = b->next) {
            if (!is_element(b, "binding")) continue;
            IisBinding binding = read_binding(b, site.name);
            for (const auto& seen : site.bindings) {
                if (iequals(seen.protocol, binding.protocol) &&
                    iequals(seen.binding_information, binding.binding_information)) {
                    throw ParseFailure{
                        binding.line,
                        "Cannot add duplicate collection entry of type 'binding' with combined "
                        "key attributes 'protocol, bindingInformation' respectively set to " +
                            quote(binding.protocol + ", " + binding.binding_information)};
                }
            }
            site.bindings.push_back(std::move(binding));
        }
    }
    return site;
}

xmlNode* sites_element(xmlDoc* doc) {
    xmlNode* root = xmlDocGetRootElement(doc);
    if (!is_element(root, "configuration")) {
        throw ParseFailure{
            root ? line_of(root) : 1,
            "the root element is not <configuration>: not an applicationHost.config"};
    }
    xmlNode* host = first_child(root, "system.applicationHost");
    xmlNode* sites = first_child(host, "sites");
    if (!sites) {
        throw ParseFailure{host ? line_of(host) : line_of(root),
                           "no <system.applicationHost><sites> section"};
    }
    return sites;
}

std::vector<IisSite> read_sites(xmlDoc* doc) {
    std::vector<IisSite> sites;
    for (xmlNode* c = sites_element(doc)->children; c; c = c->next) {
        if (!is_element(c, "site")) continue;
        IisSite site = read_site(c);
        for (const auto& seen : sites) {
            if (iequals(seen.name, site.name)) {
                throw ParseFailure{site.line,
                                   "Cannot add duplicate collection entry of type 'site' with "
                                   "unique key attribute 'name' set to " +
                                       quote(site.name)};
            }
            if (seen.id == site.id) {
                throw ParseFailure{
                    site.line, "site " + in_quotes(site.name) + ": id " + std::to_string(site.id) +
                                   " is already the id of site " + in_quotes(seen.name)};
            }
        }
        sites.push_back(std::move(site));
    }
    return sites;
}

// ---- editing the DOM, keeping the file's indentation ----

// The whitespace that precedes `node` on its line, with the line break: "\n        ".
std::string indent_of(const xmlNode* node) {
    const xmlNode* prev = node ? node->prev : nullptr;
    if (prev && prev->type == XML_TEXT_NODE && prev->content) {
        std::string_view text(reinterpret_cast<const char*>(prev->content));
        auto nl = text.rfind('\n');
        if (nl != std::string_view::npos &&
            text.find_first_not_of(" \t\r\n", nl) == std::string_view::npos) {
            return std::string(text.substr(nl));
        }
    }
    return "\n";
}

bool is_blank_text(const xmlNode* node) {
    if (!node || node->type != XML_TEXT_NODE || !node->content) return false;
    std::string_view text(reinterpret_cast<const char*>(node->content));
    return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

xmlNode* last_element(xmlNode* parent, const char* name) {
    xmlNode* found = nullptr;
    for (xmlNode* c = parent->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && (!name || is_element(c, name))) found = c;
    return found;
}

// Inserts `child` into `parent` on a line of its own: after the last element named `after` (any
// element when null), or as the first child, with the indentation of its siblings.
void insert_indented(xmlNode* parent, xmlNode* child, const char* after = nullptr) {
    xmlNode* anchor = last_element(parent, after);
    if (!anchor && after) anchor = last_element(parent, nullptr);
    if (anchor) {
        std::string indent = indent_of(anchor);
        xmlNode* text = xmlNewText(xml(indent.c_str()));
        xmlAddNextSibling(anchor, text);
        xmlAddNextSibling(text, child);
        return;
    }
    std::string outer = indent_of(parent);
    std::string inner = outer + "    ";
    if (parent->children) {
        // Only text inside: put the element first, keep the rest.
        xmlNode* text = xmlNewText(xml(inner.c_str()));
        xmlAddPrevSibling(parent->children, text);
        xmlAddNextSibling(text, child);
        return;
    }
    xmlAddChild(parent, xmlNewText(xml(inner.c_str())));
    xmlAddChild(parent, child);
    xmlAddChild(parent, xmlNewText(xml(outer.c_str())));
}

void remove_indented(xmlNode* node) {
    if (is_blank_text(node->prev)) {
        xmlNode* blank = node->prev;
        xmlUnlinkNode(blank);
        xmlFreeNode(blank);
    }
    xmlUnlinkNode(node);
    xmlFreeNode(node);
}

xmlNode* new_element(const char* name) {
    return xmlNewNode(nullptr, xml(name));
}

void set_attribute(xmlNode* node, const char* name, const std::string& value) {
    xmlSetProp(node, xml(name), xml(value.c_str()));
}

xmlNode* binding_element(const IisBinding& b) {
    xmlNode* node = new_element("binding");
    set_attribute(node, "protocol", b.protocol);
    set_attribute(node, "bindingInformation", b.binding_information);
    if (b.ssl_flags != 0) set_attribute(node, "sslFlags", std::to_string(b.ssl_flags));
    if (b.certificate_hash) set_attribute(node, "certificateHash", b.certificate_hash->hex());
    if (!b.certificate_store_name.empty())
        set_attribute(node, "certificateStoreName", b.certificate_store_name);
    return node;
}

bool binding_matches(const xmlNode* node, std::string_view protocol, std::string_view info) {
    auto p = attribute(node, "protocol").value_or("");
    auto i = attribute(node, "bindingInformation").value_or("");
    return (protocol.empty() || iequals(p, protocol)) && iequals(i, info);
}

// libxml2 writes empty elements as <a b="c"/>; IIS writes <a b="c" />. Only tags are touched,
// not comments, CDATA or attribute values.
std::string in_iis_style(std::string_view xml_text, bool crlf) {
    std::string out;
    out.reserve(xml_text.size() + xml_text.size() / 16);
    enum class State { text, tag, quoted, skip } state = State::text;
    char quote = 0;
    std::string_view skip_until;
    for (std::size_t i = 0; i < xml_text.size(); ++i) {
        char c = xml_text[i];
        std::string_view rest = xml_text.substr(i);
        switch (state) {
            case State::text:
                if (rest.starts_with("<!--")) {
                    state = State::skip, skip_until = "-->";
                } else if (rest.starts_with("<![CDATA[")) {
                    state = State::skip, skip_until = "]]>";
                } else if (rest.starts_with("<?")) {
                    state = State::skip, skip_until = "?>";
                } else if (c == '<') {
                    state = State::tag;
                }
                break;
            case State::tag:
                if (c == '"' || c == '\'') {
                    state = State::quoted, quote = c;
                } else if (c == '>') {
                    state = State::text;
                } else if (rest.starts_with("/>") && !out.empty() && out.back() != ' ') {
                    out += ' ';
                }
                break;
            case State::quoted:
                if (c == quote) state = State::tag;
                break;
            case State::skip:
                if (rest.starts_with(skip_until)) {
                    out += skip_until;
                    i += skip_until.size() - 1;
                    state = State::text;
                    continue;
                }
                break;
        }
        if (c == '\n' && crlf) out += '\r';
        out += c;
    }
    return out;
}

}  // namespace

// ---- public functions ----

std::optional<std::uint32_t> parse_ssl_flags(std::string_view text) {
    text = trim_blanks(text);
    if (text.empty()) return std::nullopt;
    if (auto number = parse_id(text)) return number;
    static constexpr std::pair<std::string_view, std::uint32_t> kNames[]{
        {"none", 0},
        {"sni", kSslSni},
        {"centralcertstore", kSslCentralCertStore},
        {"disablehttp2", kSslDisableHttp2},
        {"disableocspstp", kSslDisableOcspStapling},
        {"disablequic", kSslDisableQuic},
        {"disabletls13", kSslDisableTls13},
        {"disablelegacytls", kSslDisableLegacyTls},
    };
    std::uint32_t flags = 0;
    for (bool more = true; more;) {
        auto comma = text.find(',');
        auto name = trim_blanks(text.substr(0, comma));
        more = comma != std::string_view::npos;
        if (more) text.remove_prefix(comma + 1);
        auto it = std::find_if(std::begin(kNames), std::end(kNames),
                               [&](const auto& n) { return iequals(n.first, name); });
        if (it == std::end(kNames)) return std::nullopt;
        flags |= it->second;
    }
    return flags;
}

std::optional<http::SiteBinding> parse_http_binding(std::string_view protocol,
                                                    std::string_view binding_information,
                                                    std::string& error) {
    error.clear();
    if (!iequals(protocol, "https") && !iequals(protocol, "http")) return std::nullopt;
    // IIS Express writes ":8080:localhost" for "*:8080:localhost".
    std::string info(binding_information);
    if (info.starts_with(':')) info.insert(0, "*");
    std::string text = std::string(protocol) + "/" + info;
    return http::SiteBinding::parse(text, error);
}

bool IisBinding::is_https() const {
    return iequals(protocol, "https");
}

bool IisBinding::is_http_family() const {
    return is_https() || iequals(protocol, "http");
}

std::string IisBinding::to_string() const {
    return protocol + "/" + binding_information;
}

std::string IisSite::physical_path() const {
    for (const auto& app : applications) {
        if (app.path != "/") continue;
        for (const auto& vdir : app.virtual_directories)
            if (vdir.path == "/") return vdir.physical_path;
    }
    return {};
}

struct ApplicationHost::Document {
    xmlDoc* doc = nullptr;
    bool crlf = false;  // XML parsing turns CRLF into LF; a Windows file is written back in CRLF
    ~Document() { xmlFreeDoc(doc); }
};

ApplicationHost::ApplicationHost(std::unique_ptr<Document> doc) : doc_(std::move(doc)) {}
ApplicationHost::ApplicationHost(ApplicationHost&&) noexcept = default;
ApplicationHost& ApplicationHost::operator=(ApplicationHost&&) noexcept = default;
ApplicationHost::~ApplicationHost() = default;

std::optional<ApplicationHost> ApplicationHost::parse(std::string_view text,
                                                      std::string_view file_name,
                                                      netsh::ImportError& error) {
    error = {std::string(file_name), 0, {}};
    xmlParserCtxt* ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        error.reason = "out of memory";
        return std::nullopt;
    }
    // No network, no external entities, no messages on stderr: errors come back to the caller.
    auto doc = std::make_unique<Document>();
    std::string name(file_name);
    doc->doc =
        xmlCtxtReadMemory(ctxt, text.data(), static_cast<int>(text.size()), name.c_str(), nullptr,
                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc->doc) {
        const xmlError* e = xmlCtxtGetLastError(ctxt);
        error.line = e && e->line > 0 ? e->line : 1;
        std::string reason = e && e->message ? e->message : "not XML";
        while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' '))
            reason.pop_back();
        error.reason = "XML: " + reason;
        xmlFreeParserCtxt(ctxt);
        return std::nullopt;
    }
    xmlFreeParserCtxt(ctxt);
    doc->crlf = text.find("\r\n") != std::string_view::npos;
    ApplicationHost host(std::move(doc));
    try {
        host.sites_ = read_sites(host.doc_->doc);
    } catch (const ParseFailure& f) {
        error.line = f.line > 0 ? f.line : 1;
        error.reason = f.reason;
        return std::nullopt;
    }
    return host;
}

std::optional<ApplicationHost> ApplicationHost::load(const std::filesystem::path& file,
                                                     netsh::ImportError& error) {
    netsh::FileError file_error;
    auto text = netsh::read_file(file, file_error);
    if (!text) {
        error = {file.string(), 0,
                 "cannot " + std::string(file_error.what) + " " + file.string() + ": " +
                     netsh::errno_text(file_error.err)};
        return std::nullopt;
    }
    return parse(*text, file.string(), error);
}

void ApplicationHost::reread() {
    // Every edit checks what it writes, so the document always reads back.
    sites_ = read_sites(doc_->doc);
}

const IisSite* ApplicationHost::find_site(std::string_view name) const {
    for (const auto& s : sites_)
        if (iequals(s.name, name)) return &s;
    return nullptr;
}

namespace {

xmlNode* site_element(xmlDoc* doc, std::string_view name) {
    for (xmlNode* c = sites_element(doc)->children; c; c = c->next) {
        if (is_element(c, "site") && iequals(attribute(c, "name").value_or(""), name)) return c;
    }
    return nullptr;
}

xmlNode* find_binding_element(xmlNode* site, std::string_view protocol, std::string_view info) {
    for (xmlNode* c = site->children; c; c = c->next) {
        if (!is_element(c, "bindings")) continue;
        for (xmlNode* b = c->children; b; b = b->next)
            if (is_element(b, "binding") && binding_matches(b, protocol, info)) return b;
    }
    return nullptr;
}

}  // namespace

EditStatus ApplicationHost::add_binding(std::string_view site, const IisBinding& binding) {
    std::string error;
    if (binding.protocol.empty() ||
        (!parse_http_binding(binding.protocol, binding.binding_information, error) &&
         !error.empty())) {
        return EditStatus::invalid;
    }
    xmlNode* node = site_element(doc_->doc, site);
    if (!node) return EditStatus::no_site;
    if (find_binding_element(node, binding.protocol, binding.binding_information))
        return EditStatus::duplicate;
    xmlNode* bindings = first_child(node, "bindings");
    if (!bindings) {
        bindings = new_element("bindings");
        insert_indented(node, bindings);
    }
    insert_indented(bindings, binding_element(binding), "binding");
    reread();
    return EditStatus::ok;
}

EditStatus ApplicationHost::remove_binding(std::string_view site, std::string_view protocol,
                                           std::string_view binding_information) {
    xmlNode* node = site_element(doc_->doc, site);
    if (!node) return EditStatus::no_site;
    xmlNode* binding = find_binding_element(node, protocol, binding_information);
    if (!binding) return EditStatus::no_binding;
    remove_indented(binding);
    reread();
    return EditStatus::ok;
}

EditStatus ApplicationHost::set_binding_certificate(std::string_view site,
                                                    std::string_view protocol,
                                                    std::string_view binding_information,
                                                    const Thumbprint& hash,
                                                    std::string_view store_name) {
    xmlNode* node = site_element(doc_->doc, site);
    if (!node) return EditStatus::no_site;
    xmlNode* binding = find_binding_element(node, protocol, binding_information);
    if (!binding) return EditStatus::no_binding;
    set_attribute(binding, "certificateHash", hash.hex());
    set_attribute(binding, "certificateStoreName", std::string(store_name));
    reread();
    return EditStatus::ok;
}

EditStatus ApplicationHost::add_site(IisSite site, std::string_view physical_path) {
    if (site.name.empty()) return EditStatus::invalid;
    for (std::size_t i = 0; i < site.bindings.size(); ++i) {
        const auto& b = site.bindings[i];
        std::string error;
        if (b.protocol.empty() ||
            (!parse_http_binding(b.protocol, b.binding_information, error) && !error.empty())) {
            return EditStatus::invalid;
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (iequals(site.bindings[j].protocol, b.protocol) &&
                iequals(site.bindings[j].binding_information, b.binding_information)) {
                return EditStatus::duplicate;
            }
        }
    }
    std::uint32_t max_id = 0;
    for (const auto& s : sites_) {
        if (iequals(s.name, site.name) || (site.id != 0 && s.id == site.id))
            return EditStatus::duplicate;
        max_id = std::max(max_id, s.id);
    }
    if (site.id == 0) site.id = max_id + 1;

    xmlNode* sites = sites_element(doc_->doc);
    xmlNode* node = new_element("site");
    set_attribute(node, "name", site.name);
    set_attribute(node, "id", std::to_string(site.id));
    insert_indented(sites, node, "site");
    if (!physical_path.empty()) {
        xmlNode* app = new_element("application");
        set_attribute(app, "path", "/");
        insert_indented(node, app);
        xmlNode* vdir = new_element("virtualDirectory");
        set_attribute(vdir, "path", "/");
        set_attribute(vdir, "physicalPath", std::string(physical_path));
        insert_indented(app, vdir);
    }
    xmlNode* bindings = new_element("bindings");
    insert_indented(node, bindings);
    for (const auto& b : site.bindings) insert_indented(bindings, binding_element(b), "binding");
    reread();
    return EditStatus::ok;
}

EditStatus ApplicationHost::delete_site(std::string_view name) {
    xmlNode* node = site_element(doc_->doc, name);
    if (!node) return EditStatus::no_site;
    remove_indented(node);
    reread();
    return EditStatus::ok;
}

std::string ApplicationHost::text() const {
    xmlChar* buffer = nullptr;
    int size = 0;
    xmlDocDumpMemoryEnc(doc_->doc, &buffer, &size, "UTF-8");
    std::string out(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(size));
    xmlFree(buffer);
    return in_iis_style(out, doc_->crlf);
}

bool ApplicationHost::save(const std::filesystem::path& file, std::string& error) const {
    return netsh::write_file_atomically(file, text(), error);
}

std::vector<http::Site> to_http_sites(const std::vector<IisSite>& sites) {
    std::vector<http::Site> out;
    for (const auto& site : sites) {
        http::Site s;
        s.name = site.name;
        for (const auto& b : site.bindings) {
            std::string error;
            if (auto parsed = parse_http_binding(b.protocol, b.binding_information, error))
                s.bindings.push_back(std::move(*parsed));
        }
        if (!s.bindings.empty()) out.push_back(std::move(s));
    }
    return out;
}

std::string sites_yaml(const std::vector<http::Site>& sites) {
    YAML::Emitter out;
    out << YAML::BeginMap << YAML::Key << "sites" << YAML::Value << YAML::BeginSeq;
    for (const auto& site : sites) {
        out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted
            << site.name;
        out << YAML::Key << "bindings" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const auto& b : site.bindings) out << YAML::DoubleQuoted << b.to_string();
        out << YAML::EndSeq;
        if (!site.backend.empty()) {
            out << YAML::Key << "backend" << YAML::Value << YAML::DoubleQuoted << site.backend;
        }
        out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

std::optional<std::vector<http::Site>> load_iis_sites(const std::filesystem::path& applicationHost,
                                                      std::string& error) {
    netsh::ImportError import_error;
    auto host = ApplicationHost::load(applicationHost, import_error);
    if (!host) {
        error = import_error.message();
        return std::nullopt;
    }
    return to_http_sites(host->sites());
}

}  // namespace snibind::iis
