#pragma once
// Bytes that move without the application seeing them. The proxy's writes complete once the
// kernel holds the bytes; the kernel then hands them to a slow reader for seconds (its auto-tuned
// send buffer is megabytes large, and it wakes a blocked writer only once a third of it is free),
// so a slow but steady transfer can look idle to the application for far longer than
// idle_timeout. The peer's acknowledgements show that bytes still move.
#include <chrono>
#include <cstdint>
#include <optional>

namespace snibind::proxy {

// Whether the peer of TCP socket `fd` acknowledged bytes since the count in `acked` (updated to
// the current one): if it did, when it last acknowledged anything; nullopt if it did not (or the
// socket cannot say: closed, not TCP). From tcp_info (tcpi_bytes_acked, tcpi_last_ack_recv).
std::optional<std::chrono::steady_clock::time_point> tcp_acked_since(
    int fd, std::uint64_t& acked, std::chrono::steady_clock::time_point now);

}  // namespace snibind::proxy
