#pragma once
// A slow but steady reader, for the idle-timeout tests: it takes a transfer at about a given rate,
// so the transfer lasts long, yet it never stops reading for longer than one chunk's worth of time.
// The pauses are the behaviour under test (a client reading at its own pace), not a way to wait
// for something.
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>

namespace snibind::test {

// Reads `size` bytes (fewer if `read` reports the end, 0, or an error, < 0) at about
// `bytes_per_second`, at most `chunk` bytes per call of `read(buffer, capacity)`.
inline std::string read_paced(const std::function<long(char*, std::size_t)>& read, std::size_t size,
                              double bytes_per_second, std::size_t chunk) {
    std::string out;
    std::string buffer(chunk, '\0');
    const auto start = std::chrono::steady_clock::now();
    while (out.size() < size) {
        const long n = read(buffer.data(), std::min(chunk, size - out.size()));
        if (n <= 0) break;
        out.append(buffer.data(), static_cast<std::size_t>(n));
        // On schedule for the bytes read so far: each pause is at most chunk / rate.
        std::this_thread::sleep_until(
            start +
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(static_cast<double>(out.size()) / bytes_per_second)));
    }
    return out;
}

}  // namespace snibind::test
