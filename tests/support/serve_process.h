#pragma once
// Integration-test plumbing: `snibind serve` as a real child process, real clients (openssl
// s_client, curl) run as processes, and raw loopback sockets. Nothing here sleeps to
// synchronise: readiness is the server's own "serving" line, and logs are read after it exits.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace snibind::test {

// The snibind binary under test (SNIBIND_BINARY from CMake).
std::filesystem::path snibind_binary();

// A port on 127.0.0.1 that was free a moment ago, outside the ephemeral range.
std::uint16_t free_port();

struct RunResult {
    int status = -1;  // exit status, or 128 + signal
    std::string out, err;
};
// A whole file as bytes (throws std::runtime_error when it cannot be read), and the reverse.
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, std::string_view bytes);

// Runs argv[0] (looked up in PATH) with `input` on stdin; waits for it (silent for `limit`: it
// is killed and status is -1 — a safety net, never a synchronisation).
RunResult run(const std::vector<std::string>& argv, std::string_view input = {},
              std::chrono::seconds limit = std::chrono::seconds(30));

// Runs `curl -sS --noproxy '*' --max-time 30 ARGS...`: never through a proxy from the
// environment, never for ever.
RunResult curl(const std::vector<std::string>& args);

// Runs `snibind ARGS`, ARGS being a shell command line (quotes work as in a shell), as the CLI
// tests write their commands.
RunResult snibind_command(const std::string& args);

class ServeProcess {
  public:
    // Starts `snibind serve CONFIG ARGS...` and returns once it printed its "serving" line.
    // Throws std::runtime_error with its stderr when it exits first (a refused config, ...).
    explicit ServeProcess(const std::filesystem::path& config, std::vector<std::string> args = {});
    // The same, started through `wrapper`, a command that execs the rest of its command line in
    // the same process ({"prlimit", "--nofile=64"}), so pid() is still the server's.
    ServeProcess(const std::filesystem::path& config, std::vector<std::string> args,
                 std::vector<std::string> wrapper);
    ~ServeProcess();  // stop() if still running
    ServeProcess(const ServeProcess&) = delete;
    ServeProcess& operator=(const ServeProcess&) = delete;

    pid_t pid() const { return pid_; }
    void signal(int sig);
    // Reads stderr until a line containing `needle` appears (the server's log), and returns it.
    // Throws if the process exits first.
    std::string wait_for_log(std::string_view needle);
    // SIGTERM, then waits for the exit; returns the exit status. Idempotent.
    int stop();
    // Everything the server wrote to stderr so far (complete after stop()).
    std::string log() const;
    // Everything it wrote to stdout (the access log with `access_log: stdout`); after stop().
    std::string access_log() const;

  private:
    // Runs `argv` and waits for its "serving" line (both constructors).
    void launch(const std::vector<std::string>& argv);
    // Both pipes are drained all the time by one thread, so a chatty server never blocks.
    void pump();

    pid_t pid_ = -1;
    int out_fd_ = -1, err_fd_ = -1;
    int status_ = -1;
    bool exited_ = false;       // the pipes reached EOF
    bool terminating_ = false;  // the test sent SIGTERM/SIGINT itself
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::string out_, err_;
    std::thread pump_;
};

// Whether a process's stderr holds a report from AddressSanitizer, LeakSanitizer or UBSan (the
// suite runs the binary under both in CI; a server-side report must fail the test that provoked
// it).
bool has_sanitizer_report(std::string_view stderr_text);

// The access-log lines (logfmt) as key -> value maps, for assertions on fields.
std::vector<std::vector<std::pair<std::string, std::string>>> parse_access_log(
    std::string_view text);
std::string field(const std::vector<std::pair<std::string, std::string>>& line,
                  std::string_view key);

struct HandshakeResult {
    bool connected = false;  // a TLS handshake completed
    std::string thumbprint;  // SHA-1 of the served leaf certificate, lower-case hex
    std::string subject;     // its subject, one line
    std::string output;      // s_client's stdout and stderr, for failure messages
};
// `openssl s_client -connect ADDR -servername NAME` (or -noservername when `sni` is empty)
// with `extra` arguments; sends `request` and reads until the server closes.
HandshakeResult s_client(const std::string& connect, std::optional<std::string> sni,
                         std::vector<std::string> extra = {}, std::string_view request = {});

// A connected blocking TCP socket to 127.0.0.1-style `host`:`port` with a receive timeout (a
// safety net for a test that would otherwise hang). Closes on destruction.
class TcpClient {
  public:
    TcpClient(const std::string& host, std::uint16_t port);
    ~TcpClient();
    TcpClient(const TcpClient&) = delete;
    TcpClient& operator=(const TcpClient&) = delete;
    bool send(std::string_view bytes);  // all of it; false on error
    void shutdown_write();
    // Reads until EOF (or error); `reset` tells whether it ended with ECONNRESET.
    std::string read_all(bool* reset = nullptr);
    void reset();  // close with SO_LINGER 0: the peer sees a TCP RST
    int fd() const { return fd_; }

  private:
    int fd_ = -1;
};

}  // namespace snibind::test
