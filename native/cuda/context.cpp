#include "context.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "mask_kernels.h"

namespace sm::cuda {
namespace {

constexpr size_t kStagingBytes = size_t{8} << 20;
// Host copies of a staging chunk are split over the CPU pool above this size.
constexpr size_t kParallelCopyBytes = size_t{1} << 20;

std::string describe(cudaError_t status, const char* what) {
  return std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) +
         ")";
}

void copy_host(void* dst, const void* src, size_t bytes) {
  if (bytes < kParallelCopyBytes) {
    std::memcpy(dst, src, bytes);
    return;
  }
  host::ThreadPool& pool = host_pool();
  const int64_t pieces = std::min<int64_t>(pool.threads(), static_cast<int64_t>(bytes / (kParallelCopyBytes / 4)));
  pool.parallel_for(pieces, [&](int64_t i) {
    const size_t begin = bytes * i / pieces, end = bytes * (i + 1) / pieces;
    std::memcpy(static_cast<uint8_t*>(dst) + begin, static_cast<const uint8_t*>(src) + begin, end - begin);
  });
}

Availability probe() {
  Availability a;
  a.compiled = true;
  cudaRuntimeGetVersion(&a.runtime_version);
  cudaDriverGetVersion(&a.driver_version);  // 0 when no driver is installed
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  cudaGetLastError();
  if (status == cudaErrorInsufficientDriver) {
    a.reason = a.driver_version == 0 ? "no CUDA driver is installed"
                                     : "the CUDA driver (version " + std::to_string(a.driver_version) +
                                           ") is older than this build's CUDA runtime (version " +
                                           std::to_string(a.runtime_version) + ")";
    return a;
  }
  if (status == cudaErrorNoDevice || (status == cudaSuccess && count == 0)) {
    a.reason = "no CUDA device is visible";
    return a;
  }
  if (status != cudaSuccess) {
    a.reason = describe(status, "cudaGetDeviceCount");
    return a;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp props;
    if (cudaGetDeviceProperties(&props, d) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    a.devices.push_back(
        DeviceInfo{d, props.name, props.major, props.minor, props.multiProcessorCount, props.totalGlobalMem});
  }
  a.available = !a.devices.empty();
  if (!a.available) a.reason = "no CUDA device could be queried";
  return a;
}

}  // namespace

host::ThreadPool& host_pool() {
  // Never destroyed: contexts outlive static destruction too.
  static auto* pool = new host::ThreadPool(std::min(host::hardware_threads(), 8));
  return *pool;
}

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw Error(describe(status, what), status == cudaErrorMemoryAllocation);
}

const Availability& availability() {
  static const Availability info = probe();
  return info;
}

std::string device_unusable_reason(int device) {
  const Availability& a = availability();
  if (!a.available) return a.reason;
  if (device < 0 || device >= static_cast<int>(a.devices.size()))
    return "no CUDA device " + std::to_string(device) + " (" + std::to_string(a.devices.size()) + " visible)";
  try {
    Context::get(device);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Context& Context::get(int device) {
  static std::mutex contexts_mutex;
  // Never destroyed: at process exit the CUDA runtime may already be gone.
  static auto* contexts = new std::map<int, std::unique_ptr<Context>>();
  std::lock_guard<std::mutex> hold(contexts_mutex);
  auto found = contexts->find(device);
  if (found != contexts->end()) return *found->second;
  std::unique_ptr<Context> created(new Context(device));
  Context& context = *created;
  contexts->emplace(device, std::move(created));
  return context;
}

Context::Context(int device) : device_(device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  const std::string why = kernels_unusable_reason();
  if (!why.empty()) throw Error(why, false);
  check(cudaDeviceGetAttribute(&multiprocessors_, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  create_stream_and_events();
}

void Context::create_stream_and_events() {
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  for (cudaEvent_t& event : staged_) check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate");
}

void Context::recover() {
  cudaGetLastError();
  cudaError_t status = cudaDeviceSynchronize();
  if (status != cudaSuccess) {
    cudaGetLastError();
    status = cudaDeviceSynchronize();
  }
  if (status == cudaSuccess) return;
  // A sticky error (e.g. an illegal address) poisons the context until the
  // device is reset, which frees all of its memory, ours and the caller's.
  workspace.forget();
  logits.forget();
  indices.forget();
  readback.forget();
  for (PinnedBuffer& buffer : staging_) buffer.forget();
  cudaDeviceReset();
  ++generation_;
  if (cudaSetDevice(device_) == cudaSuccess) {
    try {
      create_stream_and_events();
    } catch (const Error&) {
      // the next call reports it
    }
  }
}

void Context::release(void* device_memory, uint64_t generation) {
  {
    std::lock_guard<std::mutex> hold(released_mutex_);
    released_.emplace_back(device_memory, generation);
  }
  std::unique_lock<std::mutex> hold(mutex_, std::try_to_lock);
  if (!hold.owns_lock()) return;  // the operation running now frees it when the next one starts
  if (cudaSetDevice(device_) == cudaSuccess) free_released();
}

void Context::free_released() {
  std::vector<std::pair<void*, uint64_t>> released;
  {
    std::lock_guard<std::mutex> hold(released_mutex_);
    released.swap(released_);
  }
  for (const auto& [memory, generation] : released) {
    // Memory of an older generation went with the device reset.
    if (generation == generation_) cudaFree(memory);
  }
  cudaGetLastError();
}

void Context::upload(void* device_dst, const void* host_src, size_t bytes) {
  for (size_t offset = 0, slot = 0; offset < bytes; offset += kStagingBytes, slot ^= 1) {
    const size_t n = std::min(kStagingBytes, bytes - offset);
    staging_[slot].reserve(kStagingBytes);
    check(cudaEventSynchronize(staged_[slot]), "cudaEventSynchronize (staging)");
    copy_host(staging_[slot].data(), static_cast<const uint8_t*>(host_src) + offset, n);
    check(cudaMemcpyAsync(static_cast<uint8_t*>(device_dst) + offset, staging_[slot].data(), n, cudaMemcpyHostToDevice,
                          stream_),
          "cudaMemcpyAsync (upload)");
    check(cudaEventRecord(staged_[slot], stream_), "cudaEventRecord");
  }
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (upload)");
}

void Context::download(void* host_dst, const void* device_src, size_t bytes) {
  const size_t chunks = (bytes + kStagingBytes - 1) / kStagingBytes;
  auto issue = [&](size_t chunk) {
    const size_t slot = chunk & 1, offset = chunk * kStagingBytes;
    staging_[slot].reserve(kStagingBytes);
    check(cudaMemcpyAsync(staging_[slot].data(), static_cast<const uint8_t*>(device_src) + offset,
                          std::min(kStagingBytes, bytes - offset), cudaMemcpyDeviceToHost, stream_),
          "cudaMemcpyAsync (download)");
    check(cudaEventRecord(staged_[slot], stream_), "cudaEventRecord");
  };
  if (chunks > 0) issue(0);
  for (size_t chunk = 0; chunk < chunks; ++chunk) {
    if (chunk + 1 < chunks) issue(chunk + 1);  // the other slot, copied out last round
    const size_t slot = chunk & 1, offset = chunk * kStagingBytes;
    check(cudaEventSynchronize(staged_[slot]), "cudaEventSynchronize (download)");
    copy_host(static_cast<uint8_t*>(host_dst) + offset, staging_[slot].data(), std::min(kStagingBytes, bytes - offset));
  }
}

KernelTimer::KernelTimer(cudaStream_t stream, bool enabled) : stream_(stream), enabled_(enabled) {
  if (!enabled_) return;
  check(cudaEventCreate(&begin_), "cudaEventCreate");
  check(cudaEventCreate(&end_), "cudaEventCreate");
}

KernelTimer::~KernelTimer() {
  if (begin_) cudaEventDestroy(begin_);
  if (end_) cudaEventDestroy(end_);
}

void KernelTimer::start() {
  if (!enabled_) return;
  total_ms();  // collect the previous stretch before its events are reused
  check(cudaEventRecord(begin_, stream_), "cudaEventRecord");
  open_ = true;
}

void KernelTimer::stop() {
  if (!enabled_ || !open_) return;
  check(cudaEventRecord(end_, stream_), "cudaEventRecord");
  open_ = false;
  pending_ = true;
}

double KernelTimer::total_ms() {
  if (pending_) {
    check(cudaEventSynchronize(end_), "cudaEventSynchronize (timer)");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, begin_, end_), "cudaEventElapsedTime");
    total_ += ms;
    pending_ = false;
  }
  return total_;
}

}  // namespace sm::cuda
