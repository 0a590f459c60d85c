// snibind netsh http add|delete|update|show sslcert ...: netsh's sslcert commands on a store file
// (src/bindings/README.md S1, S2, section 3); http show|add|delete urlacl on a URL reservation
// store (I5).
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bindings/profile.h"
#include "cli/commands.h"
#include "cli/edit_file.h"
#include "iis/urlacl.h"
#include "netsh/netsh_command.h"
#include "netsh/netsh_fields.h"
#include "netsh/store_file.h"
#include "text/ascii.h"

namespace snibind::cli {

namespace {

std::string lower_word(const std::vector<std::string>& words, std::size_t i) {
    return words.size() <= i ? std::string() : to_lower(words[i]);
}

bool is_show(const std::vector<std::string>& words) {
    return lower_word(words, 1) == "show";
}

// 'show' of a missing file is an error (a mistyped path would otherwise look empty); add,
// update and delete start from an empty store.
netsh::MissingFile missing_file(const std::vector<std::string>& words) {
    return is_show(words) ? netsh::MissingFile::error : netsh::MissingFile::empty;
}

// Every command but 'show' may change the store: it runs under the store's lock.
Access access(const std::vector<std::string>& words) {
    return is_show(words) ? Access::read : Access::edit;
}

bool is_urlacl(const std::vector<std::string>& words) {
    return lower_word(words, 2) == "urlacl";
}

// `http show|add|delete urlacl` on the URL reservation store.
int run_urlacl(const std::vector<std::string>& words, const std::string& store_file) {
    if (store_file.empty()) {
        std::cerr << "snibind netsh: no URL reservation store: give --urlacl-store FILE or set "
                     "SNIBIND_URLACL_STORE\n";
        return 2;
    }
    return edit_file(
        "snibind netsh", store_file, "store", access(words),
        [&](netsh::ImportError& error) {
            return iis::UrlaclStore::load(store_file, missing_file(words), error);
        },
        [&](iis::UrlaclStore& s, bool& modified) {
            return iis::run_netsh_urlacl(words, s, modified);
        });
}

std::string help_footer() {
    std::string text =
        "\nCommands (as netsh.exe; verbs and parameter names are case-insensitive, parameters\n"
        "are name=value only; bools take enable|disable). Under the default profile:\n\n";
    text += netsh::netsh_synopsis(kDefaultProfile);
    text +=
        "\nOlder profiles know fewer keys and parameters; one the profile does not know fails\n"
        "with error 87 (The parameter is incorrect.). windows-2008r2: ipport= only;\n"
        "windows-2012: + hostnameport=, ccs=; windows-2016: + wildcard hosts (*.name:port);\n"
        "windows-2022: + scopedccs=. Parameters newer than windows-2008r2:\n";
    for (auto p : {Profile::windows_2016, Profile::windows_2019, Profile::windows_2022}) {
        text += "  " + std::string(to_string(p)) + ":";
        for (auto& field : netsh::kSslcertFields)
            if (field.since == p) text += " " + std::string(field.parameter);
        text += "\n";
    }
    text +=
        "\n"
        "The store file is the text of 'netsh http show sslcert' (windows-2022 layout, every\n"
        "field), so a dump from a real server is a valid store. add, update and delete rewrite\n"
        "it atomically, holding the lock file STORE.lock meanwhile (edits at once never lose\n"
        "one); a missing file is an empty store for them, and add creates it. 'show'\n"
        "of a missing file is an error (a mistyped --store would otherwise look empty). 'show'\n"
        "prints the fields of the active profile.\n\n"
        "URL reservations (I5) live in their own store, the text of 'netsh http show urlacl'\n"
        "(--urlacl-store FILE or $SNIBIND_URLACL_STORE):\n"
        "  show urlacl [url=URL]\n"
        "  add urlacl url=https://+:443/app/ user=DOMAIN\\user [listen=yes|no] [delegate=yes|no]\n"
        "  add urlacl url=URL sddl=D:(A;;GX;;;SID)\n"
        "  delete urlacl url=URL\n\n"
        "Output and exit status are netsh's: 0 success, 1 a netsh failure (the Windows error\n"
        "is printed on stdout; snibind's explanation on stderr). Exit status 2: bad usage,\n"
        "unreadable or invalid store file, or the store could not be written.\n";
    return text;
}

}  // namespace

void add_netsh_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "netsh",
        "Run 'netsh http add|delete|update|show sslcert' on a store file, with the messages and\n"
        "exit statuses of Windows' netsh.exe. Example:\n"
        "  snibind netsh --store lab.txt http add sslcert ipport=0.0.0.0:443 \\\n"
        "      certhash=61d34f532da121bbab64723c4871e72c92f03735 \\\n"
        "      appid={4dc3e181-e14b-4a21-b022-59fc669b0914}");
    struct Options {
        std::vector<std::string> words;
        std::string store;
        std::string urlacl_store;
        std::string profile{to_string(kDefaultProfile)};
    };
    auto opt = std::make_shared<Options>();
    cmd->add_option("WORDS", opt->words, "the netsh command: http VERB sslcert name=value ...");
    cmd->add_option("--store", opt->store, "store file (default: $SNIBIND_STORE)")
        ->envname("SNIBIND_STORE");
    cmd->add_option("--urlacl-store", opt->urlacl_store,
                    "URL reservation store for the urlacl commands (default: "
                    "$SNIBIND_URLACL_STORE)")
        ->envname("SNIBIND_URLACL_STORE");
    cmd->add_option(
        "--profile", opt->profile,
        "Windows version to imitate: " + std::string(profile_names()) + " (default windows-2022)");
    cmd->footer(help_footer());
    cmd->callback([opt, &exit_code] {
        auto profile = parse_profile(opt->profile);
        if (!profile) {
            std::cerr << "snibind netsh: unknown profile '" << opt->profile
                      << "' (one of: " << profile_names() << ")\n";
            exit_code = 2;
            return;
        }
        if (is_urlacl(opt->words)) {
            exit_code = run_urlacl(opt->words, opt->urlacl_store);
            return;
        }
        if (opt->store.empty()) {
            std::cerr << "snibind netsh: no store: give --store FILE or set SNIBIND_STORE\n";
            exit_code = 2;
            return;
        }
        if (opt->words.empty()) {
            std::cerr << "snibind netsh: no command (for example: snibind netsh --store FILE "
                         "http show sslcert; see --help)\n";
            exit_code = 2;
            return;
        }
        exit_code = edit_file(
            "snibind netsh", opt->store, "store", access(opt->words),
            [&](netsh::ImportError& error) {
                return netsh::Store::load(opt->store, missing_file(opt->words), error);
            },
            [&](netsh::Store& s, bool& modified) {
                return netsh::run_netsh(opt->words, s, *profile, modified);
            });
    });
}

}  // namespace snibind::cli
