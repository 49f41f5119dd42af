#include "host_buffer.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace sm {
namespace {

constexpr size_t kRecycledFrom = size_t{256} << 10;
// Held while no result uses them: at most this many blocks and bytes.
constexpr size_t kRecycledBlocks = 64;
constexpr size_t kRecycledBytes = size_t{128} << 20;
// From this size on, memory comes straight from the OS.
constexpr size_t kLargeBuffer = size_t{2} << 20;

void* from_system(size_t bytes, bool zeroed) {
#if defined(__linux__)
  if (bytes >= kLargeBuffer) {
    // Fresh pages: zero already, and given back on release. Not huge pages:
    // where the kernel compacts memory on demand for them
    // (transparent_hugepage/defrag = madvise), faulting them in stalled for
    // seconds (applyMask into a new 311 MB tensor took 2.6 s, not 0.14 s).
    void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) throw std::bad_alloc();
    return data;
  }
#endif
  void* data = zeroed ? std::calloc(bytes, 1) : std::malloc(bytes);
  if (!data) throw std::bad_alloc();
  return data;
}

void to_system(HostBuffer::Block block) noexcept {
  if (!block.data) return;
#if defined(__linux__)
  if (block.capacity >= kLargeBuffer) {
    munmap(block.data, block.capacity);
    return;
  }
#endif
  std::free(block.data);
}

// Blocks no result holds, oldest first.
class RecycledBlocks {
 public:
  RecycledBlocks() { blocks_.reserve(kRecycledBlocks); }

  // The smallest block of `bytes` to twice that, if one is held.
  bool take(size_t bytes, HostBuffer::Block* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto best = blocks_.end();
    for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
      if (it->capacity >= bytes && it->capacity / 2 <= bytes &&
          (best == blocks_.end() || it->capacity < best->capacity))
        best = it;
    }
    if (best == blocks_.end()) return false;
    *block = *best;
    held_bytes_ -= best->capacity;
    blocks_.erase(best);
    return true;
  }

  // Holds `block`, giving the oldest blocks back to the OS to make room.
  void keep(HostBuffer::Block block) noexcept {
    std::array<HostBuffer::Block, kRecycledBlocks> evicted;
    size_t evicted_count = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (!blocks_.empty() && (blocks_.size() == kRecycledBlocks || held_bytes_ + block.capacity > kRecycledBytes)) {
        held_bytes_ -= blocks_.front().capacity;
        evicted[evicted_count++] = blocks_.front();
        blocks_.erase(blocks_.begin());
      }
      blocks_.push_back(block);
      held_bytes_ += block.capacity;
    }
    for (size_t i = 0; i < evicted_count; ++i) to_system(evicted[i]);
  }

 private:
  std::mutex mutex_;
  std::vector<HostBuffer::Block> blocks_;  // reserved: keep() allocates nothing under the lock
  size_t held_bytes_ = 0;
};

// Never destroyed: a finalizer may free a result while the process exits.
RecycledBlocks& recycled_blocks() {
  static RecycledBlocks* blocks = new RecycledBlocks();
  return *blocks;
}

}  // namespace

HostBuffer::Block HostBuffer::acquire(size_t bytes, bool zeroed) {
  if (bytes == 0) return Block{};
  if (bytes < kRecycledFrom) return Block{from_system(bytes, zeroed), bytes};
  Block block;
  if (!zeroed && recycled_blocks().take(bytes, &block)) return block;
  // An eighth more, so that a later step's result, a little longer, fits too.
  const size_t capacity = zeroed ? bytes : bytes + bytes / 8;
  return Block{from_system(capacity, zeroed), capacity};
}

void HostBuffer::recycle(Block block) noexcept {
  if (!block.data) return;
  if (block.capacity < kRecycledFrom || block.capacity > kRecycledBytes / 8) {
    to_system(block);
    return;
  }
  recycled_blocks().keep(block);
}

void HostBuffer::resize(size_t bytes) {
  if (bytes == bytes_) return;
  HostBuffer next(bytes);
  if (bytes_ > 0 && bytes > 0) std::memcpy(next.data(), data(), std::min(bytes, bytes_));
  *this = std::move(next);
}

}  // namespace sm
