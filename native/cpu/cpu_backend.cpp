#include "cpu_backend.h"

#include <mutex>
#include <stdexcept>

#include "mask_cpu.h"
#include "row_kernels.h"
#include "sample_cpu.h"
#include "trainer_cpu.h"

namespace sm::cpu {
namespace {

std::mutex pool_mutex;
std::shared_ptr<ThreadPool> current_pool;

// Host memory only: the binding runs resident logits on their device's backend.
const LogitsView& host_view(const Logits& logits) {
  if (logits.resident) throw std::logic_error("the CPU backend was handed device-resident logits");
  return logits.view;
}

class CpuBackend final : public Backend {
 public:
  MaskRowsResult mask(const Logits& logits, const BatchParams& params, bool fill, InvalidRows invalid_rows,
                      Profile* profile) override {
    return timed_on_host(profile, [&] { return mask_rows(host_view(logits), params, fill, invalid_rows); });
  }

  SampleRowsResult sample(const Logits& logits, const BatchParams& params, const BatchDrawKeys& keys,
                          bool full_logprobs, Profile* profile) override {
    return timed_on_host(profile, [&] { return sample_rows(host_view(logits), params, keys, full_logprobs); });
  }

  RowFailure apply_mask(const KeptRows& in, void* out, Profile* profile) override {
    return timed_on_host(profile, [&] { return cpu::apply_mask(host_view(in.logits), in.kept, out); });
  }

  RowFailure masked_logprobs(const KeptRows& in, const int32_t* targets, const PerRow<float>& temperature,
                             float* logprobs, float* entropy, int64_t* targets_outside, Profile* profile) override {
    return timed_on_host(profile, [&] {
      return cpu::masked_logprobs(host_view(in.logits), in.kept, targets, temperature, logprobs, entropy,
                                  targets_outside);
    });
  }

  RowFailure masked_logprobs_backward(const KeptRows& in, const int32_t* targets, const PerRow<float>& upstream,
                                      const PerRow<float>& temperature, float* gradient, int64_t* targets_outside,
                                      Profile* profile) override {
    return timed_on_host(profile, [&] {
      return cpu::masked_logprobs_backward(host_view(in.logits), in.kept, targets, upstream, temperature, gradient,
                                           targets_outside);
    });
  }

  std::shared_ptr<ResidentLogits> upload(const LogitsView&) override {
    throw std::logic_error("the CPU backend has no device memory to upload to");
  }

  std::shared_ptr<ThreadPool> host_pool() override { return pool(); }
};

}  // namespace

Backend& backend() {
  static CpuBackend instance;
  return instance;
}

std::shared_ptr<ThreadPool> pool() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (!current_pool) current_pool = std::make_shared<ThreadPool>(host::hardware_threads());
  return current_pool;
}

void set_threads(int threads) {
  auto next = std::make_shared<ThreadPool>(threads > 0 ? threads : host::hardware_threads());
  std::lock_guard<std::mutex> lock(pool_mutex);
  current_pool = std::move(next);
}

const char* isa() { return row_kernels_isa(); }

}  // namespace sm::cpu
