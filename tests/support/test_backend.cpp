#include "test_backend.h"

#include <fstream>
#include <iterator>
#include <stdexcept>

namespace snibind::test {

// A real capture from tests/data/clienthello (see manifest.tsv), as the bytes on the wire.
std::string hello_fixture(const std::string& file) {
    std::ifstream in(std::string(SNIBIND_TEST_DATA) + "/clienthello/" + file, std::ios::binary);
    if (!in) throw std::runtime_error("no fixture " + file);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int listen_on_loopback(std::uint16_t& port, int backlog) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(fd, backlog) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (fd >= 0) close(fd);
        throw std::runtime_error("test backend: cannot listen on 127.0.0.1");
    }
    port = ntohs(addr.sin_port);
    return fd;
}

}  // namespace snibind::test
