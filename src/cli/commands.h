#pragma once
// One file per subcommand; each registers itself on the top-level CLI11 app. The callback runs the
// command and stores its process exit status in `exit_code`.
#include <CLI/CLI.hpp>

namespace snibind::cli {

void add_hello_command(CLI::App& app, int& exit_code);
void add_explain_command(CLI::App& app, int& exit_code);
void add_netsh_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_load_command(CLI::App& app, int& exit_code);
void add_iis_command(CLI::App& app, int& exit_code);
void add_appcmd_command(CLI::App& app, int& exit_code);
void add_check_command(CLI::App& app, int& exit_code);

}  // namespace snibind::cli
