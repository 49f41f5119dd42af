// One context per device: its stream, the buffers reused across calls
// (device workspace, pinned staging), and error handling that keeps the
// process and the device usable after a failed call.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "../host/thread_pool.h"
#include "cuda_backend.h"
#include "operations.h"

namespace sm::cuda {

using Error = DeviceError;

// The CUDA backend's own host threads: staging copies and kept-id checks
// never wait behind a CPU backend job.
host::ThreadPool& host_pool();

// Throws Error with the runtime's text for a failed call.
void check(cudaError_t status, const char* what);

// Growable memory from one of CUDA's allocators; contents are not kept when
// it grows.
template <class Memory>
class Buffer {
 public:
  Buffer() = default;
  ~Buffer() {
    if (data_) Memory::release(data_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void reserve(size_t bytes) {
    if (bytes <= size_) return;
    if (data_) check(Memory::release(data_), Memory::kRelease);
    data_ = nullptr, size_ = 0;
    check(Memory::allocate(&data_, bytes), Memory::kAllocate);
    size_ = bytes;
  }
  uint8_t* data() const { return static_cast<uint8_t*>(data_); }
  size_t size() const { return size_; }
  // Drops the pointer without freeing it: after a device reset it is gone.
  void forget() { data_ = nullptr, size_ = 0; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

struct DeviceMemory {
  static cudaError_t allocate(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
  static cudaError_t release(void* p) { return cudaFree(p); }
  static constexpr const char* kAllocate = "cudaMalloc (device workspace)";
  static constexpr const char* kRelease = "cudaFree";
};

// Page-locked host memory, for copies the DMA engines run alone.
struct PinnedMemory {
  static cudaError_t allocate(void** p, size_t bytes) { return cudaMallocHost(p, bytes); }
  static cudaError_t release(void* p) { return cudaFreeHost(p); }
  static constexpr const char* kAllocate = "cudaMallocHost (pinned staging)";
  static constexpr const char* kRelease = "cudaFreeHost";
};

using DeviceBuffer = Buffer<DeviceMemory>;
using PinnedBuffer = Buffer<PinnedMemory>;

class Context {
 public:
  // The context of a device, created on first use (and checked: the kernels
  // must have an image for it). Lives as long as the process.
  static Context& get(int device);

  // Runs fn(context) with the device current, holding the context for the
  // whole operation (calls from several threads take turns). On a CUDA
  // error the queued work is drained, a sticky error resets the device, and
  // the error is rethrown: the next call starts clean.
  template <class Fn>
  decltype(auto) run(Fn&& fn) {
    std::lock_guard<std::mutex> hold(mutex_);
    check(cudaSetDevice(device_), "cudaSetDevice");
    free_released();
    const FreeReleasedOnExit free_on_exit{this};
    try {
      return fn(*this);
    } catch (const Error&) {
      recover();
      throw;
    }
  }

  // Frees device memory of `generation` without waiting: now if no
  // operation holds the context, else when the next one starts. Safe from
  // any thread, including a finalizer on the JS thread.
  void release(void* device_memory, uint64_t generation);

  int device() const { return device_; }
  int multiprocessors() const { return multiprocessors_; }
  cudaStream_t stream() const { return stream_; }
  // Bumped by every device reset: device memory from an older generation is gone.
  uint64_t generation() const { return generation_; }

  // Host <-> device copies of any size through the two pinned staging
  // buffers: the host copy of one chunk overlaps the DMA of the other.
  // Both return once the copy is complete.
  void upload(void* device_dst, const void* host_src, size_t bytes);
  void download(void* host_dst, const void* device_src, size_t bytes);

  DeviceBuffer workspace;  // per-call scratch of the mask pipeline
  DeviceBuffer logits;     // host logits uploaded for one call
  DeviceBuffer indices;    // kept ids, grown to the largest result seen
  PinnedBuffer readback;   // small results (offsets, summaries) and parameters

 private:
  explicit Context(int device);
  void create_stream_and_events();
  void recover();
  // Frees what release() queued; the context is held.
  void free_released();
  struct FreeReleasedOnExit {
    Context* context;
    ~FreeReleasedOnExit() { context->free_released(); }
  };

  std::mutex mutex_;
  int device_;
  int multiprocessors_ = 0;
  uint64_t generation_ = 0;
  cudaStream_t stream_ = nullptr;
  PinnedBuffer staging_[2];
  cudaEvent_t staged_[2] = {nullptr, nullptr};
  std::mutex released_mutex_;
  std::vector<std::pair<void*, uint64_t>> released_;  // device memory and its generation
};

// Throws unless the memory of logits survived every reset of its device.
void require_current(const DeviceLogits& logits, const Context& context);

// Events around a stretch of kernels on a stream, summed into milliseconds.
class KernelTimer {
 public:
  explicit KernelTimer(cudaStream_t stream, bool enabled);
  ~KernelTimer();
  void start();
  void stop();
  // Waits for the last stop and adds every measured stretch.
  double total_ms();

 private:
  cudaStream_t stream_;
  bool enabled_;
  cudaEvent_t begin_ = nullptr, end_ = nullptr;
  double total_ = 0;
  bool open_ = false, pending_ = false;
};

}  // namespace sm::cuda
