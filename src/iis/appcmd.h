#pragma once
// `appcmd list|set|add|delete site` on an applicationHost.config, with appcmd's syntax and
// messages (src/bindings/README.md I3, I4). appcmd edits the configuration only: HTTP.sys records
// are left alone, which is how a site can end up with a binding and no certificate, or the "host
// name greyed out" fix of I4 works.
//
// Supported, as appcmd.exe (verbs, objects and parameter names case-insensitive; values may be
// wrapped in double quotes, which are removed):
//   list site[s] ["NAME"] [/name:NAME] [/id:N]
//       SITE "Default Web Site" (id:1,bindings:http/*:80:,state:Started)
//   set site ["NAME"|/site.name:NAME] /+bindings.[protocol='https',bindingInformation='*:443:h',
//       sslFlags='1'] /-bindings.[protocol='https',bindingInformation='*:443:h'] ...
//       SITE object "NAME" changed
//   add site /name:NAME [/id:N] [/bindings:http/*:80:,https/*:443:h] [/physicalPath:PATH]
//       SITE object "NAME" added / APP object "NAME/" added / VDIR object "NAME/" added
//   delete site "NAME" | /site.name:NAME
//       SITE object "NAME" deleted
// Not supported: other objects (app, vdir, apppool, config), /text, /xml, /config, /in, other
// site attributes (set site /name:NEW, /bindings.[...].sslFlags:...).
#include <span>
#include <string>

#include "iis/application_host.h"

namespace snibind::iis {

struct AppcmdResult {
    int exit_code = 0;  // 0 on success, 1 when appcmd prints an ERROR (appcmd.exe: 1168, 183, ...)
    std::string out;    // what appcmd prints, its ERROR lines included
    std::string err;    // snibind's explanation, or empty
};

// Runs one appcmd command, e.g. {"set", "site", "/site.name:Contoso",
// "/+bindings.[protocol='https',bindingInformation='*:443:www.contoso.com',sslFlags='1']"}.
// Sets `modified` when every change succeeded (then, and only then, the caller saves `config`;
// after a failure `config` may hold part of the changes and must be dropped).
AppcmdResult run_appcmd(std::span<const std::string> words, ApplicationHost& config,
                        bool& modified);

// One line of `appcmd list site`, without the line break.
std::string format_site_line(const IisSite& site);

}  // namespace snibind::iis
