// applyMask, maskedLogprobs and maskedLogprobsBackward (sync and async):
// argument checks, then one backend call each.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../cpu/trainer_cpu.h"
#include "../cuda/cuda_backend.h"
#include "args.h"
#include "device_binding.h"
#include "errors.h"
#include "exec.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

std::string at_row(int64_t row) { return row >= 0 ? " at row " + std::to_string(row) : std::string(); }

// Logits rows and the ids each keeps: the first six arguments of every
// trainer operation (data, dtype, rows, vocab, mask.offsets, mask.indices),
// data being host memory or a DeviceTensor handle; and where it runs (the
// options argument at `options`).
class KeptRows {
 public:
  KeptRows(const Napi::CallbackInfo& info, bool async, size_t options) {
    if (is_device_tensor(info[0])) {
      device_logits_ = read_device_tensor(info[0], "logits");
      logits_.view = device_logits_->view();
      exec_ = read_device_exec(info[options], device_logits_->device());
    } else {
      logits_ = read_logits(info, 0, "logits");
      exec_ = read_exec(info[options]);
      held_logits_ = HeldBytes(logits_.bytes, async);
      logits_.view.data = held_logits_.data();
    }
    kept_ = read_kept_ids(info[4], info[5], logits_.view.rows, async);
  }

  const LogitsView& logits() const { return logits_.view; }
  const TypedBytes& logits_bytes() const { return logits_.bytes; }
  const HeldBytes& held_logits() const { return held_logits_; }
  bool on_device() const { return device_logits_ != nullptr; }
  const Exec& exec() const { return exec_; }
  bool every_id() const { return kept_.all; }
  size_t kept_count() const { return kept_.index_count; }
  KeptIds view() const {
    if (kept_.all) return {};
    return KeptIds{static_cast<const int32_t*>(kept_.offsets.data()), static_cast<const int32_t*>(kept_.indices.data())};
  }

  // The CUDA backend's view of rows [0, rows), their kept ids checked.
  cuda::TrainerInput cuda_input(int64_t rows) const {
    cuda::TrainerInput input;
    input.shape = logits();
    input.shape.rows = rows;
    input.resident = device_logits_.get();
    input.device = exec_.device;
    input.kept = view();
    input.kept_count = every_id() ? 0 : view().offsets[rows];
    return input;
  }

  // Runs compute(input) on CUDA over the rows before the first one whose
  // kept ids are invalid; the lowest failing row wins, as on the CPU.
  template <class Compute>
  RowFailure on_cuda(const Compute& compute) const {
    const RowFailure bad_ids = every_id() ? RowFailure{} : cpu::check_kept_ids(view(), logits().rows, logits().vocab);
    const RowFailure failure = compute(cuda_input(bad_ids.row >= 0 ? bad_ids.row : logits().rows));
    return failure.row >= 0 ? failure : bad_ids;
  }

 private:
  LogitsArg logits_;  // for a DeviceTensor: its shape, data on the device
  std::shared_ptr<cuda::DeviceLogits> device_logits_;
  Exec exec_;
  KeptIdsArg kept_;
  HeldBytes held_logits_;
};

// Target ids, one per row, each in [0, vocab).
class Targets {
 public:
  Targets(const Napi::Value& value, const LogitsView& logits, bool async) {
    Napi::Env env = value.Env();
    const TypedBytes bytes = typed_bytes(value, napi_int32_array, "Int32Array of target ids", "targets");
    if (static_cast<int64_t>(bytes.length) != logits.rows)
      throw_range(env, "targets",
                  "has " + std::to_string(bytes.length) + " ids for " + std::to_string(logits.rows) + " rows");
    held_ = HeldBytes(bytes, async, HeldBytes::Shared::kSnapshot);
    const auto* ids = static_cast<const int32_t*>(held_.data());
    for (int64_t r = 0; r < logits.rows; ++r) {
      if (ids[r] < 0 || ids[r] >= logits.vocab)
        throw_range(env, "targets",
                    "must be ids in [0, " + std::to_string(logits.vocab) + "), got " + std::to_string(ids[r]) +
                        at_row(r),
                    r);
    }
  }
  const int32_t* data() const { return static_cast<const int32_t*>(held_.data()); }

 private:
  HeldBytes held_;
};

// A number for every row or one per row, each passing valid().
template <class Valid>
std::vector<float> read_checked_floats(const Napi::Value& value, int64_t rows, const char* argument,
                                       const char* requirement, const Valid& valid) {
  std::vector<float> values = read_per_row_floats(value, rows, argument);
  for (size_t r = 0; r < values.size(); ++r) {
    if (!valid(values[r])) {
      const int64_t row = values.size() > 1 ? static_cast<int64_t>(r) : -1;
      throw_range(value.Env(), argument,
                  std::string("must be ") + requirement + at_row(row) + ", got " + std::to_string(values[r]), row);
    }
  }
  return values;
}

std::vector<float> read_temperature(const Napi::Value& value, int64_t rows) {
  return read_checked_floats(value, rows, "temperature", "a finite number > 0 (the sampler's temperature)",
                             trainer_temperature_valid);
}

class ApplyMaskJob {
 public:
  ApplyMaskJob(const Napi::CallbackInfo& info, bool async) : rows_(info, async, 7), in_place_(info[6].ToBoolean()) {
    if (rows_.every_id()) throw_type(info.Env(), "mask", "expected a SamplingMask");
    if (rows_.on_device() && !in_place_)
      throw_type(info.Env(), "inPlace",
                 "applyMask on a DeviceTensor masks it in place: pass inPlace: true (download() it for a copy)");
  }

  void run() {
    failure_ = cpu::check_kept_ids(rows_.view(), rows_.logits().rows, rows_.logits().vocab);
    if (failure_.row >= 0) return;
    void* out = rows_.on_device() ? nullptr : rows_.held_logits().data();
    if (!in_place_) {
      result_ = HostBuffer(rows_.logits_bytes().byte_length);
      out = result_.data();
    }
    if (rows_.exec().backend == Backend::kCuda) {
      cuda::apply_mask(rows_.cuda_input(rows_.logits().rows), out, &profile_);
    } else {
      timed(&profile_, [&] {
        cpu::apply_mask(rows_.logits(), rows_.view(), out);
        return RowFailure{};
      });
    }
  }

  Napi::Value finish(Napi::Env env, PendingError* error) {
    if (failure_.row >= 0) {
      *error = row_error(failure_.row, failure_.status);
      return env.Undefined();
    }
    Napi::Object out = Napi::Object::New(env);
    set_profile(env, out, rows_.exec(), profile_);
    if (rows_.on_device()) return out;
    if (!in_place_) {
      const bool is_f32 = rows_.logits().dtype == DType::kFloat32;
      out.Set("data", to_typed_array(env, std::move(result_), is_f32 ? napi_float32_array : napi_uint16_array));
      return out;
    }
    if (!rows_.held_logits().write_back()) {
      *error = {ErrorKind::kType, "ERR_SM_DETACHED", "logits",
                "logits: the buffer was detached or resized while applyMaskAsync ran, so the masked logits could not be written "
                "back",
                -1};
      return env.Undefined();
    }
    out.Set("data", rows_.held_logits().array());
    return out;
  }

 private:
  KeptRows rows_;
  bool in_place_;
  RowFailure failure_;
  HostBuffer result_;
  cuda::MaskProfile profile_;
};

class LogprobsJob {
 public:
  LogprobsJob(const Napi::CallbackInfo& info, bool async)
      : rows_(info, async, 9),
        targets_(info[6], rows_.logits(), async),
        temperature_(read_temperature(info[7], rows_.logits().rows)),
        with_entropy_(info[8].ToBoolean()) {}

  void run() {
    const int64_t rows = rows_.logits().rows;
    logprobs_.resize(rows);
    if (with_entropy_) entropy_.resize(rows);
    float* entropy = with_entropy_ ? entropy_.data() : nullptr;
    if (rows_.exec().backend == Backend::kCuda) {
      failure_ = rows_.on_cuda([&](const cuda::TrainerInput& in) {
        return cuda::masked_logprobs(in, targets_.data(), per_row_view(temperature_), logprobs_.data(), entropy,
                                     &outside_, &profile_);
      });
    } else {
      failure_ = timed(&profile_, [&] {
        return cpu::masked_logprobs(rows_.logits(), rows_.view(), targets_.data(), per_row_view(temperature_),
                                    logprobs_.data(), entropy, &outside_);
      });
    }
  }

  Napi::Value finish(Napi::Env env, PendingError* error) {
    if (failure_.row >= 0) {
      *error = row_error(failure_.row, failure_.status);
      return env.Undefined();
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("logprobs", to_float32_array(env, std::move(logprobs_)));
    if (with_entropy_) out.Set("entropy", to_float32_array(env, std::move(entropy_)));
    out.Set("targetsOutsideMask", Napi::Number::New(env, static_cast<double>(outside_)));
    set_profile(env, out, rows_.exec(), profile_);
    return out;
  }

 private:
  KeptRows rows_;
  Targets targets_;
  std::vector<float> temperature_;
  bool with_entropy_;
  std::vector<float> logprobs_, entropy_;
  int64_t outside_ = 0;
  RowFailure failure_;
  cuda::MaskProfile profile_;
};

class BackwardJob {
 public:
  BackwardJob(const Napi::CallbackInfo& info, bool async)
      : rows_(info, async, 10),
        targets_(info[6], rows_.logits(), async),
        upstream_(read_checked_floats(info[7], rows_.logits().rows, "gradOutput", "finite",
                                      [](float g) { return std::isfinite(g); })),
        temperature_(read_temperature(info[8], rows_.logits().rows)),
        dense_(info[9].ToBoolean()) {}

  void run() {
    const LogitsView& logits = rows_.logits();
    const size_t dense_count = static_cast<size_t>(logits.rows) * static_cast<size_t>(logits.vocab);
    values_ = HostBuffer(sizeof(float) * (rows_.every_id() ? dense_count : rows_.kept_count()));
    auto* values = static_cast<float*>(values_.data());
    if (rows_.exec().backend == Backend::kCuda) {
      failure_ = rows_.on_cuda([&](const cuda::TrainerInput& in) {
        return cuda::masked_logprobs_backward(in, targets_.data(), per_row_view(upstream_),
                                              per_row_view(temperature_), values, &outside_, &profile_);
      });
    } else {
      failure_ = timed(&profile_, [&] {
        return cpu::masked_logprobs_backward(logits, rows_.view(), targets_.data(), per_row_view(upstream_),
                                             per_row_view(temperature_), values, &outside_);
      });
    }
    if (failure_.row >= 0 || !dense_ || rows_.every_id()) return;
    dense_values_ = HostBuffer::zeroed(sizeof(float) * dense_count);
    cpu::scatter_kept(rows_.view(), logits.rows, logits.vocab, values, static_cast<float*>(dense_values_.data()));
  }

  Napi::Value finish(Napi::Env env, PendingError* error) {
    if (failure_.row >= 0) {
      *error = row_error(failure_.row, failure_.status);
      return env.Undefined();
    }
    Napi::Object out = Napi::Object::New(env);
    Napi::TypedArray values = to_typed_array(env, std::move(values_), napi_float32_array);
    out.Set("values", values);
    // Every id kept: the values already are the dense [rows, vocab] gradient.
    if (dense_) out.Set("dense", rows_.every_id() ? values : to_typed_array(env, std::move(dense_values_), napi_float32_array));
    out.Set("targetsOutsideMask", Napi::Number::New(env, static_cast<double>(outside_)));
    set_profile(env, out, rows_.exec(), profile_);
    return out;
  }

 private:
  KeptRows rows_;
  Targets targets_;
  std::vector<float> upstream_, temperature_;
  bool dense_;
  HostBuffer values_, dense_values_;
  int64_t outside_ = 0;
  RowFailure failure_;
  cuda::MaskProfile profile_;
};

}  // namespace

void register_trainer(Napi::Env env, Napi::Object exports) {
  exports.Set("applyMask", Napi::Function::New(env, run_sync<ApplyMaskJob>, "applyMask"));
  exports.Set("applyMaskAsync", Napi::Function::New(env, run_async<ApplyMaskJob>, "applyMaskAsync"));
  exports.Set("maskedLogprobs", Napi::Function::New(env, run_sync<LogprobsJob>, "maskedLogprobs"));
  exports.Set("maskedLogprobsAsync", Napi::Function::New(env, run_async<LogprobsJob>, "maskedLogprobsAsync"));
  exports.Set("maskedLogprobsBackward", Napi::Function::New(env, run_sync<BackwardJob>, "maskedLogprobsBackward"));
  exports.Set("maskedLogprobsBackwardAsync",
              Napi::Function::New(env, run_async<BackwardJob>, "maskedLogprobsBackwardAsync"));
}

}  // namespace sm::binding
