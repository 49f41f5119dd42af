// The CUDA backend's operations as its Backend implementation (backend.cpp)
// calls them: host or resident logits in, host results out. Inputs arrive
// checked (kept ids included: the CUDA kernels trust them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "../host/backend.h"

namespace sm::cuda {

// Logits in the memory of one device, from DeviceLogits::upload.
class DeviceLogits final : public ResidentLogits {
 public:
  static std::shared_ptr<DeviceLogits> upload(const LogitsView& host, int device);
  // Never waits for the device: the memory is handed to the device's
  // context, which frees it as soon as no operation runs there.
  ~DeviceLogits() override;
  DeviceLogits(const DeviceLogits&) = delete;
  DeviceLogits& operator=(const DeviceLogits&) = delete;

  const LogitsView& view() const override { return view_; }
  int device() const override { return device_; }
  void download(void* host) const override;
  // The device context generation the memory belongs to (see Context).
  uint64_t generation() const { return generation_; }

 private:
  DeviceLogits(const LogitsView& view, int device, uint64_t generation)
      : view_(view), device_(device), generation_(generation) {}

  LogitsView view_;
  int device_;
  uint64_t generation_;  // of the device context that owns the memory
};

// mask() on host logits: uploads them, computes, copies back the CSR (and,
// with fill, the filled logits).
MaskRowsResult mask_rows(const LogitsView& host, const BatchParams& params, bool fill, int device, Profile* profile);
// mask() on rows of device logits (view: all of owner's rows or some of
// them); fill writes into them.
MaskRowsResult mask_rows(DeviceLogits& owner, const LogitsView& view, const BatchParams& params, bool fill,
                         Profile* profile);

// The trainer side: rows [0, shape.rows) are computed, their data in host
// memory (uploaded for the call) or, when resident is set, on its device.
// kept: host CSR (or every id) of kept_count ids, checked strictly ascending
// in [0, vocab).
struct TrainerInput {
  LogitsView shape;
  DeviceLogits* resident = nullptr;
  int device = 0;  // for host data
  KeptIds kept;
  int64_t kept_count = 0;
};

RowFailure masked_logprobs(const TrainerInput& in, const int32_t* targets, const PerRow<float>& temperature,
                           float* logprobs, float* entropy, int64_t* targets_outside, Profile* profile);
// gradient: kept_count values (rows * vocab when every id is kept).
RowFailure masked_logprobs_backward(const TrainerInput& in, const int32_t* targets, const PerRow<float>& upstream,
                                    const PerRow<float>& temperature, float* gradient, int64_t* targets_outside,
                                    Profile* profile);
// -inf at every id a row does not keep. Resident logits are masked in place
// on their device (out unused); host logits are written to out (rows x vocab
// in their format; may be shape.data).
void apply_mask(const TrainerInput& in, void* out, Profile* profile);

}  // namespace sm::cuda
