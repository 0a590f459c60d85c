#include "admin/admin_server.h"

#include <array>
#include <chrono>

#include <fmt/format.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "http/http_message.h"
#include "net/accept_backoff.h"
#include "net/asio_endpoint.h"
#include "text/ascii.h"

namespace snibind::admin {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// One admin connection: requests in, responses out, keep-alive. Each request must arrive whole,
// and its response be taken, within limits.admin_timeout of the previous one (or of the
// accept): a slow or idle connection is closed, so none holds a descriptor for long.
class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
  public:
    AdminConnection(asio::ip::tcp::socket socket, std::shared_ptr<AdminContext> context,
                    std::shared_ptr<std::size_t> open, std::chrono::milliseconds timeout)
        : socket_(std::move(socket)),
          deadline_(socket_.get_executor()),
          context_(std::move(context)),
          open_(std::move(open)),
          timeout_(timeout) {
        ++*open_;
        error_code ec;
        auto peer = socket_.remote_endpoint(ec);
        loopback_ = !ec && peer.address().is_loopback();
        auto local = socket_.local_endpoint(ec);
        if (!ec) local_ = net::to_endpoint(local).addr;
    }
    ~AdminConnection() { --*open_; }

    void start() {
        arm_deadline();
        read();
    }

  private:
    void arm_deadline() {
        deadline_.expires_after(timeout_);
        deadline_.async_wait([weak = weak_from_this()](const error_code& ec) {
            auto self = weak.lock();
            if (ec || !self) return;
            // A wait that completed just before a re-arm still runs: only a passed deadline
            // closes.
            if (self->deadline_.expiry() > std::chrono::steady_clock::now()) return;
            error_code ignored;
            self->socket_.close(ignored);  // the pending read or write ends, and so does this
        });
    }

    void read() {
        socket_.async_read_some(asio::buffer(buffer_),
                                [self = shared_from_this()](const error_code& ec, std::size_t n) {
                                    if (ec) return;
                                    self->pending_.append(self->buffer_.data(), n);
                                    self->parse();
                                });
    }

    void parse() {
        using Event = http::MessageParser::Event;
        for (;;) {
            auto p = parser_.parse({pending_.data(), pending_.size()});
            if (in_body_) body_.append(pending_, 0, p.consumed);
            pending_.erase(0, p.consumed);
            switch (p.event) {
                case Event::error:
                    write(http::simple_response(400, "Bad Request", "text/plain", "bad request\r\n",
                                                false),
                          true);
                    return;
                case Event::head_complete:
                    in_body_ = true;
                    if (parser_.content_length() > static_cast<std::int64_t>(kMaxBody)) break;
                    continue;
                case Event::message_complete:
                    in_body_ = false;
                    dispatch();
                    return;
                case Event::need_more:
                    if (body_.size() <= kMaxBody) {
                        read();
                        return;
                    }
                    break;
            }
            write(http::simple_response(413, "Payload Too Large", "application/json",
                                        "{\"error\": \"request body over 64 KiB\"}\n", false),
                  true);
            return;
        }
    }

    void dispatch() {
        const http::MessageHead& head = parser_.head();
        AdminRequest request;
        request.method = head.method;
        request.target = head.target;
        request.body = std::move(body_);
        body_.clear();
        for (const auto& [name, value] : head.headers) {
            if (iequals(name, "host")) {
                request.host = std::string(trim_blanks(value));
                break;
            }
        }
        request.loopback = loopback_;
        request.local = local_;
        auto auth = head.header("authorization");
        const std::string& token = context_->token;
        request.authorised = !token.empty() && auth.size() == token.size() + 7 &&
                             auth.starts_with("Bearer ") && auth.substr(7) == token;
        bool keep_alive = head.keep_alive;
        try {
            handle_admin_request(request, *context_,
                                 [self = shared_from_this(), keep_alive](std::string response) {
                                     self->write(std::move(response), !keep_alive);
                                 });
        } catch (const std::exception&) {
            // Only writing the answer can throw here (out of memory): drop this connection,
            // never the server (an exception out of a handler would end io_context::run).
            error_code ignored;
            socket_.close(ignored);
        }
    }

    void write(std::string response, bool close_after) {
        out_ = std::move(response);
        asio::async_write(
            socket_, asio::buffer(out_),
            [self = shared_from_this(), close_after](const error_code& ec, std::size_t) {
                if (ec || close_after) {
                    error_code ignored;
                    self->socket_.shutdown(asio::socket_base::shutdown_send, ignored);
                    return;
                }
                self->arm_deadline();  // the next request has admin_timeout from now
                self->parser_.next();
                self->parse();
            });
    }

    static constexpr std::size_t kMaxBody = 64 * 1024;
    asio::ip::tcp::socket socket_;
    asio::steady_timer deadline_;
    std::shared_ptr<AdminContext> context_;
    std::shared_ptr<std::size_t> open_;
    std::chrono::milliseconds timeout_;
    bool loopback_ = false;
    std::optional<IpAddress> local_;
    std::array<char, 8192> buffer_{};
    std::string pending_, body_, out_;
    bool in_body_ = false;
    http::MessageParser parser_{http::MessageParser::Kind::request};
};

// Over limits.admin_max_connections: a short 503 written without waiting (a fresh socket's send
// buffer takes it whole), then closed at once, so a flood of idle admin connections cannot take
// the descriptors the proxy needs.
void refuse(asio::ip::tcp::socket socket) {
    static const std::string response = http::simple_response(
        503, "Service Unavailable", "application/json",
        "{\"error\": \"too many admin connections (limits.admin_max_connections)\"}\n", false);
    error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(response), ignored);
    socket.shutdown(asio::socket_base::shutdown_send, ignored);
    socket.close(ignored);
}

}  // namespace

AdminServer::AdminServer(asio::io_context& io, const Endpoint& endpoint, AdminContext context)
    : acceptor_(io), context_(std::make_shared<AdminContext>(std::move(context))) {
    context_->listener = endpoint.addr;
    auto ep = net::to_asio(endpoint);
    const bool loopback = ep.address().is_loopback();
    try {
        acceptor_.open(ep.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
    } catch (const std::exception& e) {
        throw std::runtime_error(
            fmt::format("admin console: cannot listen on {}: {}", endpoint.to_string(), e.what()));
    }
    if (!loopback && context_->token.empty())
        throw std::runtime_error(
            fmt::format("admin console on {} is not loopback: it needs admin_token_file",
                        endpoint.to_string()));
    accept();
}

AdminServer::~AdminServer() = default;

void AdminServer::accept() {
    acceptor_.async_accept([this](const error_code& ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        // Out of descriptors: accepting again at once would spin (net/accept_backoff.h).
        if (ec && net::back_off_accept(ec, acceptor_.get_executor(), "the admin console",
                                       [this] { accept(); }))
            return;
        if (!ec) {
            // Read per connection, so a reload's new limits apply to the next one.
            auto model = context_->model();
            const config::Limits& limits = model->config.limits;
            if (*open_ >= limits.admin_max_connections) {
                refuse(std::move(socket));
            } else {
                std::make_shared<AdminConnection>(std::move(socket), context_, open_,
                                                  limits.admin_timeout)
                    ->start();
            }
        }
        accept();
    });
}

}  // namespace snibind::admin
