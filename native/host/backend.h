// The one interface every backend implements. The binding resolves a
// Backend once per call (native/binding/backends.cpp) and then only calls
// these; adding an operation means one virtual here, one implementation per
// backend, one binding job.
//
// Every operation takes arguments the binding has already checked (shapes,
// parameter ranges, CSR offsets) and checks what only a pass over the data
// can (logits values, kept ids), reporting the lowest failing row as if rows
// ran in order, so every backend fails the same way on the same input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "../core/rule.h"
#include "../core/sample.h"
#include "../core/trainer.h"
#include "../core/types.h"
#include "mask_result.h"
#include "profile.h"
#include "thread_pool.h"

namespace sm {

// A failure of a device runtime, with the runtime's own text: the operation
// that hit it is abandoned, the backend stays usable for the next one.
class DeviceError : public std::runtime_error {
 public:
  DeviceError(const std::string& message, bool out_of_memory)
      : std::runtime_error(message), out_of_memory_(out_of_memory) {}
  bool out_of_memory() const { return out_of_memory_; }

 private:
  bool out_of_memory_;
};

// An operation, or an option of one, that a backend does not implement yet
// (the CPU backend implements everything): the binding reports it as an
// unavailable backend, naming the argument that asked for it.
class NotImplementedOnBackend : public std::runtime_error {
 public:
  NotImplementedOnBackend(const std::string& message, std::string argument)
      : std::runtime_error(message), argument_(std::move(argument)) {}
  const std::string& argument() const { return argument_; }

 private:
  std::string argument_;
};

// Logits resident in one device's memory: uploaded once by the backend of
// that device, then read (and, with fill or applyMask, written) by several
// operations on it. Freed when the last owner lets go.
class ResidentLogits {
 public:
  virtual ~ResidentLogits() = default;
  // data is device memory.
  virtual const LogitsView& view() const = 0;
  virtual int device() const = 0;
  // Copies the whole tensor into host memory of bytes() bytes.
  virtual void download(void* host) const = 0;
  size_t bytes() const {
    return static_cast<size_t>(view().rows) * static_cast<size_t>(view().vocab) * dtype_bytes(view().dtype);
  }
};

// Logits as an operation receives them: rows in host memory, or resident on
// the device of the backend that runs the operation (then view.data is
// device memory).
struct Logits {
  LogitsView view;
  ResidentLogits* resident = nullptr;
};

// Logits and the ids each row keeps (every id when kept.all()): the input of
// the trainer side. kept_count = offsets[rows], or 0 for every id.
struct KeptRows {
  Logits logits;
  KeptIds kept;
  int64_t kept_count = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // mask(): the kept ids of every row (README "The rule"). With fill, every
  // entry not kept becomes -inf in place: with kFailBatch only once every row
  // is valid, with kSkip in the valid rows only (skipped rows are untouched).
  virtual MaskRowsResult mask(const Logits& logits, const BatchParams& params, bool fill, InvalidRows invalid_rows,
                              Profile* profile) = 0;

  // sample(): every row's mask as mask() computes it, and one token per row
  // drawn from exactly those ids with the row's key (README "Sampling"), its
  // log-prob over the kept ids and, with full_logprobs, over every id.
  virtual SampleRowsResult sample(const Logits& logits, const BatchParams& params, const BatchDrawKeys& keys,
                                  bool full_logprobs, Profile* profile) = 0;

  // -inf at every id a row does not keep. Host logits are written to out
  // ([rows, vocab] in their format; may be logits.view.data); resident
  // logits are masked in place (out unused).
  virtual RowFailure apply_mask(const KeptRows& in, void* out, Profile* profile) = 0;

  // Per row: log q(target) over the kept distribution (-inf when the target
  // is not kept; counted in *targets_outside) and, when entropy is not null,
  // its entropy.
  virtual RowFailure masked_logprobs(const KeptRows& in, const int32_t* targets, const PerRow<float>& temperature,
                                     float* logprobs, float* entropy, int64_t* targets_outside, Profile* profile) = 0;

  // d(upstream * log q_target) / dx for every kept id, aligned with
  // kept.indices (rows * vocab values when every id is kept).
  virtual RowFailure masked_logprobs_backward(const KeptRows& in, const int32_t* targets, const PerRow<float>& upstream,
                                              const PerRow<float>& temperature, float* gradient,
                                              int64_t* targets_outside, Profile* profile) = 0;

  // Host logits made resident on this backend's device.
  virtual std::shared_ptr<ResidentLogits> upload(const LogitsView& host) = 0;

  // The host threads for host-side work of this backend's calls (checks,
  // copies, scatters): each backend has its own, so that a long CPU job
  // never holds up the host side of a CUDA call.
  virtual std::shared_ptr<host::ThreadPool> host_pool() = 0;
};

}  // namespace sm
