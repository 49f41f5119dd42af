// Host memory for results that leave native code as external ArrayBuffers,
// from any backend. Host code only.
#pragma once

#include <cstddef>
#include <utility>

namespace sm {

// Blocks from 256 KiB on are recycled (host_buffer.cpp): a caller that masks
// step after step frees earlier steps' results, when Node finalizes them,
// and asks for more of about the same size. From the OS each would come as
// fresh pages, a page fault per 4 KiB written.
class HostBuffer {
 public:
  HostBuffer() = default;
  // Uninitialized memory.
  explicit HostBuffer(size_t bytes) : block_(acquire(bytes, false)), bytes_(bytes) {}
  // Zeroed memory: never a recycled block. Large buffers get fresh pages from
  // the OS, which are zero already, so a sparse result costs only the pages
  // written.
  static HostBuffer zeroed(size_t bytes) { return HostBuffer(acquire(bytes, true), bytes); }
  HostBuffer(HostBuffer&& other) noexcept
      : block_(std::exchange(other.block_, Block{})), bytes_(std::exchange(other.bytes_, 0)) {}
  HostBuffer& operator=(HostBuffer&& other) noexcept {
    if (this != &other) {
      recycle(block_);
      block_ = std::exchange(other.block_, Block{});
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer() { recycle(block_); }

  void* data() const { return block_.data; }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(block_.data);
  }

  // Grows or shrinks to `bytes`, keeping the common prefix.
  void resize(size_t bytes);

  struct Block {
    void* data = nullptr;
    size_t capacity = 0;
  };

 private:
  HostBuffer(Block block, size_t bytes) : block_(block), bytes_(bytes) {}

  static Block acquire(size_t bytes, bool zeroed);
  static void recycle(Block block) noexcept;

  Block block_;
  size_t bytes_ = 0;
};

}  // namespace sm
