#pragma once
// Forward mode: connect to the record's backend, send an optional PROXY header, replay every
// byte the client sent so far exactly as it came, then relay both ways. Each direction reads
// only after the previous chunk was written (back-pressure), and an EOF in one direction is
// passed on as a half-close while the other keeps flowing. A direction waits for bytes without a
// buffer and borrows one from the worker's pool only to move them: an idle connection holds none.
#include <array>
#include <chrono>
#include <memory>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.h"
#include "proxy/buffer_pool.h"
#include "proxy/connection_trace.h"
#include "proxy_protocol/proxy_header.h"

namespace snibind::proxy {

class ForwardSession : public std::enable_shared_from_this<ForwardSession> {
  public:
    ForwardSession(Worker& worker, boost::asio::ip::tcp::socket client,
                   std::vector<std::uint8_t> received, std::size_t size, std::size_t hello_offset,
                   ConnectionTrace trace, std::shared_ptr<const Runtime> runtime,
                   const config::RecordEntry& entry);
    void start();

  private:
    // One direction of the relay.
    struct Pipe {
        boost::asio::ip::tcp::socket* from;
        boost::asio::ip::tcp::socket* to;
        BufferPool::Buffer buffer;  // only from a read until its write is done
        bool done = false;
        std::uint64_t* counter;
        std::uint64_t acked = 0;  // `to`'s peer's acknowledged bytes when the timer last looked
    };
    void on_connect(const boost::system::error_code& ec);
    void connected();
    void replay(std::size_t sent);
    void start_relay();
    void relay(Pipe& pipe);
    void read(Pipe& pipe);
    void read_failed(Pipe& pipe, const boost::system::error_code& ec);
    void watch_idle();
    void note_kernel_progress(std::chrono::steady_clock::time_point now);
    void finish(ConnectionResult result, std::string why);

    Worker& worker_;
    boost::asio::ip::tcp::socket client_;
    boost::asio::ip::tcp::socket backend_;
    boost::asio::steady_timer timer_;
    std::shared_ptr<const Runtime> runtime_;
    const config::RecordEntry& entry_;
    ConnectionTrace trace_;
    std::vector<std::uint8_t> received_;
    std::size_t replay_from_, replay_to_;
    ProxyHeaderBytes proxy_header_;
    std::chrono::steady_clock::time_point last_activity_, connect_started_;
    bool connected_ = false;
    Pipe upstream_, downstream_;
};

}  // namespace snibind::proxy
