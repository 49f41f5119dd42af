#include "host_buffer.h"

#include <cstdlib>
#include <new>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace sm::cpu {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

bool use_mapping(size_t bytes) {
#if defined(__linux__)
  return bytes >= kHugePage;
#else
  (void)bytes;
  return false;
#endif
}

}  // namespace

HostBuffer::HostBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
#if defined(__linux__)
  if (use_mapping(bytes)) {
    // Over-map by one huge page so an aligned start fits, then trim.
    const size_t mapped = bytes + kHugePage;
    void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > start) munmap(raw, aligned - start);
    const uintptr_t end = aligned + bytes;
    const uintptr_t mapped_end = start + mapped;
    if (mapped_end > end) munmap(reinterpret_cast<void*>(end), mapped_end - end);
    data_ = reinterpret_cast<void*>(aligned);
    madvise(data_, bytes, MADV_HUGEPAGE);
    return;
  }
#endif
  data_ = std::malloc(bytes);
  if (!data_) throw std::bad_alloc();
}

HostBuffer::HostBuffer(HostBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& other) noexcept {
  if (this != &other) {
    release_memory(data_, bytes_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

HostBuffer::~HostBuffer() { release_memory(data_, bytes_); }

void* HostBuffer::release() {
  bytes_ = 0;
  return std::exchange(data_, nullptr);
}

void HostBuffer::release_memory(void* data, size_t bytes) {
  if (!data) return;
#if defined(__linux__)
  if (use_mapping(bytes)) {
    munmap(data, bytes);
    return;
  }
#endif
  std::free(data);
}

}  // namespace sm::cpu
