// snibind hello FILE: what the ClientHello reader finds in a raw capture of what a client sent.
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include "cli/commands.h"
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
        std::ifstream in(opt->file, std::ios::binary);
        if (!in) {
            std::cerr << "snibind hello: cannot open " << opt->file << "\n";
            exit_code = 2;
            return;
        }
        std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
        ReaderOptions options;
        options.max_hello_bytes = opt->max_hello_bytes;
        options.trailing_dot = *parse_trailing_dot(opt->trailing_dot);
        ClientHelloReader reader(options);
        // A file is everything the client ever sent: what is not a whole hello is incomplete.
        if (reader.read(bytes) == HelloResult::need_more) reader.finish();
        if (opt->json) {
            std::cout << report::hello_json(reader, bytes.size()).dump(2) << "\n";
        } else {
            std::cout << report::hello_text(reader, bytes.size());
        }
        exit_code = reader.result() == HelloResult::client_hello ? 0 : 1;
    });
}

}  // namespace snibind::cli
