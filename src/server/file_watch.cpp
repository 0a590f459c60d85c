#include "server/file_watch.h"

namespace snibind::server {

namespace asio = boost::asio;
using boost::system::error_code;

FileWatch::FileWatch(asio::io_context& io, std::vector<Target> targets,
                     std::function<void()> changed)
    : stream_(io), debounce_(io), changed_(std::move(changed)) {
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return;
    stream_.assign(fd);
    for (auto& t : targets) {
        if (t.dir.empty()) t.dir = ".";
        int wd = inotify_add_watch(fd, t.dir.c_str(),
                                   IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE);
        if (wd >= 0) watches_.emplace_back(wd, std::move(t.name));
    }
    read();
}

bool FileWatch::interesting(const inotify_event& e) const {
    for (const auto& [wd, name] : watches_)
        if (wd == e.wd && (name.empty() || (e.len && name == e.name))) return true;
    return false;
}

void FileWatch::read() {
    stream_.async_read_some(asio::buffer(buffer_), [this](const error_code& ec, std::size_t n) {
        if (ec) return;
        bool changed = false;
        for (std::size_t i = 0; i + sizeof(inotify_event) <= n;) {
            auto* event = reinterpret_cast<const inotify_event*>(buffer_.data() + i);
            changed = changed || interesting(*event);
            i += sizeof(inotify_event) + event->len;
        }
        if (changed) {
            debounce_.expires_after(std::chrono::milliseconds(100));
            debounce_.async_wait([this](const error_code& ec) {
                if (!ec) changed_();
            });
        }
        read();
    });
}

}  // namespace snibind::server
