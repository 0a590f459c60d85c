// A translation unit of its own: <linux/tcp.h> has the whole struct tcp_info (glibc's
// <netinet/tcp.h>, which Asio includes, stops before tcpi_bytes_acked) and the two clash.
#include "proxy/tcp_progress.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace snibind::proxy {

std::optional<std::chrono::steady_clock::time_point> tcp_acked_since(
    int fd, std::uint64_t& acked, std::chrono::steady_clock::time_point now) {
    tcp_info info{};
    socklen_t length = sizeof info;
    if (fd < 0 || ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return std::nullopt;
    if (info.tcpi_bytes_acked == acked) return std::nullopt;
    acked = info.tcpi_bytes_acked;
    return now - std::chrono::milliseconds(info.tcpi_last_ack_recv);
}

}  // namespace snibind::proxy
