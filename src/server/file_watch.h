#pragma once
// Watches files and folders with inotify and reports changes, debounced (an editor or
// Kubernetes' symlink swap makes several events for one change). The store is watched by name:
// snibind netsh saves it by writing a temporary file and renaming it over the old one.
#include <array>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <sys/inotify.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace snibind::server {

class FileWatch {
  public:
    struct Target {
        std::filesystem::path dir;
        std::string name;  // empty: any change in the folder
        friend bool operator==(const Target&, const Target&) = default;
    };

    FileWatch(boost::asio::io_context& io, std::vector<Target> targets,
              std::function<void()> changed);

  private:
    bool interesting(const inotify_event& e) const;
    void read();

    boost::asio::posix::stream_descriptor stream_;
    boost::asio::steady_timer debounce_;
    std::function<void()> changed_;
    std::vector<std::pair<int, std::string>> watches_;
    alignas(inotify_event) std::array<char, 4096> buffer_{};
};

}  // namespace snibind::server
