// Host memory for results that leave native code as external ArrayBuffers,
// from any backend. Large buffers are mapped straight from the OS (zero pages,
// returned on release), with ordinary pages: see allocate(). Host code only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace sm {

class HostBuffer {
 public:
  HostBuffer() = default;
  // Uninitialized memory.
  explicit HostBuffer(size_t bytes) : data_(allocate(bytes, false)), bytes_(bytes) {}
  // Zeroed memory: large buffers get fresh pages from the OS, which are zero
  // already, so a sparse result costs only the pages written.
  static HostBuffer zeroed(size_t bytes) { return HostBuffer(allocate(bytes, true), bytes); }
  HostBuffer(HostBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  HostBuffer& operator=(HostBuffer&& other) noexcept {
    if (this != &other) {
      release_memory(data_, bytes_);
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer() { release_memory(data_, bytes_); }

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }

  // Grows or shrinks to `bytes`, keeping the common prefix.
  void resize(size_t bytes) {
    if (bytes == bytes_) return;
    HostBuffer next(bytes);
    if (bytes_ > 0 && bytes > 0) std::memcpy(next.data_, data_, bytes < bytes_ ? bytes : bytes_);
    *this = std::move(next);
  }

  // Gives up ownership; free the memory with release_memory(data, bytes).
  void* release() {
    bytes_ = 0;
    return std::exchange(data_, nullptr);
  }

  static void release_memory(void* data, size_t bytes) {
    if (!data) return;
#if defined(__linux__)
    if (bytes >= kLargeBuffer) {
      munmap(data, bytes);
      return;
    }
#endif
    std::free(data);
  }

 private:
  static constexpr size_t kLargeBuffer = size_t{2} << 20;

  HostBuffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}

  static void* allocate(size_t bytes, bool zeroed) {
    if (bytes == 0) return nullptr;
#if defined(__linux__)
    if (bytes >= kLargeBuffer) {
      // Fresh pages from the OS: zero already, and given back on release.
      // Not huge pages: where the kernel compacts memory on demand for them
      // (transparent_hugepage/defrag = madvise), faulting them in stalled
      // for seconds (applyMask into a new 311 MB tensor took 2.6 s, not 0.14 s).
      void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (data == MAP_FAILED) throw std::bad_alloc();
      return data;
    }
#endif
    void* data = zeroed ? std::calloc(bytes, 1) : std::malloc(bytes);
    if (!data) throw std::bad_alloc();
    return data;
  }

  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace sm
