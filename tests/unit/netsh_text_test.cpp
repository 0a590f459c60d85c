// The `netsh http show sslcert` importer and printer (src/bindings/README.md S1 and section 3),
// against the real captures in tests/data/netsh/.
#include "netsh/netsh_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "netsh/netsh_fields.h"

namespace snibind::netsh {
namespace {

using ::testing::HasSubstr;

constexpr std::array<Profile, 6> kAllProfiles{Profile::windows_2008r2, Profile::windows_2012,
                                              Profile::windows_2012r2, Profile::windows_2016,
                                              Profile::windows_2019,   Profile::windows_2022};

std::string read_data(const std::string& name) {
    std::ifstream in(std::string(SNIBIND_TEST_DATA) + "/netsh/" + name, std::ios::binary);
    EXPECT_TRUE(in) << name;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string with_crlf(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

// UTF-8 (BMP only, as in the captures) to UTF-16LE with a byte-order mark.
std::string utf16le_with_bom(const std::string& utf8) {
    std::string out = "\xFF\xFE";
    for (std::size_t i = 0; i < utf8.size();) {
        auto c = static_cast<unsigned char>(utf8[i]);
        unsigned cp = c;
        std::size_t len = c < 0x80 ? 1 : (c < 0xE0 ? 2 : 3);
        if (len == 2) cp = (c & 0x1F) << 6 | (utf8[i + 1] & 0x3F);
        if (len == 3) cp = (c & 0x0F) << 12 | (utf8[i + 1] & 0x3F) << 6 | (utf8[i + 2] & 0x3F);
        out += static_cast<char>(cp & 0xFF);
        out += static_cast<char>(cp >> 8);
        i += len;
    }
    return out;
}

Thumbprint hash(std::string_view hex) {
    return *Thumbprint::parse(hex);
}
Guid guid(std::string_view text) {
    return *Guid::parse(text);
}

RecordKey key(Family family, std::string_view value) {
    std::string error;
    auto k = RecordKey::parse(family, value, error);
    EXPECT_TRUE(k) << value << ": " << error;
    return k.value_or(RecordKey{});
}

// ---- The captures (S1) ----

struct Capture {
    const char* file;
    Family family;
    const char* key;
    const char* host_as_written;
    const char* hash;
    const char* appid;
    const char* store_name;
    std::uint32_t flags;
    std::size_t extended_blocks;
};

constexpr std::string_view kIisExpress = "{214124cd-d05b-4309-9af9-9caa44b2b74a}";
constexpr std::string_view kIis = "{4dc3e181-e14b-4a21-b022-59fc669b0914}";

const Capture kCaptures[] = {
    {"s1.txt", Family::ip, "0.0.0.0:44307", "", "61d34f532da121bbab64723c4871e72c92f03735",
     kIisExpress.data(), "MY", kDefaultRecordFlags, 2},
    // IIS 8: an SNI record, its host as Windows printed it, uneven padding, em-dash underline.
    {"s2.txt", Family::host, "sni.iis8.com:443", "SNI.IIS8.com",
     "8d90a17d2851f802b0a5619bf695b03544b8f5cb", kIis.data(), "My", kDefaultRecordFlags, 0},
    // Created without a store name: "(null)" is the empty string.
    {"s3.txt", Family::ip, "0.0.0.0:443", "", "5226dc6c54559761cd471b86eb51c096252c90f2",
     kIis.data(), "", kDefaultRecordFlags, 0},
    // Truncated after Disable TLS1.3 (Set): the missing fields keep netsh's defaults.
    {"s5.txt", Family::ip, "0.0.0.0:443", "", "2ace368a90d2117be7a0065dfe259b2e8c94f538",
     kIis.data(), "My", kDefaultRecordFlags | kDisableTls13, 0},
};

class CaptureTest : public ::testing::TestWithParam<Capture> {};

void expect_capture(const Capture& c, const ImportResult& result) {
    ASSERT_TRUE(result.ok()) << result.error->message();
    ASSERT_EQ(result.records.size(), 1u);
    const Record& r = result.records[0];
    EXPECT_EQ(r.key, key(c.family, c.key));
    EXPECT_EQ(r.host_as_written, c.host_as_written);
    EXPECT_EQ(r.certhash, hash(c.hash));
    EXPECT_EQ(r.appid, guid(c.appid));
    EXPECT_EQ(r.cert_store_name, c.store_name);
    EXPECT_EQ(r.flags, c.flags);
    EXPECT_EQ(r.revocation_freshness_time, 0u);
    EXPECT_EQ(r.url_retrieval_timeout, 0u);
    EXPECT_EQ(r.ctl_identifier, "");
    EXPECT_EQ(r.ctl_store_name, "");
    EXPECT_EQ(r.extended_properties.size(), c.extended_blocks);
}

TEST_P(CaptureTest, S1_ImportsKeyHashAppidStoreAndFlags) {
    expect_capture(GetParam(), parse_sslcert_text(read_data(GetParam().file), GetParam().file));
}

TEST_P(CaptureTest, S1_CrlfVersionImportsIdentically) {
    auto text = read_data(GetParam().file);
    auto lf = parse_sslcert_text(text, "lf");
    auto crlf = parse_sslcert_text(with_crlf(text), "crlf");
    expect_capture(GetParam(), crlf);
    EXPECT_EQ(crlf.records, lf.records);
    EXPECT_EQ(crlf.key_lines, lf.key_lines);
}

TEST_P(CaptureTest, S1_Utf16WithByteOrderMarkImportsIdentically) {
    // PowerShell 5's `netsh http show sslcert > file` writes UTF-16LE with a BOM.
    auto text = read_data(GetParam().file);
    expect_capture(GetParam(), parse_sslcert_text(utf16le_with_bom(with_crlf(text)), "utf16"));
}

TEST_P(CaptureTest, Section3_FormatOfTheImportReimportsEqual) {
    auto first = parse_sslcert_text(read_data(GetParam().file), GetParam().file);
    ASSERT_TRUE(first.ok());
    auto text = format_sslcert(first.records, Profile::windows_2022);
    auto again = parse_sslcert_text(text, "formatted");
    ASSERT_TRUE(again.ok()) << again.error->message() << "\n" << text;
    EXPECT_EQ(again.records, first.records);
    EXPECT_EQ(format_sslcert(again.records, Profile::windows_2022), text);
}

INSTANTIATE_TEST_SUITE_P(Captures, CaptureTest, ::testing::ValuesIn(kCaptures),
                         [](const auto& info) {
                             std::string name = info.param.file;
                             return name.substr(0, name.find('.'));
                         });

TEST(NetshTextImport, S1_ExtendedPropertiesOfS1) {
    auto result = parse_sslcert_text(read_data("s1.txt"), "s1.txt");
    ASSERT_TRUE(result.ok());
    const auto& ext = result.records.at(0).extended_properties;
    ASSERT_EQ(ext.size(), 2u);
    EXPECT_EQ(ext[0].id, 0u);
    EXPECT_EQ(ext[0].fields,
              (std::vector<std::pair<std::string, std::string>>{{"Receive Window", "1048576"}}));
    EXPECT_EQ(ext[1].id, 1u);
    EXPECT_EQ(ext[1].fields, (std::vector<std::pair<std::string, std::string>>{
                                 {"Max Settings Per Frame", "2796202"},
                                 {"Max Settings Per Minute", "4294967295"}}));
}

TEST(NetshTextImport, S1_KeyLinesAreReported) {
    auto text = read_data("s5.txt") + "\n" + read_data("s2.txt");
    auto result = parse_sslcert_text(text, "two");
    ASSERT_TRUE(result.ok()) << result.error->message();
    ASSERT_EQ(result.records.size(), 2u);
    EXPECT_EQ(result.key_lines, (std::vector<int>{5, 27}));
}

TEST(NetshTextImport, AcceptsPromptsHeadersAndEmptyOutput) {
    EXPECT_TRUE(parse_sslcert_text("", "empty").ok());
    EXPECT_TRUE(parse_sslcert_text(kSslcertHeader, "header").ok());
    const char* text =
        "PS C:\\Users\\me> netsh http show sslcert\n"
        "\n"
        "SSL Certificate bindings:\n"
        "\xE2\x80\x94\xE2\x80\x94-\n"
        "IP:port:[::]:443\n"
        "Certificate Hash:5226DC6C54559761CD471B86EB51C096252C90F2\n"
        "\tApplication ID\t:\t{4DC3E181-E14B-4A21-B022-59FC669B0914}   \n"
        "Central Certificate Store    : 443\n"
        "    Certificate Hash             : (null)\n"
        "    Application ID               : {4dc3e181-e14b-4a21-b022-59fc669b0914}\n"
        "Scoped CCS : Www.Contoso.com:443\n"
        "Hostname:port : *.contoso.com:443\n"
        "Hostname:port : b\xC3\xBC"
        "cher.example:8443\n"
        "\n"
        "C:\\Users\\me>\n";
    auto result = parse_sslcert_text(text, "mixed");
    ASSERT_TRUE(result.ok()) << result.error->message();
    ASSERT_EQ(result.records.size(), 5u);
    EXPECT_EQ(result.records[0].key, RecordKey::ip(IpAddress::v6_any(), 443));
    EXPECT_EQ(result.records[0].certhash, hash("5226dc6c54559761cd471b86eb51c096252c90f2"));
    EXPECT_EQ(result.records[0].appid, guid(kIis));
    EXPECT_EQ(result.records[1].key, RecordKey::ccs(443));
    EXPECT_FALSE(result.records[1].certhash);
    EXPECT_EQ(result.records[2].key, RecordKey::scoped_ccs("www.contoso.com", 443));
    EXPECT_EQ(result.records[2].host_as_written, "Www.Contoso.com");
    EXPECT_EQ(result.records[3].key, RecordKey::hostname("*.contoso.com", 443));
    EXPECT_EQ(result.records[3].host_as_written, "");
    // A U-label key is stored as A-labels (L6) and printed as written.
    EXPECT_EQ(result.records[4].key, RecordKey::hostname("xn--bcher-kva.example", 8443));
    EXPECT_EQ(result.records[4].host_as_written,
              "b\xC3\xBC"
              "cher.example");
    EXPECT_THAT(format_record(result.records[4], Profile::windows_2022),
                HasSubstr("    Hostname:port                : b\xC3\xBC"
                          "cher.example:8443\n"));
}

// ---- Rejections: file, line and reason ----

struct Rejection {
    const char* name;
    std::string text;
    int line;
    std::string reason;  // a substring of the reason
};

std::string s5_lines(int from, int to) {
    std::istringstream in(read_data("s5.txt"));
    std::string line, out;
    for (int n = 1; std::getline(in, line); ++n)
        if (n >= from && n <= to) out += line + "\n";
    return out;
}

std::vector<Rejection> rejections() {
    const std::string record = s5_lines(5, 22);  // IP:port 0.0.0.0:443 ... Disable TLS1.3
    return {
        {"UnknownLabel", s5_lines(1, 10) + "Foo Bar : 1\n", 11, "unknown field 'Foo Bar'"},
        {"UnknownLabelMessage", "IP:port : 0.0.0.0:443\n\n\n\n\n\nFoo Bar : 1\n", 7,
         "unknown field 'Foo Bar'"},
        {"FieldBeforeKey", "SSL Certificate bindings:\nCertificate Hash : (null)\n", 2,
         "'Certificate Hash' comes before the first key line"},
        {"BadHash", "\nIP:port : 0.0.0.0:443\nCertificate Hash : xyz\n", 3,
         "'xyz' is not a certificate hash (40 hex digits)"},
        {"BadEnabled", "IP:port : 0.0.0.0:443\nUsage Check : Maybe\n", 2,
         "'Maybe' is not Enabled/Disabled (Usage Check)"},
        {"SetWhereEnabledIsPrinted", "IP:port : 0.0.0.0:443\nUsage Check : Set\n", 2,
         "'Set' is not Enabled/Disabled"},
        {"BadSet", "IP:port : 0.0.0.0:443\nDisable QUIC : Enabled\n", 2,
         "'Enabled' is not Set/Not Set (Disable QUIC)"},
        {"BadNumber", "IP:port : 0.0.0.0:443\nURL Retrieval Timeout : -1\n", 2,
         "'-1' is not a number"},
        {"BadGuid", "IP:port : 0.0.0.0:443\nApplication ID : {nope}\n", 2,
         "'{nope}' is not an application ID"},
        {"BadIpKey", "IP:port : 10.0.0:443\n", 1, "IP:port '10.0.0:443' is not valid"},
        {"BadPort", "IP:port : 0.0.0.0:0\n", 1, "is not a port"},
        {"BadHostKey", "Hostname:port : a..b:443\n", 1, "has an empty label"},
        {"DuplicateKey", "\n" + record + "\n" + record, 21,
         "IP:port 0.0.0.0:443 is already defined on line 2"},
        {"DuplicateHostKeyDifferentCase",
         "Hostname:port : www.contoso.com:443\nHostname:port : WWW.Contoso.COM.:443\n", 2,
         "Hostname:port www.contoso.com:443 is already defined on line 1"},
        // Duplicates are found after the text is read (by sorting hashes), yet reported as a check
        // per record would: the first repeated key line, unless an error comes before it.
        {"DuplicateInARecordAnErrorInterrupts",
         "Hostname:port : a.example:443\nHostname:port : a.example:443\nFoo : 1\n", 2,
         "Hostname:port a.example:443 is already defined on line 1"},
        {"ErrorBeforeADuplicate",
         "Hostname:port : a.example:443\nFoo : 1\nHostname:port : a.example:443\n", 2,
         "unknown field 'Foo'"},
        {"FirstOfTwoDuplicates",
         "Hostname:port : a.example:443\nHostname:port : b.example:443\n"
         "Hostname:port : b.example:443\nHostname:port : a.example:443\n",
         3, "Hostname:port b.example:443 is already defined on line 2"},
        {"DuplicateField",
         "IP:port : 0.0.0.0:443\nUsage Check : Enabled\nDS Mapper Usage : Disabled\n"
         "Usage Check : Enabled\n",
         4, "'Usage Check' is given twice for IP:port 0.0.0.0:443 (first on line 2)"},
        {"LocalisedPtBr", "IP:porta                     : 0.0.0.0:443\n", 1,
         "'IP:porta' looks like localised netsh output, which is not supported"},
        {"LocalisedHost", "Nome do host:porta : www.contoso.com:443\n", 1, "localised"},
        {"LocalisedField",
         "IP:port : 0.0.0.0:443\nNome do reposit\xC3\xB3rio de certificados : MY\n", 2,
         "localised"},
        {"UrlaclU1", read_data("u1-urlacl.txt"), 1,
         "'Reserved URL' is a URL reservation (netsh http show urlacl), not an SSL certificate "
         "binding"},
        {"UrlaclU2Prompt", read_data("u2-urlacl.txt"), 1, "output of 'netsh http show urlacl'"},
        {"UrlaclU2Header", "\nURL Reservations:\n-----------------\n", 2,
         "output of 'netsh http show urlacl'"},
        {"UrlaclU3", read_data("u3-urlacl.txt"), 1, "'Reserved URL' is a URL reservation"},
        {"OtherPrompt", "C:\\>ipconfig /all\n", 1, "the prompt runs 'ipconfig /all'"},
        {"NoSeparator", "IP:port : 0.0.0.0:443\nThe system cannot find the file specified.\n", 2,
         "cannot read 'The system cannot find the file specified.': expected 'Label : value'"},
        {"NulByte", std::string("IP:port : 0.0.0.0:443\nUsage") + '\0' + "Check : x\n", 2,
         "contains a NUL byte"},
        {"ExtendedBeforeKey", " Extended Properties:\n", 1,
         "'Extended Properties' comes before the first key line"},
        {"ExtendedWithoutPropertyId",
         "IP:port : 0.0.0.0:443\n Extended Properties:\n    Receive Window : 1\n", 3,
         "'PropertyId' must be the first line"},
        {"ExtendedEndsWithoutPropertyId", "IP:port : 0.0.0.0:443\n Extended Properties:\n", 2,
         "the Extended Properties block of line 2 has no PropertyId line"},
        {"PropertyIdOutsideBlock", "IP:port : 0.0.0.0:443\nPropertyId : 0\n", 2,
         "'PropertyId' must be the first line"},
        {"FieldAfterExtendedBlock",
         "IP:port : 0.0.0.0:443\n Extended Properties:\nPropertyId : 0\nUsage Check : Enabled\n", 4,
         "'Usage Check' comes after an Extended Properties block"},
        // Found by netsh_store_fuzz: "a: : 1" is printed back as "a:   : 1", which reads as
        // label "a" and value ": 1", so the store would change at its first save.
        {"ExtendedLabelEndingInColon",
         "IP:port : 0.0.0.0:443\n Extended Properties:\nPropertyId : 0\n::1:: na\n", 4,
         "the Extended Properties field '::1:' cannot be kept"},
        {"BlankLineEndsExtendedBlock",
         "IP:port : 0.0.0.0:443\n Extended Properties:\nPropertyId : 0\nA : 1\n\nB : 2\n", 6,
         "unknown field 'B'"},
    };
}

TEST(NetshTextImport, RejectsWithFileLineAndReason) {
    for (const auto& r : rejections()) {
        SCOPED_TRACE(r.name);
        auto result = parse_sslcert_text(r.text, "store.txt");
        ASSERT_FALSE(result.ok());
        EXPECT_TRUE(result.records.empty());
        EXPECT_EQ(result.error->file, "store.txt");
        EXPECT_EQ(result.error->line, r.line) << result.error->message();
        EXPECT_THAT(result.error->reason, HasSubstr(r.reason));
    }
}

// A store file is imported as it is read: any cut into pieces gives what the whole text gives,
// for every rejection above and for text with a byte-order mark (UTF-8 and UTF-16).
TEST(NetshTextImport, PiecesOfAnySizeImportAsTheWholeText) {
    auto in_pieces = [](std::string_view text, std::size_t size) {
        SslcertImporter importer("store.txt", text.size());
        for (std::size_t i = 0; i < text.size(); i += size) importer.feed(text.substr(i, size));
        return std::move(importer).finish();
    };
    std::vector<std::string> texts;
    for (const auto& r : rejections()) texts.push_back(r.text);
    const std::string records =
        "Hostname:port : a.example:443\r\nCertificate Hash : (null)\r\n\r\n"
        "IP:port : 0.0.0.0:443\nUsage Check : Disabled";  // no '\n' at the end
    texts.push_back(records);
    texts.push_back("\xEF\xBB\xBF" + records);
    std::string utf16 = "\xFF\xFE";
    for (char c : records) utf16 += {c, '\0'};
    texts.push_back(utf16);
    for (const std::string& text : texts) {
        const ImportResult whole = parse_sslcert_text(text, "store.txt");
        for (std::size_t size : {1u, 2u, 3u, 7u, 64u}) {
            SCOPED_TRACE(text.substr(0, 40) + " in pieces of " + std::to_string(size));
            const ImportResult pieces = in_pieces(text, size);
            EXPECT_EQ(pieces.error, whole.error);
            EXPECT_EQ(pieces.records, whole.records);
            EXPECT_EQ(pieces.key_lines, whole.key_lines);
        }
    }
    EXPECT_EQ(parse_sslcert_text(utf16, "store.txt").records.size(), 2u);
}

// Issue 10, item 12: a reason quotes at most a few hundred bytes of a huge piece of input, then
// "..." and the piece's length, whichever piece it is; control bytes are escaped.
TEST(NetshTextImport, ReasonsQuoteAtMostAFewHundredBytesOfInput) {
    const std::string huge(1 << 20, 'a');
    const std::string length = "...' (1048576 bytes)";
    struct Case {
        const char* name;
        std::string text;
    };
    const std::vector<Case> cases{
        {"host of a key", "Hostname:port : " + huge + ":443\n"},
        {"port of a key", "Hostname:port : a.test:" + huge + "\n"},
        {"address of a key", "IP:port : " + huge + ":443\n"},
        {"certificate hash", "IP:port : 0.0.0.0:443\nCertificate Hash : " + huge + "\n"},
        {"application ID", "IP:port : 0.0.0.0:443\nApplication ID : " + huge + "\n"},
        {"number", "IP:port : 0.0.0.0:443\nURL Retrieval Timeout : " + huge + "\n"},
        {"flag", "IP:port : 0.0.0.0:443\nUsage Check : " + huge + "\n"},
        {"unknown field", "IP:port : 0.0.0.0:443\n" + huge + " : 1\n"},
        {"line without a label", "IP:port : 0.0.0.0:443\n" + huge + "\n"},
        {"prompt", "C:\\>" + huge + "\n"},
        {"PropertyId", "IP:port : 0.0.0.0:443\n Extended Properties:\nPropertyId : " + huge + "\n"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto result = parse_sslcert_text(c.text, "store.txt");
        ASSERT_FALSE(result.ok());
        EXPECT_LT(result.error->reason.size(), 700u) << result.error->reason.substr(0, 1000);
        EXPECT_THAT(result.error->reason, HasSubstr(length));
    }
    // Up to the limit, a piece is quoted whole; control bytes never reach the terminal as such.
    auto result = parse_sslcert_text("IP:port : 0.0.0.0:443\nFoo\x1b[2J : 1\n", "store.txt");
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error->reason, "unknown field 'Foo\\x1b[2J'");
}

TEST(NetshTextImport, RejectionLineNumbersSurviveCrlf) {
    for (const auto& r : rejections()) {
        SCOPED_TRACE(r.name);
        auto result = parse_sslcert_text(with_crlf(r.text), "store.txt");
        ASSERT_FALSE(result.ok());
        EXPECT_EQ(result.error->line, r.line) << result.error->message();
    }
}

TEST(NetshTextImport, ErrorMessageIsFileLineReason) {
    auto result = parse_sslcert_text("IP:port : 0.0.0.0:443\n\n\n\n\n\nFoo Bar : 1\n", "lab.txt");
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error->message(), "lab.txt:7: unknown field 'Foo Bar'");
    auto urlacl = parse_sslcert_text(read_data("u1-urlacl.txt"), "u1-urlacl.txt");
    ASSERT_FALSE(urlacl.ok());
    EXPECT_EQ(urlacl.error->message(),
              "u1-urlacl.txt:1: 'Reserved URL' is a URL reservation (netsh http show urlacl), not "
              "an SSL certificate binding");
    EXPECT_EQ((ImportError{"f", 0, "cannot open store f: No such file or directory"}.message()),
              "cannot open store f: No such file or directory");
}

// ---- The printer (section 3) ----

Record s5_record() {
    auto result = parse_sslcert_text(read_data("s5.txt"), "s5.txt");
    EXPECT_TRUE(result.ok());
    return result.records.at(0);
}

constexpr std::string_view kOldFields =
    "    IP:port                      : 0.0.0.0:443\n"
    "    Certificate Hash             : 2ace368a90d2117be7a0065dfe259b2e8c94f538\n"
    "    Application ID               : {4dc3e181-e14b-4a21-b022-59fc669b0914}\n"
    "    Certificate Store Name       : My\n"
    "    Verify Client Certificate Revocation : Enabled\n"
    "    Verify Revocation Using Cached Client Certificate Only : Disabled\n"
    "    Usage Check                  : Enabled\n"
    "    Revocation Freshness Time    : 0\n"
    "    URL Retrieval Timeout        : 0\n"
    "    Ctl Identifier               : (null)\n"
    "    Ctl Store Name               : (null)\n"
    "    DS Mapper Usage              : Disabled\n"
    "    Negotiate Client Certificate : Disabled\n";

TEST(NetshTextFormat, Section3_Windows2012StopsAfterNegotiateClientCertificate) {
    auto expected = std::string(kSslcertHeader) + std::string(kOldFields) + "\n";
    EXPECT_EQ(format_sslcert({s5_record()}, Profile::windows_2008r2), expected);
    EXPECT_EQ(format_sslcert({s5_record()}, Profile::windows_2012), expected);
    EXPECT_EQ(format_sslcert({s5_record()}, Profile::windows_2012r2), expected);
    EXPECT_THAT(expected, ::testing::StartsWith("\nSSL Certificate bindings:\n"
                                                "-------------------------\n\n    IP:port    "));
}

TEST(NetshTextFormat, Section3_Windows2016AddsRejectAndHttp2) {
    EXPECT_EQ(format_sslcert({s5_record()}, Profile::windows_2016),
              std::string(kSslcertHeader) + std::string(kOldFields) +
                  "    Reject Connections           : Disabled\n"
                  "    Disable HTTP2                : Not Set\n"
                  "\n");
}

TEST(NetshTextFormat, Section3_Windows2019AddsOcspStaplingAndLegacyTlsInPlace) {
    Record r = s5_record();
    r.set(kDisableLegacyTls, true);
    EXPECT_EQ(format_sslcert({r}, Profile::windows_2019),
              std::string(kSslcertHeader) + std::string(kOldFields) +
                  "    Reject Connections           : Disabled\n"
                  "    Disable HTTP2                : Not Set\n"
                  "    Disable OCSP Stapling        : Not Set\n"
                  "    Disable Legacy TLS Versions  : Set\n"
                  "\n");
}

TEST(NetshTextFormat, Section3_Windows2022PrintsEverythingAndExtendedProperties) {
    auto s1 = parse_sslcert_text(read_data("s1.txt"), "s1.txt");
    ASSERT_TRUE(s1.ok());
    // s1.txt is Windows' output with the indentation of the key line lost and no header.
    auto capture = read_data("s1.txt");
    EXPECT_EQ(format_sslcert(s1.records, Profile::windows_2022),
              std::string(kSslcertHeader) + "    " + capture + "\n");
    // Older profiles drop the blocks.
    EXPECT_THAT(format_sslcert(s1.records, Profile::windows_2019),
                ::testing::Not(HasSubstr("Extended Properties")));
}

TEST(NetshTextFormat, KeyLabelsArePaddedTo29Columns) {
    Record r;
    r.key = RecordKey::ccs(443);
    r.host_as_written = "ignored for ccs";
    auto text = format_record(r, Profile::windows_2012);
    EXPECT_THAT(text, ::testing::StartsWith("    Central Certificate Store    : 443\n"
                                            "    Certificate Hash             : (null)\n"
                                            "    Application ID               : (null)\n"
                                            "    Certificate Store Name       : MY\n"));
    r.key = RecordKey::scoped_ccs("www.contoso.com", 443);
    r.host_as_written = "WWW.contoso.com";
    EXPECT_THAT(format_record(r, Profile::windows_2022),
                ::testing::StartsWith("    Scoped CCS                   : WWW.contoso.com:443\n"));
    EXPECT_EQ(format_sslcert({}, Profile::windows_2022), kSslcertHeader);
}

// ---- Round trip (section 3): parse(format(r)) == r for a profile that prints r's set fields ----

std::uint32_t printed_flags(Profile p) {
    std::uint32_t mask = 0;
    for (auto& f : kSslcertFields)
        if (known_in(f, p)) mask |= f.flag;
    return mask;
}

std::vector<Record> sample_records(Profile p) {
    std::vector<Record> out;
    std::uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const RecordKey keys[] = {
        RecordKey::ip(IpAddress::v4_any(), 443),
        RecordKey::ip(IpAddress::from_v4(0x0a000005), 443),
        RecordKey::ip(IpAddress::v6_any(), 443),
        RecordKey::ip(IpAddress::from_v6(v6), 8443),
        RecordKey::hostname("www.contoso.com", 443),
        RecordKey::hostname("*.contoso.com", 443),
        RecordKey::ccs(443),
        RecordKey::scoped_ccs("shop.contoso.com", 443),
    };
    std::uint32_t mask = printed_flags(p);
    std::uint32_t i = 0;
    for (const auto& k : keys) {
        Record r;
        r.key = k;
        if (k.family == Family::ip || k.family == Family::host) {
            Thumbprint t;
            t.bytes.fill(static_cast<std::uint8_t>(0x11 * (i + 1)));
            r.certhash = t;
        }
        r.appid = guid(i % 2 ? kIis : kIisExpress);
        r.cert_store_name = i % 3 == 0 ? "MY" : (i % 3 == 1 ? "" : "WebHosting");
        // A different combination of flags for each record, limited to what p prints.
        r.flags = (0x5a5a5a5au >> i | (i * 0x1111u)) & mask;
        r.revocation_freshness_time = i * 60;
        r.url_retrieval_timeout = i * 1000;
        r.ctl_identifier = i % 2 ? "CtlId" : "";
        r.ctl_store_name = i % 2 ? "Root" : "";
        if (k.family == Family::host && i % 2 == 0) r.host_as_written = "WWW.Contoso.com";
        if (p >= kExtendedPropertiesSince && i == 0) {
            r.extended_properties = {{0, {{"Receive Window", "1048576"}}},
                                     {1, {{"Max Settings Per Frame", "2796202"}}}};
        }
        out.push_back(std::move(r));
        ++i;
    }
    return out;
}

TEST(NetshTextRoundTrip, Section3_ParseOfFormatEqualsRecordsForEveryProfile) {
    for (auto p : kAllProfiles) {
        SCOPED_TRACE(std::string(to_string(p)));
        auto records = sample_records(p);
        auto text = format_sslcert(records, p);
        auto parsed = parse_sslcert_text(text, "round-trip");
        ASSERT_TRUE(parsed.ok()) << parsed.error->message() << "\n" << text;
        EXPECT_EQ(parsed.records, records);
        EXPECT_EQ(format_sslcert(parsed.records, p), text);
        // And through CRLF.
        auto crlf = parse_sslcert_text(with_crlf(text), "round-trip");
        ASSERT_TRUE(crlf.ok());
        EXPECT_EQ(crlf.records, records);
    }
}

// Found by netsh_store_fuzz: a line ending in "\r\r\n" kept a '\r' in its value, which the saved
// file's line end then swallowed: the store changed at its first save. A '\r' is a blank.
TEST(NetshTextRoundTrip, CarriageReturnsAroundValuesAreBlanks) {
    auto first = parse_sslcert_text(
        "IP:port : 0.0.0.0:443\r\r\nCertificate Store Name : MY \r\r\n Extended Properties:\r\n"
        "PropertyId : 0\r\nA \r: 1\r\r\n",
        "store.txt");
    ASSERT_TRUE(first.ok()) << first.error->message();
    ASSERT_EQ(first.records.size(), 1u);
    EXPECT_EQ(first.records[0].cert_store_name, "MY");
    ASSERT_EQ(first.records[0].extended_properties.size(), 1u);
    EXPECT_EQ(first.records[0].extended_properties[0].fields,
              (std::vector<std::pair<std::string, std::string>>{{"A", "1"}}));
    auto again = parse_sslcert_text(format_sslcert(first.records, Profile::windows_2022), "saved");
    ASSERT_TRUE(again.ok()) << again.error->message();
    EXPECT_EQ(again.records, first.records);
}

TEST(NetshTextRoundTrip, Section3_EveryFlagAloneSurvivesItsProfiles) {
    for (auto& field : kSslcertFields) {
        if (!field.flag) continue;
        for (auto p : kAllProfiles) {
            if (!known_in(field, p)) continue;
            SCOPED_TRACE(std::string(field.label) + " " + std::string(to_string(p)));
            for (bool on : {false, true}) {
                Record r;
                r.key = RecordKey::ip(IpAddress::v4_any(), 443);
                r.flags = 0;
                r.set(static_cast<RecordFlag>(field.flag), on);
                auto parsed = parse_sslcert_text(format_sslcert({r}, p), "flag");
                ASSERT_TRUE(parsed.ok());
                // A field the profile does not print comes back as its default (off).
                EXPECT_EQ(parsed.records.at(0).flags & printed_flags(p), r.flags);
                EXPECT_EQ(parsed.records.at(0).flags & ~printed_flags(p),
                          kDefaultRecordFlags & ~printed_flags(p));
            }
        }
    }
}

// ---- The field table itself ----

TEST(NetshFields, TableOrderLabelsAndGates) {
    const char* labels[] = {"Certificate Hash",
                            "Application ID",
                            "Certificate Store Name",
                            "Verify Client Certificate Revocation",
                            "Verify Revocation Using Cached Client Certificate Only",
                            "Usage Check",
                            "Revocation Freshness Time",
                            "URL Retrieval Timeout",
                            "Ctl Identifier",
                            "Ctl Store Name",
                            "DS Mapper Usage",
                            "Negotiate Client Certificate",
                            "Reject Connections",
                            "Disable HTTP2",
                            "Disable QUIC",
                            "Disable TLS1.2",
                            "Disable TLS1.3",
                            "Disable OCSP Stapling",
                            "Enable Token Binding",
                            "Log Extended Events",
                            "Disable Legacy TLS Versions",
                            "Enable Session Ticket"};
    ASSERT_EQ(std::size(labels), kSslcertFields.size());
    std::uint32_t all_flags = 0;
    for (std::size_t i = 0; i < kSslcertFields.size(); ++i) {
        const auto& f = kSslcertFields[i];
        EXPECT_EQ(f.label, labels[i]);
        EXPECT_EQ(find_field_by_label(f.label), &f);
        EXPECT_EQ(find_field_by_parameter(f.parameter), &f);
        bool is_flag = f.kind == FieldKind::enabled_flag || f.kind == FieldKind::set_flag;
        EXPECT_EQ(is_flag, f.flag != 0) << f.label;
        EXPECT_EQ(f.kind == FieldKind::text, f.text != nullptr) << f.label;
        EXPECT_EQ(f.kind == FieldKind::number, f.number != nullptr) << f.label;
        EXPECT_EQ(all_flags & f.flag, 0u) << f.label;
        all_flags |= f.flag;
        // Reject Connections and the older fields print Enabled/Disabled; from Disable HTTP2 on,
        // Set/Not Set.
        if (is_flag) {
            EXPECT_EQ(f.kind == FieldKind::set_flag, i >= 13) << f.label;
        }
    }
    EXPECT_EQ(all_flags, (1u << 15) - 1);  // every RecordFlag has exactly one field
    EXPECT_EQ(find_field_by_parameter("CertHash"), &kSslcertFields[0]);
    EXPECT_EQ(family_from_label("Hostname:port"), Family::host);
    EXPECT_EQ(family_from_parameter("IPPORT"), Family::ip);
    EXPECT_EQ(family_from_label("IP:porta"), std::nullopt);
}

}  // namespace
}  // namespace snibind::netsh
