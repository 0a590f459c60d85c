#pragma once
// Forward mode: connect to the record's backend, send an optional PROXY header, replay every
// byte the client sent so far exactly as it came, then relay both ways. Each direction reads
// only after the previous chunk was written (back-pressure), and an EOF in one direction is
// passed on as a half-close while the other keeps flowing. A direction borrows a buffer from the
// worker's pool only to move bytes: an idle connection holds none.
//
// On the worker's EventLoop, not Asio's sockets: both sockets are registered once,
// edge-triggered, and the session remembers what epoll said (readable, writable, the peer's FIN)
// so that it makes only the calls that will succeed. For the usual exchange (hello, reply, FIN
// each way) that is: socket, connect, sendmsg, two epoll_ctl, one recv and one send per chunk,
// one recv per FIN, one shutdown, two close.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "config/config.h"
#include "proxy/buffer_pool.h"
#include "proxy/connection_trace.h"
#include "proxy/event_loop.h"
#include "proxy/socket_fd.h"
#include "proxy_protocol/proxy_header.h"

namespace snibind::proxy {

class ForwardSession : public std::enable_shared_from_this<ForwardSession> {
  public:
    // `client`: the accepted socket (non-blocking). `client_registered`: the hello phase had to
    // wait for it, so it is registered with the worker's EventLoop already. `client_bytes`: what
    // the client sent after its own PROXY header, the hello first; borrowed until start()
    // returns, which keeps a copy only of what the backend did not take at once.
    ForwardSession(Worker& worker, SocketFd client, bool client_registered,
                   std::span<const std::uint8_t> client_bytes, ConnectionTrace trace,
                   std::shared_ptr<const Runtime> runtime, const config::RecordEntry& entry);
    void start();

  private:
    // One socket of the session, as epoll last described it.
    struct Side final : EventHandler {
        Side(ForwardSession& session, SocketFd fd) : session(session), fd(std::move(fd)) {}
        void on_events(std::uint32_t events) override;
        void on_watch_failed(int error) override;
        ForwardSession& session;
        SocketFd fd;
        bool readable = false;     // epoll said so and no read has found it empty since
        bool writable = true;      // no write has been refused since epoll last said so
        bool peer_closed = false;  // the peer's FIN has arrived (EPOLLRDHUP)
    };
    // One direction of the relay: bytes read from `from` wait in `pending` until `to` takes them.
    struct Pipe {
        Pipe(Side* from, Side* to, std::uint64_t* counter) : from(from), to(to), counter(counter) {}
        Side* from;
        Side* to;
        std::uint64_t* counter;
        BufferPool::Buffer buffer;  // only from a read until its write is done
        const std::uint8_t* pending = nullptr;
        std::size_t pending_size = 0;
        bool eof = false;         // `from` has sent everything it will (its FIN is read)
        bool done = false;        // ... and the EOF was passed on
        std::uint64_t acked = 0;  // `to`'s peer's acknowledged bytes when the timer last looked
    };

    void send_replay();
    void connected();
    void on_backend_connected(std::uint32_t events);
    void pump();
    bool pump(Pipe& pipe);  // false: the session ended
    void watch_idle();
    void note_kernel_progress(std::chrono::steady_clock::time_point now);
    void finish(ConnectionResult result, std::string why);

    Worker& worker_;
    Side client_;
    Side backend_;
    bool client_registered_;
    boost::asio::steady_timer timer_;
    std::shared_ptr<const Runtime> runtime_;
    const config::RecordEntry& entry_;
    ConnectionTrace trace_;
    // The PROXY header and the client's bytes after its own header, as the backend must get them,
    // while the backend has not taken them all. Without a PROXY header the first send goes
    // straight from the borrowed bytes, and only a remainder is copied here.
    std::vector<std::uint8_t> replay_;
    std::chrono::steady_clock::time_point last_activity_, connect_started_;
    bool replaying_ = true;  // the client's bytes (and the PROXY header) are not all sent yet
    bool connected_ = false;
    bool finished_ = false;
    EventLoop::Adopted adopted_;
    Pipe upstream_, downstream_;
};

}  // namespace snibind::proxy
