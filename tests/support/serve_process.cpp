#include "serve_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>

#include <openssl/pem.h>
#include <openssl/x509.h>

extern char** environ;

namespace snibind::test {

namespace {

struct Child {
    pid_t pid;
    int in_fd, out_fd, err_fd;
};

Child spawn(const std::vector<std::string>& argv) {
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
        throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (rc != 0) {
        close(in[1]);
        close(out[0]);
        close(err[0]);
        throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
    }
    return {pid, in[1], out[0], err[0]};
}

int exit_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// Reads both pipes until EOF on both, appending to the strings; `on_data` after each chunk.
// Returns false when it stopped because of the timeout.
template <typename OnData>
bool pump_pipes(int out_fd, int err_fd, std::string& out, std::string& err, OnData on_data,
                int timeout_ms = -1) {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int open_fds = 2;
    char buf[8192];
    while (open_fds > 0) {
        int n = poll(fds, 2, timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;  // timeout
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = read(fds[i].fd, buf, sizeof buf);
            if (r <= 0) {
                fds[i].fd = -1;
                --open_fds;
                continue;
            }
            on_data([&] { (i == 0 ? out : err).append(buf, static_cast<std::size_t>(r)); });
        }
    }
    return true;
}

}  // namespace

std::filesystem::path snibind_binary() {
    return SNIBIND_BINARY;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
    std::ofstream(path, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::uint16_t free_port() {
    // Below the kernel's ephemeral range (32768-60999 by default), so that a test backend or a
    // client binding port 0 can never be handed the port a server is about to listen on.
    static std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> pick(20000, 32000);
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(pick(random)));
        bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        close(fd);
        if (ok) return ntohs(addr.sin_port);
    }
}

RunResult run(const std::vector<std::string>& argv, std::string_view input,
              std::chrono::seconds limit) {
    Child c = spawn(argv);
    // Small inputs fit the pipe buffer; write then close so the child sees EOF.
    if (!input.empty()) {
        ssize_t ignored = write(c.in_fd, input.data(), input.size());
        (void)ignored;
    }
    close(c.in_fd);
    RunResult result;
    bool finished = pump_pipes(
        c.out_fd, c.err_fd, result.out, result.err, [](auto append) { append(); },
        static_cast<int>(std::chrono::milliseconds(limit).count()));
    close(c.out_fd);
    close(c.err_fd);
    int status = 0;
    if (!finished) {
        kill(c.pid, SIGKILL);  // over the safety limit
        waitpid(c.pid, &status, 0);
        result.status = -1;
        return result;
    }
    // Both pipes are closed: the child is exiting; wait for it.
    waitpid(c.pid, &status, 0);
    result.status = exit_status(status);
    return result;
}

RunResult curl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"curl", "-sS", "--noproxy", "*", "--max-time", "30"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
}

RunResult snibind_command(const std::string& args) {
    return run({"/bin/sh", "-c", "exec \"$0\" " + args, snibind_binary().string()});
}

ServeProcess::ServeProcess(const std::filesystem::path& config, std::vector<std::string> args)
    : ServeProcess(config, std::move(args), {}) {}

ServeProcess::ServeProcess(const std::filesystem::path& config, std::vector<std::string> args,
                           std::vector<std::string> wrapper) {
    std::vector<std::string> argv = std::move(wrapper);
    argv.insert(argv.end(), {snibind_binary().string(), "serve", config.string()});
    argv.insert(argv.end(), args.begin(), args.end());
    launch(argv);
}

void ServeProcess::launch(const std::vector<std::string>& argv) {
    Child c = spawn(argv);
    close(c.in_fd);
    pid_ = c.pid;
    out_fd_ = c.out_fd;
    err_fd_ = c.err_fd;
    pump_ = std::thread([this] { pump(); });
    try {
        wait_for_log("snibind: serving ");
    } catch (...) {
        stop();
        throw;
    }
}

ServeProcess::~ServeProcess() {
    stop();
}

void ServeProcess::pump() {
    pump_pipes(out_fd_, err_fd_, out_, err_, [this](auto append) {
        std::lock_guard lock(mutex_);
        append();
        changed_.notify_all();
    });
    std::lock_guard lock(mutex_);
    exited_ = true;
    changed_.notify_all();
}

std::string ServeProcess::wait_for_log(std::string_view needle) {
    std::unique_lock lock(mutex_);
    std::size_t at = std::string::npos;
    // Bounded only as a safety net: a server that hangs fails the test instead of the suite.
    bool found = changed_.wait_for(lock, std::chrono::seconds(60), [&] {
        at = err_.find(needle);
        return at != std::string::npos || exited_;
    });
    if (!found || at == std::string::npos)
        throw std::runtime_error("snibind serve never logged '" + std::string(needle) +
                                 "'; its stderr:\n" + err_);
    auto end = err_.find('\n', at);
    auto begin = err_.rfind('\n', at);
    begin = begin == std::string::npos ? 0 : begin + 1;
    return err_.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

void ServeProcess::signal(int sig) {
    if (status_ >= 0) return;
    // A second SIGTERM means "stop now" to the server: stop() must not send one after this.
    if (sig == SIGTERM || sig == SIGINT) terminating_ = true;
    kill(pid_, sig);
}

int ServeProcess::stop() {
    if (pid_ < 0) return status_;
    if (status_ < 0) {
        if (!terminating_) kill(pid_, SIGTERM);
        int status = 0;
        waitpid(pid_, &status, 0);
        status_ = exit_status(status);
        if (pump_.joinable()) pump_.join();
        close(out_fd_);
        close(err_fd_);
    }
    return status_;
}

std::string ServeProcess::log() const {
    std::lock_guard lock(mutex_);
    return err_;
}

std::string ServeProcess::access_log() const {
    std::lock_guard lock(mutex_);
    return out_;
}

bool has_sanitizer_report(std::string_view stderr_text) {
    return stderr_text.find("ERROR: AddressSanitizer") != std::string_view::npos ||
           stderr_text.find("ERROR: LeakSanitizer") != std::string_view::npos ||
           stderr_text.find("runtime error:") != std::string_view::npos ||
           stderr_text.find("WARNING: ThreadSanitizer") != std::string_view::npos;
}

std::vector<std::vector<std::pair<std::string, std::string>>> parse_access_log(
    std::string_view text) {
    std::vector<std::vector<std::pair<std::string, std::string>>> lines;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        std::vector<std::pair<std::string, std::string>> fields;
        std::size_t i = line.find(' ');  // the timestamp comes first, without a key
        while (i != std::string_view::npos && i < line.size()) {
            ++i;
            auto eq = line.find('=', i);
            if (eq == std::string_view::npos) break;
            std::string key(line.substr(i, eq - i));
            std::string value;
            i = eq + 1;
            if (i < line.size() && line[i] == '"') {
                for (++i; i < line.size() && line[i] != '"'; ++i) {
                    if (line[i] == '\\' && i + 1 < line.size()) ++i;
                    value += line[i];
                }
                ++i;
            } else {
                auto sp = line.find(' ', i);
                value =
                    line.substr(i, sp == std::string_view::npos ? std::string_view::npos : sp - i);
                i = sp == std::string_view::npos ? line.size() : sp;
            }
            fields.emplace_back(std::move(key), std::move(value));
            if (i < line.size() && line[i] != ' ') i = line.find(' ', i);
        }
        if (!fields.empty()) lines.push_back(std::move(fields));
    }
    return lines;
}

std::string field(const std::vector<std::pair<std::string, std::string>>& line,
                  std::string_view key) {
    for (const auto& [k, v] : line)
        if (k == key) return v;
    return {};
}

HandshakeResult s_client(const std::string& connect, std::optional<std::string> sni,
                         std::vector<std::string> extra, std::string_view request) {
    std::vector<std::string> argv{"openssl", "s_client", "-connect", connect};
    // With a request, wait for the server to close (send "Connection: close"); without one,
    // s_client closes after the handshake when it reads EOF on stdin.
    if (!request.empty()) argv.push_back("-ign_eof");
    if (sni && !sni->empty()) {
        argv.insert(argv.end(), {"-servername", *sni});
    } else {
        argv.push_back("-noservername");
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    RunResult r = run(argv, request);
    HandshakeResult h;
    h.output = r.out + r.err;
    auto begin = r.out.find("-----BEGIN CERTIFICATE-----");
    if (begin == std::string::npos) return h;
    auto end = r.out.find("-----END CERTIFICATE-----", begin);
    std::string pem = r.out.substr(begin, end + 25 - begin);
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!cert) return h;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert, EVP_sha1(), md, &len);
    static const char* kHex = "0123456789abcdef";
    for (unsigned i = 0; i < len; ++i) {
        h.thumbprint += kHex[md[i] >> 4];
        h.thumbprint += kHex[md[i] & 15];
    }
    char name[512];
    X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
    h.subject = name;
    X509_free(cert);
    h.connected = r.out.find("Cipher is (NONE)") == std::string::npos &&
                  r.out.find("New, ") != std::string::npos;
    return h;
}

TcpClient::TcpClient(const std::string& host, std::uint16_t port) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (host.find(':') != std::string::npos) {
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr);
        len = sizeof *a6;
    } else {
        auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        inet_pton(AF_INET, host.c_str(), &a4->sin_addr);
        len = sizeof *a4;
    }
    fd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{30, 0};  // a safety net against a hung test, never a synchronisation
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        const int err = errno;
        close(fd_);  // the destructor does not run when the constructor throws
        throw std::runtime_error("connect to " + host + ":" + std::to_string(port) + ": " +
                                 std::strerror(err));
    }
}

TcpClient::~TcpClient() {
    if (fd_ >= 0) close(fd_);
}

bool TcpClient::send(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

void TcpClient::shutdown_write() {
    ::shutdown(fd_, SHUT_WR);
}

std::string TcpClient::read_all(bool* reset) {
    std::string out;
    char buf[8192];
    if (reset) *reset = false;
    for (;;) {
        ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == ECONNRESET && reset) *reset = true;
        return out;
    }
}

void TcpClient::reset() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd_);
    fd_ = -1;
}

}  // namespace snibind::test
