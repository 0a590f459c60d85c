// snibind appcmd list|set|add|delete site: appcmd.exe on an applicationHost.config
// (src/bindings/README.md I3, I4). It edits the XML only, never the HTTP.sys store.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/edit_file.h"
#include "iis/appcmd.h"
#include "iis/application_host.h"
#include "text/ascii.h"

namespace snibind::cli {

namespace {

constexpr const char* kFooter =
    "\nCommands (as appcmd.exe; values may be quoted; the site may be named by identifier or\n"
    "/site.name:):\n"
    "  list site [NAME] [/name:NAME] [/id:N]\n"
    "  set site NAME /+bindings.[protocol='https',bindingInformation='*:443:host',sslFlags='1']\n"
    "  set site NAME /-bindings.[protocol='https',bindingInformation='*:443:host']\n"
    "  add site /name:NAME [/id:N] [/bindings:http/*:80:,https/*:443:host] [/physicalPath:DIR]\n"
    "  delete site NAME\n"
    "\n"
    "Output is appcmd's ('SITE object \"X\" changed', 'ERROR ( message:... )'). Exit status 0\n"
    "success, 1 an appcmd ERROR (appcmd.exe itself exits with the Windows error code), 2 bad\n"
    "usage or an unreadable config. Only the site object exists here.\n";

}  // namespace

void add_appcmd_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "appcmd",
        "Run 'appcmd list|set|add|delete site' on an applicationHost.config, with appcmd.exe's\n"
        "syntax and messages. Example (I4, the host name IIS 7's dialog greys out):\n"
        "  snibind appcmd --config applicationHost.config set site /site.name:Contoso \\\n"
        "      \"/+bindings.[protocol='https',bindingInformation='*:443:www.contoso.com']\"");
    struct Options {
        std::vector<std::string> words;
        std::string config;
    };
    auto opt = std::make_shared<Options>();
    cmd->add_option("WORDS", opt->words, "the appcmd command: VERB site [NAME] /param:value ...");
    cmd->add_option("--config", opt->config,
                    "applicationHost.config (default: $SNIBIND_APPLICATION_HOST)")
        ->envname("SNIBIND_APPLICATION_HOST");
    cmd->footer(kFooter);
    cmd->callback([opt, &exit_code] {
        if (opt->config.empty()) {
            std::cerr << "snibind appcmd: give --config FILE or set SNIBIND_APPLICATION_HOST\n";
            exit_code = 2;
            return;
        }
        // 'list' only reads; every other verb may change the file and runs under its lock.
        const bool list = !opt->words.empty() && to_lower(opt->words[0]) == "list";
        exit_code = edit_file(
            "snibind appcmd", opt->config, "config", list ? Access::read : Access::edit,
            [&](netsh::ImportError& error) {
                return iis::ApplicationHost::load(opt->config, error);
            },
            [&](iis::ApplicationHost& c, bool& modified) {
                return iis::run_appcmd(opt->words, c, modified);
            });
    });
}

}  // namespace snibind::cli
