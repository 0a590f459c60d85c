#include "load/load_workers.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "load/load_runner.h"
#include "load/server_cpu.h"
#include "load/worker_plan.h"
#include "load/worker_protocol.h"

extern char** environ;

namespace snibind::load {

namespace {

using Clock = std::chrono::steady_clock;

bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// Lines from a blocking descriptor (a worker's standard input).
class LineReader {
  public:
    explicit LineReader(int fd) : fd_(fd) {}
    // The next line without its '\n'; nullopt at the end of input.
    std::optional<std::string> next() {
        for (;;) {
            if (auto eol = buffer_.find('\n'); eol != std::string::npos) {
                std::string line = buffer_.substr(0, eol);
                buffer_.erase(0, eol + 1);
                return line;
            }
            char chunk[4096];
            const ssize_t n = ::read(fd_, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return std::nullopt;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

  private:
    int fd_;
    std::string buffer_;
};

std::chrono::nanoseconds rusage_cpu(int who) {
    rusage u{};
    if (getrusage(who, &u) != 0) return std::chrono::nanoseconds(0);
    const auto time = [](timeval t) {
        return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
    };
    return time(u.ru_utime) + time(u.ru_stime);
}

// How a worker ended, as the report says it.
std::string exit_description(int status, bool reported) {
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char* name = sigabbrev_np(sig);
        return fmt::format("died: signal {}{}", sig,
                           name ? fmt::format(" (SIG{})", name) : std::string());
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0) return reported ? "ok" : "exit status 0 without a report";
    return fmt::format("exit status {}{}", code, reported ? " after its report" : "");
}

struct Child {
    unsigned index = 0;
    LoadOptions share;
    pid_t pid = -1;
    int to = -1, from = -1;  // its standard input and output
    std::string buffer;      // what it wrote that is not a whole line yet
    bool ready = false, eof = false;
    std::optional<LoadReport> report;
    Progress last;        // its last progress message
    std::string problem;  // the first malformed message
    int wait_status = 0;
};

// Starts `argv` from /proc/self/exe (this binary, whatever its path) with pipes for its standard
// input and output; standard error is shared, so a worker's error reaches the user as it is.
bool spawn(Child& c, const std::vector<std::string>& argv, std::string& error) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        error = fmt::format("cannot start worker {}: pipe: {}", c.index, strerror(errno));
        return false;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        error = fmt::format("cannot start worker {}: pipe: {}", c.index, strerror(errno));
        ::close(in[0]);
        ::close(in[1]);
        return false;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);  // the parent blocks SIGINT and SIGTERM
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawn(&c.pid, "/proc/self/exe", &actions, &attr, args.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(out[0]);
        error = fmt::format("cannot start worker {}: {}", c.index, strerror(rc));
        return false;
    }
    c.to = in[1];
    c.from = out[0];
    fcntl(c.from, F_SETFL, fcntl(c.from, F_GETFL) | O_NONBLOCK);
    return true;
}

// The parent's side of a run: one thread, poll() over the workers' output and a signalfd.
class Parent {
  public:
    explicit Parent(const LoadOptions& options) : options_(options) {}

    std::optional<LoadReport> run(
        const std::function<std::vector<std::string>(unsigned, unsigned)>& command,
        std::string& error) {
        const unsigned n = std::max(1u, options_.workers);
        children_.resize(n);
        for (unsigned i = 0; i < n; ++i) {
            children_[i].index = i;
            children_[i].share = worker_options(options_, i, n);
            if (!spawn(children_[i], command(i, n), error)) {
                children_.resize(i);
                abandon();
                return std::nullopt;
            }
        }
        if (!loop(error)) return std::nullopt;
        return report();
    }

    // SIGINT and SIGTERM arrive here instead of ending the process (blocked, read from fd).
    void set_signal_fd(int fd) { signal_fd_ = fd; }

  private:
    bool loop(std::string& error) {
        auto next_tick = Clock::time_point::max();
        for (;;) {
            if (std::all_of(children_.begin(), children_.end(),
                            [](const Child& c) { return c.eof; }))
                break;
            std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
            std::vector<Child*> polled;  // polled[i] is fds[i + 1]
            for (Child& c : children_)
                if (!c.eof) {
                    fds.push_back({c.from, POLLIN, 0});
                    polled.push_back(&c);
                }
            int timeout = -1;
            if (running_) {
                auto wake = next_tick;
                if (!before_read_) wake = std::min(wake, measure_start_);
                if (measure_end_ && !after_read_) wake = std::min(wake, *measure_end_);
                const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now());
                timeout = static_cast<int>(std::clamp<std::int64_t>(wait.count(), 0, 1000));
            }
            if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
                error = std::string("poll: ") + strerror(errno);
                abandon();
                return false;
            }
            const auto now = Clock::now();
            if (fds[0].revents != 0) on_signals(now);
            for (std::size_t i = 0; i < polled.size(); ++i)
                if (fds[i + 1].revents != 0) on_readable(*polled[i]);
            if (!running_) {
                if (auto failed = std::find_if(children_.begin(), children_.end(),
                                               [](const Child& c) { return c.eof; });
                    failed != children_.end()) {
                    error = stopped_
                                ? std::string("stopped before the start")
                                : fmt::format("worker {} ended before the start: {}", failed->index,
                                              exit_description(failed->wait_status, false));
                    abandon();
                    return false;
                }
                if (std::all_of(children_.begin(), children_.end(),
                                [](const Child& c) { return c.ready; }))
                    start(now, next_tick);
            }
            if (running_) {
                at_edges(now);
                if (now >= next_tick) {
                    if (options_.progress) progress_line(now);
                    next_tick += std::chrono::seconds(1);
                }
            }
        }
        if (options_.progress && running_) std::fputs("\n", stderr);
        if (!before_read_) read_start();
        if (!after_read_) read_end();
        return true;
    }

    // Every worker is set up: all start now, on the same clock.
    void start(Clock::time_point now, Clock::time_point& next_tick) {
        running_ = true;
        start_ = now;
        measure_start_ = start_ + options_.warmup;
        if (options_.duration) measure_end_ = measure_start_ + *options_.duration;
        next_tick = start_ + std::chrono::seconds(1);
        send_all(go_command(start_));
        at_edges(now);
    }

    // The server and our own CPU at the edges of the measured interval. At the end of a --hold
    // run the server is read while the connections are still held, then the workers close them.
    void at_edges(Clock::time_point now) {
        if (!before_read_ && now >= measure_start_) read_start();
        if (measure_end_ && !after_read_ && now >= *measure_end_) {
            read_end();
            if (options_.hold) send_all(kStopCommand);
        }
    }

    void read_start() {
        if (options_.server_pid) server_before_ = sample_server(*options_.server_pid);
        self_before_ = process_cpu_time(getpid());
        before_read_ = true;
    }

    void read_end() {
        if (options_.server_pid) server_after_ = sample_server(*options_.server_pid);
        self_after_ = process_cpu_time(getpid());
        after_read_ = true;
    }

    // The first Ctrl-C or SIGTERM ends the run and reports what was measured; another one
    // kills the workers that have not reported (and the report says so).
    void on_signals(Clock::time_point now) {
        signalfd_siginfo info;
        while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            if (!stopped_) {
                stopped_ = true;
                if (running_) {
                    at_edges(now);
                    if (!before_read_) read_start();
                    if (!after_read_) read_end();
                }
                send_all(kStopCommand);
            } else {
                for (const Child& c : children_)
                    if (!c.eof) ::kill(c.pid, SIGKILL);
            }
        }
    }

    void on_readable(Child& c) {
        char chunk[16384];
        for (;;) {
            const ssize_t n = ::read(c.from, chunk, sizeof chunk);
            if (n > 0) {
                c.buffer.append(chunk, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            on_eof(c);  // 0, or an error: either way nothing more will come
            break;
        }
        std::size_t begin = 0;
        for (std::size_t eol; (eol = c.buffer.find('\n', begin)) != std::string::npos;
             begin = eol + 1)
            on_line(c, std::string_view(c.buffer).substr(begin, eol - begin));
        c.buffer.erase(0, begin);
    }

    void on_line(Child& c, std::string_view line) {
        if (!c.problem.empty()) return;
        std::string error;
        auto m = parse_worker_message(line, options_.names, error);
        if (!m) {
            c.problem = error;
            return;
        }
        switch (m->kind) {
            case WorkerMessage::Kind::ready:
                c.ready = true;
                break;
            case WorkerMessage::Kind::progress:
                c.last = m->progress;
                break;
            case WorkerMessage::Kind::report:
                c.report = std::move(m->report);
                close_fd(c.to);  // its input ends: it exits
                break;
        }
    }

    void on_eof(Child& c) {
        close_fd(c.from);
        close_fd(c.to);
        while (::waitpid(c.pid, &c.wait_status, 0) < 0 && errno == EINTR) {
        }
        c.eof = true;
    }

    void send_all(std::string_view command) {
        for (Child& c : children_)
            if (c.to >= 0 && !write_all(c.to, command)) close_fd(c.to);
    }

    // Ends the workers started so far without a run: their input ends before "go".
    void abandon() {
        for (Child& c : children_) {
            close_fd(c.to);
            close_fd(c.from);
            if (!c.eof && c.pid > 0)
                while (::waitpid(c.pid, &c.wait_status, 0) < 0 && errno == EINTR) {
                }
            c.eof = true;
        }
    }

    void progress_line(Clock::time_point now) {
        Progress total;
        for (const Child& c : children_) {
            total.connections += c.last.connections;
            total.errors += c.last.errors;
            total.held += c.last.held;
        }
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        std::fprintf(stderr, "\r%s %6.1f s  %10llu connections  %8.0f/s  %llu errors   ",
                     now < measure_start_ ? "warmup" : "load  ", elapsed,
                     static_cast<unsigned long long>(total.connections),
                     static_cast<double>(total.connections - last_connections_),
                     static_cast<unsigned long long>(total.errors));
        if (options_.hold)
            std::fprintf(stderr, "%llu held   ", static_cast<unsigned long long>(total.held));
        last_connections_ = total.connections;
    }

    LoadReport report() const {
        LoadReport total;
        total.mode = options_.mode;
        total.target = options_.target.to_string();
        total.workers = static_cast<unsigned>(children_.size());
        total.threads = static_cast<unsigned>(std::clamp<std::uint64_t>(
            options_.threads, 1, std::max<std::size_t>(1, children_.front().share.concurrency)));
        total.concurrency = options_.concurrency;
        total.expect = !options_.expect_store.empty();
        total.hold = options_.hold;
        total.latency_from_intended_start = options_.rate > 0;
        for (const Child& c : children_) {
            WorkerResult w;
            w.index = c.index;
            w.pid = c.pid;
            w.concurrency = c.share.concurrency;
            w.connections_share = c.share.connections;
            const bool usable = c.report && c.problem.empty();
            w.status = c.problem.empty() ? exit_description(c.wait_status, c.report.has_value())
                                         : "sent a malformed message: " + c.problem;
            if (usable) {
                const LoadReport& r = *c.report;
                merge_report(total, r);
                w.counted = true;
                w.connections = r.connections;
                w.completed = r.completed;
                w.errors = r.errors;
                w.handshakes = r.handshakes;
                w.requests = r.requests;
                w.held = r.held;
                w.seconds = r.seconds;
                w.cpu = r.load_cpu;
                w.connect_latency = r.connect_latency;
            } else {
                w.connections = c.last.connections;
                w.errors = c.last.errors;
                w.held = c.last.held;
            }
            total.per_worker.push_back(std::move(w));
        }
        total.stopped_early = total.stopped_early || stopped_;
        if (self_before_ && self_after_) total.load_cpu += *self_after_ - *self_before_;
        total.load_cpu_whole_run = rusage_cpu(RUSAGE_SELF) + rusage_cpu(RUSAGE_CHILDREN);
        if (server_before_ && server_after_)
            total.server = ServerUsage{
                *options_.server_pid, server_after_->cpu - server_before_->cpu,
                server_before_->rss_bytes, server_after_->rss_bytes, server_after_->processes};
        return total;
    }

    const LoadOptions& options_;
    std::vector<Child> children_;
    int signal_fd_ = -1;
    bool running_ = false, stopped_ = false;
    Clock::time_point start_, measure_start_;
    std::optional<Clock::time_point> measure_end_;
    bool before_read_ = false, after_read_ = false;
    std::optional<ServerSample> server_before_, server_after_;
    std::optional<std::chrono::nanoseconds> self_before_, self_after_;
    std::uint64_t last_connections_ = 0;
};

}  // namespace

std::optional<LoadReport> run_workers(
    const LoadOptions& options,
    const std::function<std::vector<std::string>(unsigned index, unsigned count)>& worker_command,
    std::string& error) {
    // A worker that has gone must not kill us when we write to it.
    std::signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals, previous;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
    const int signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd < 0) {
        error = std::string("signalfd: ") + strerror(errno);
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        return std::nullopt;
    }
    Parent parent(options);
    parent.set_signal_fd(signal_fd);
    auto report = parent.run(worker_command, error);
    ::close(signal_fd);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return report;
}

int run_worker_process(const LoadOptions& options, const ExpectationTable* expect) {
    // Ctrl-C reaches the whole process group: the parent decides what it means for us (it
    // sends "stop"), so a worker never dies of it with its counts.
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGPIPE, SIG_IGN);
    const std::string who = fmt::format("snibind load: worker {}: ", options.worker_index);
    std::string error;
    auto run = LoadRun::create(options, expect, error);
    if (!run) {
        std::cerr << who << error << "\n";
        return 1;
    }
    if (!write_all(STDOUT_FILENO, ready_message())) return 1;
    LineReader in(STDIN_FILENO);
    auto line = in.next();
    const auto start = line ? parse_go_command(*line) : std::nullopt;
    if (!start) return 0;  // stopped before the start
    std::thread control([&] {
        while (auto command = in.next())
            if (*command == kStopCommand.substr(0, kStopCommand.size() - 1)) run->stop();
        run->stop();  // the parent has what it needs, or is gone
    });
    auto report = run->run(
        *start, [](const Progress& p) { write_all(STDOUT_FILENO, progress_message(p)); }, error);
    int status = 0;
    if (report) {
        write_all(STDOUT_FILENO, report_message(*report, options.names));
    } else {
        std::cerr << who << error << "\n";
        status = 1;
    }
    ::close(STDOUT_FILENO);  // the parent sees the end and closes our input, which ends `control`
    control.join();
    return status;
}

}  // namespace snibind::load
