#pragma once
// 16 KiB I/O buffers that a connection borrows only while it moves bytes, so that an idle
// connection holds none (HAProxy's and sniproxy's way: memory per idle connection is what
// decides how many a server can hold). One pool per worker: a single thread, so no locks.
#include <array>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace snibind::proxy {

class BufferPool {
  public:
    static constexpr std::size_t kSize = 16 * 1024;

    // A borrowed buffer; goes back to its pool when released or destroyed. Empty by default.
    class Buffer {
      public:
        Buffer() = default;
        Buffer(Buffer&& other) noexcept : pool_(other.pool_), block_(std::move(other.block_)) {}
        Buffer& operator=(Buffer&& other) noexcept {
            release();
            pool_ = other.pool_;
            block_ = std::move(other.block_);
            return *this;
        }
        ~Buffer() { release(); }

        explicit operator bool() const { return block_ != nullptr; }
        char* data() { return block_ ? block_->data() : nullptr; }
        const char* data() const { return block_ ? block_->data() : nullptr; }
        static constexpr std::size_t size() { return kSize; }
        void release() {
            if (block_) pool_->put(std::move(block_));
        }

      private:
        friend class BufferPool;
        Buffer(BufferPool* pool, std::unique_ptr<std::array<char, kSize>> block)
            : pool_(pool), block_(std::move(block)) {}
        BufferPool* pool_ = nullptr;
        std::unique_ptr<std::array<char, kSize>> block_;
    };

    Buffer get() {
        if (free_.empty())  // not zeroed: only what is read into it is ever touched
            return Buffer(this,
                          std::unique_ptr<std::array<char, kSize>>(new std::array<char, kSize>));
        Buffer b(this, std::move(free_.back()));
        free_.pop_back();
        return b;
    }

  private:
    // Enough to cover the connections of one busy moment; beyond that, back to malloc.
    static constexpr std::size_t kMaxFree = 64;
    void put(std::unique_ptr<std::array<char, kSize>> block) {
        if (free_.size() < kMaxFree) free_.push_back(std::move(block));
    }
    std::vector<std::unique_ptr<std::array<char, kSize>>> free_;
};

}  // namespace snibind::proxy
