// Memory for results that leave native code as external ArrayBuffers. Large
// ones are mapped 2 MiB-aligned and advised to use transparent huge pages:
// every fresh 4 KiB page costs a fault on first touch (microseconds each,
// far more inside virtual machines), a huge page one fault for 512 of them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sm::cpu {

class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(size_t bytes);
  HostBuffer(HostBuffer&& other) noexcept;
  HostBuffer& operator=(HostBuffer&& other) noexcept;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer();

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }

  // Gives up ownership; free the result with HostBuffer::release_memory.
  void* release();
  static void release_memory(void* data, size_t bytes);

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace sm::cpu
