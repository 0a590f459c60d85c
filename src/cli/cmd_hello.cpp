// snibind hello FILE: what the ClientHello reader finds in a raw capture of what a client sent.
#include <sys/stat.h>

#include <algorithm>
#include <iostream>
#include <span>
#include <string>

#include "cli/commands.h"
#include "netsh/store_file.h"
#include "report/json_output.h"

namespace snibind::cli {

void add_hello_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "hello",
        "Read a raw capture of the bytes a client sent (a ClientHello, possibly split over\n"
        "records, possibly followed by more bytes) and report what the reader found.\n"
        "Exit status: 0 a ClientHello was read, 1 the input is not one (result says why),\n"
        "2 bad usage or unreadable file.");
    struct Options {
        std::string file;
        bool json = false;
        std::size_t max_hello_bytes = 16 * 1024;
        std::string trailing_dot = "strip";
    };
    auto opt = std::make_shared<Options>();
    cmd->add_option("FILE", opt->file, "raw capture (the client's bytes, from the first byte)")
        ->required();
    cmd->add_flag("--json", opt->json,
                  "JSON: result, error, sni, host, sni_problem, alpn, versions, ech, records, "
                  "bytes, trailing_bytes");
    cmd->add_option("--max-hello-bytes", opt->max_hello_bytes, "cap on the hello (default 16384)")
        ->check(CLI::Range(std::size_t{64}, kMaxHelloBytesLimit));
    cmd->add_option("--trailing-dot", opt->trailing_dot, "strip (default) or reject (rule L6)")
        ->check(CLI::IsMember({"strip", "reject"}));
    cmd->callback([opt, &exit_code] {
        ReaderOptions options;
        options.max_hello_bytes = opt->max_hello_bytes;
        options.trailing_dot = *parse_trailing_dot(opt->trailing_dot);
        // The most a hello within the cap can take, its record headers included: the reader has
        // decided by then. One byte more tells whether anything follows.
        const std::size_t cap = options.max_hello_bytes + 5 * options.max_records;
        netsh::FileError file_error;
        auto text = netsh::read_file(opt->file, file_error, cap + 1);
        if (!text) {
            std::cerr << "snibind hello: cannot " << file_error.what << " " << opt->file << ": "
                      << netsh::errno_text(file_error.err) << "\n";
            exit_code = 2;
            return;
        }
        std::size_t input_bytes = text->size();
        if (text->size() > cap) {
            // What follows a hello is only counted: a regular file says how long it is; a pipe or
            // a device (/dev/zero) could go on for ever.
            struct stat status {};
            if (::stat(opt->file.c_str(), &status) == 0 && S_ISREG(status.st_mode)) {
                input_bytes = std::max(input_bytes, static_cast<std::size_t>(status.st_size));
            } else {
                std::cerr << "snibind hello: " << opt->file << ": input too large: more than "
                          << cap
                          << " bytes (the hello cap and its record headers) from a file that is "
                             "not a regular file\n";
                exit_code = 2;
                return;
            }
        }
        std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text->data()),
                                            text->size());
        ClientHelloReader reader(options);
        // A file is everything the client ever sent: what is not a whole hello is incomplete.
        if (reader.read(bytes) == HelloResult::need_more) reader.finish();
        if (opt->json) {
            std::cout << report::json_text(report::hello_json(reader, input_bytes)) << "\n";
        } else {
            std::cout << report::hello_text(reader, input_bytes);
        }
        exit_code = reader.result() == HelloResult::client_hello ? 0 : 1;
    });
}

}  // namespace snibind::cli
