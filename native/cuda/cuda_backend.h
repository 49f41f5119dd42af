// The CUDA backend as the binding sees it: plain C++, no CUDA headers, so
// that the binding compiles the same with or without CUDA. Builds without
// CUDA link native/binding/cuda_unavailable.cpp instead, which reports why
// and refuses every operation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/mask_result.h"
#include "../core/rule.h"
#include "../core/trainer.h"
#include "../core/types.h"

namespace sm::cuda {

// A CUDA runtime error, with the runtime's own text. The operation that hit
// it is abandoned; the device stays usable (after a sticky error the device
// is reset, which loses every DeviceLogits allocated before).
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, bool out_of_memory)
      : std::runtime_error(message), out_of_memory_(out_of_memory) {}
  bool out_of_memory() const { return out_of_memory_; }

 private:
  bool out_of_memory_;
};

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
  size_t memory_bytes = 0;
};

// Whether CUDA can run here at all, probed once (about 0.3 ms without a driver).
struct Availability {
  bool compiled = false;   // this build has the CUDA backend
  bool available = false;  // and a driver and at least one device exist
  std::string reason;      // why not, when not available
  int driver_version = 0;  // e.g. 13000; 0 = no driver
  int runtime_version = 0;
  std::vector<DeviceInfo> devices;
};
const Availability& availability();

// Empty when the kernels run on this device, else why not (e.g. no kernel
// image for its compute capability). The first call for a device creates its
// CUDA context.
std::string device_unusable_reason(int device);

// Logits resident in device memory: uploaded once, read (and with fill,
// written) by several operations, freed when the last owner lets go.
class DeviceLogits {
 public:
  static std::shared_ptr<DeviceLogits> upload(const LogitsView& host, int device);
  ~DeviceLogits();
  DeviceLogits(const DeviceLogits&) = delete;
  DeviceLogits& operator=(const DeviceLogits&) = delete;

  // data is device memory.
  const LogitsView& view() const { return view_; }
  int device() const { return device_; }
  size_t bytes() const { return static_cast<size_t>(view_.rows * view_.vocab) * dtype_bytes(view_.dtype); }
  // Copies the whole tensor into host memory of bytes() bytes.
  void download(void* host) const;
  // The device context generation the memory belongs to (see Context).
  uint64_t generation() const { return generation_; }

 private:
  DeviceLogits(const LogitsView& view, int device, uint64_t generation)
      : view_(view), device_(device), generation_(generation) {}

  LogitsView view_;
  int device_;
  uint64_t generation_;  // of the device context that owns the memory
};

// Milliseconds spent, for `profile: true`: kernels (CUDA events around them
// only) and the host <-> device copies of the logits and of the result.
struct MaskProfile {
  double kernel_ms = 0, upload_ms = 0, download_ms = 0;
};

// mask() on host logits: uploads them, computes, copies back the CSR (and,
// with fill, the filled logits). Parameters must already be valid.
MaskRowsResult mask_rows(const LogitsView& host, const BatchParams& params, bool fill, int device,
                         MaskProfile* profile);
// mask() on device logits; fill writes into them.
MaskRowsResult mask_rows(DeviceLogits& logits, const BatchParams& params, bool fill, MaskProfile* profile);

// The trainer side on CUDA (trainer_cuda.cpp), bit-identical to the CPU
// backend. shape: rows [0, shape.rows) are computed, their data in host
// memory (uploaded for the call) or, when resident is set, on its device.
// kept: host CSR (or every id) of kept_count ids, already checked strictly
// ascending in [0, vocab); temperatures already valid.
struct TrainerInput {
  LogitsView shape;
  DeviceLogits* resident = nullptr;
  int device = 0;  // for host data
  KeptIds kept;
  int64_t kept_count = 0;
};

RowFailure masked_logprobs(const TrainerInput& in, const int32_t* targets, const PerRow<float>& temperature,
                           float* logprobs, float* entropy, int64_t* targets_outside, MaskProfile* profile);
// gradient: kept_count values (rows * vocab when every id is kept).
RowFailure masked_logprobs_backward(const TrainerInput& in, const int32_t* targets, const PerRow<float>& upstream,
                                    const PerRow<float>& temperature, float* gradient, int64_t* targets_outside,
                                    MaskProfile* profile);
// -inf at every id a row does not keep. Resident logits are masked in place
// on their device (out unused); host logits are written to out (rows x vocab
// in their format; may be shape.data).
void apply_mask(const TrainerInput& in, void* out, MaskProfile* profile);

// Device-to-device copy bandwidth in GB/s, counting bytes read plus bytes
// written, measured with a copy of `bytes` bytes (the benchmark's yardstick).
double copy_bandwidth(int device, size_t bytes);

}  // namespace sm::cuda
