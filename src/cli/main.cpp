// snibind: reads a TLS ClientHello and picks the certificate the way Windows HTTP.sys would.
#include <cstdio>

#include "cli/commands.h"
#include "tlsstack/tls_stack.h"

#ifndef SNIBIND_VERSION
#define SNIBIND_VERSION "dev"
#endif

int main(int argc, char** argv) {
    CLI::App app{
        "snibind " SNIBIND_VERSION
        ": reproduce Windows HTTP.sys / IIS certificate selection from a TLS ClientHello.\n"
        "Records are kept as the text of 'netsh http show sslcert', so a dump from a real server\n"
        "is a valid store."};
    // With the TLS stack the build chose (README "Choosing the TLS stack").
    app.set_version_flag(
        "--version", "snibind " SNIBIND_VERSION " (" + snibind::tlsstack::library_version() + ")");
    app.require_subcommand(1);
    app.fallthrough(false);

    int exit_code = 0;
    snibind::cli::add_hello_command(app, exit_code);
    snibind::cli::add_explain_command(app, exit_code);
    snibind::cli::add_netsh_command(app, exit_code);
    snibind::cli::add_serve_command(app, exit_code);
    snibind::cli::add_load_command(app, exit_code);
    snibind::cli::add_iis_command(app, exit_code);
    snibind::cli::add_appcmd_command(app, exit_code);
    snibind::cli::add_check_command(app, exit_code);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);  // prints the message to stderr
        return 2;
    }
    return exit_code;
}
