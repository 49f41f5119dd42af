// applyMask, maskedLogprobs and maskedLogprobsBackward (sync and async):
// named arguments in, one backend call each.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "../host/kept_ids.h"
#include "args.h"
#include "device_binding.h"
#include "errors.h"
#include "exec.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

std::string at_row(int64_t row) { return row >= 0 ? " at row " + std::to_string(row) : std::string(); }

// Logits rows (host or a DeviceTensor) and the ids each keeps (fields
// offsets and indices; both null: every id): what every trainer operation
// starts from. On host logits 'auto' runs on the CPU, which reads only the
// kept entries, where CUDA would first upload every logit.
class KeptRowsInput {
 public:
  KeptRowsInput(const CallArgs& call, bool async)
      : input_(call, async, AutoPicks::kCpu), kept_(read_kept_ids(call, input_.view().rows, async)) {}

  const LogitsInput& input() const { return input_; }
  const LogitsView& view() const { return input_.view(); }
  bool every_id() const { return kept_.all; }
  KeptRows rows() const {
    KeptRows rows;
    rows.logits = input_.logits();
    if (kept_.all) return rows;
    rows.kept =
        KeptIds{static_cast<const int32_t*>(kept_.offsets.data()), static_cast<const int32_t*>(kept_.indices.data())};
    rows.kept_count = static_cast<int64_t>(kept_.index_count);
    return rows;
  }
  Backend& backend() const { return input_.backend(); }
  const Exec& exec() const { return input_.exec(); }

 private:
  LogitsInput input_;
  KeptIdsArg kept_;
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
        throw_range(
            env, "targets",
            "must be ids in [0, " + std::to_string(logits.vocab) + "), got " + std::to_string(ids[r]) + at_row(r), r);
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

// The sampler's temperature (option temperature; default 1).
std::vector<float> read_temperature(const CallArgs& call, int64_t rows) {
  const Napi::Value value = call.option("temperature");
  if (value.IsUndefined()) return {1.0f};
  return read_checked_floats(value, rows, "temperature", "a finite number > 0 (the sampler's temperature)",
                             trainer_temperature_valid);
}

Profile* profile_of(const KeptRowsInput& rows, Profile* profile) { return rows.exec().profile ? profile : nullptr; }

// { ...logits, offsets, indices, options: { inPlace, backend, device, profile } }
class ApplyMaskJob {
 public:
  ApplyMaskJob(const CallArgs& call, bool async) : rows_(call, async), in_place_(read_flag(call, "inPlace")) {
    if (rows_.every_id()) throw_type(call.env(), "mask", "expected a SamplingMask");
    if (rows_.input().resident() && !in_place_)
      throw_type(call.env(), "inPlace",
                 "applyMask on a DeviceTensor masks it in place: pass inPlace: true (download() it for a copy)");
  }

  void run() {
    void* out = rows_.input().resident() ? nullptr : rows_.input().held().data();
    if (!in_place_) {
      result_ = HostBuffer(rows_.input().host_bytes().byte_length);
      out = result_.data();
    }
    failure_ = rows_.backend().apply_mask(rows_.rows(), out, profile_of(rows_, &profile_));
  }

  Napi::Value finish(Napi::Env env, PendingError* error) {
    if (row_failed(failure_, error)) return env.Undefined();
    Napi::Object out = Napi::Object::New(env);
    set_profile(env, out, rows_.exec(), profile_);
    if (rows_.input().resident()) return out;
    if (!in_place_) {
      const bool is_f32 = rows_.view().dtype == DType::kFloat32;
      out.Set("data", to_typed_array(env, std::move(result_), is_f32 ? napi_float32_array : napi_uint16_array));
      return out;
    }
    if (!rows_.input().held().write_back()) {
      *error = detached_error("logits", "the masked logits could not be written back");
      return env.Undefined();
    }
    out.Set("data", rows_.input().held().array());
    return out;
  }

 private:
  KeptRowsInput rows_;
  bool in_place_;
  RowFailure failure_;
  HostBuffer result_;
  Profile profile_;
};

// What both log-prob operations read (the kept rows, one target per row and
// the sampler's temperature) and report besides their values.
class TargetRowsJob {
 protected:
  TargetRowsJob(const CallArgs& call, bool async)
      : rows_(call, async),
        targets_(call["targets"], rows_.view(), async),
        temperature_(read_temperature(call, rows_.view().rows)) {}

  // Null when the call failed (the error is set); else the result object with the shared fields.
  Napi::Object start_result(Napi::Env env, PendingError* error) {
    if (row_failed(failure_, error)) return Napi::Object();
    Napi::Object out = Napi::Object::New(env);
    out.Set("targetsOutsideMask", Napi::Number::New(env, static_cast<double>(outside_)));
    set_profile(env, out, rows_.exec(), profile_);
    return out;
  }
  Profile* profile() { return profile_of(rows_, &profile_); }

  KeptRowsInput rows_;
  Targets targets_;
  std::vector<float> temperature_;
  int64_t outside_ = 0;
  RowFailure failure_;

 private:
  Profile profile_;
};

// { ...logits, offsets, indices, targets, options: { temperature, entropy, backend, device, profile } }
class LogprobsJob : TargetRowsJob {
 public:
  LogprobsJob(const CallArgs& call, bool async)
      : TargetRowsJob(call, async), with_entropy_(read_flag(call, "entropy")) {}

  void run() {
    const int64_t rows = rows_.view().rows;
    logprobs_.resize(rows);
    if (with_entropy_) entropy_.resize(rows);
    failure_ = rows_.backend().masked_logprobs(rows_.rows(), targets_.data(), per_row_view(temperature_),
                                               logprobs_.data(), with_entropy_ ? entropy_.data() : nullptr, &outside_,
                                               profile());
  }

  Napi::Value finish(Napi::Env env, PendingError* error) {
    Napi::Object out = start_result(env, error);
    if (out.IsEmpty()) return env.Undefined();
    out.Set("logprobs", to_float32_array(env, std::move(logprobs_)));
    if (with_entropy_) out.Set("entropy", to_float32_array(env, std::move(entropy_)));
    return out;
  }

 private:
  bool with_entropy_;
  std::vector<float> logprobs_, entropy_;
};

// { ...logits, offsets, indices, targets, gradOutput, options: { temperature, dense, backend, device, profile } }
class BackwardJob : TargetRowsJob {
 public:
  BackwardJob(const CallArgs& call, bool async)
      : TargetRowsJob(call, async),
        upstream_(read_checked_floats(call["gradOutput"], rows_.view().rows, "gradOutput", "finite",
                                      [](float g) { return std::isfinite(g); })),
        dense_(read_flag(call, "dense")) {}

  void run() {
    const LogitsView& logits = rows_.view();
    const KeptRows rows = rows_.rows();
    const size_t dense_count = static_cast<size_t>(logits.rows) * static_cast<size_t>(logits.vocab);
    values_ = HostBuffer(sizeof(float) * (rows_.every_id() ? dense_count : static_cast<size_t>(rows.kept_count)));
    auto* values = values_.as<float>();
    failure_ = rows_.backend().masked_logprobs_backward(rows, targets_.data(), per_row_view(upstream_),
                                                        per_row_view(temperature_), values, &outside_, profile());
    if (failure_.row >= 0 || !dense_ || rows_.every_id()) return;
    dense_values_ = HostBuffer::zeroed(sizeof(float) * dense_count);
    host::scatter_kept(*rows_.backend().host_pool(), rows.kept, logits.rows, logits.vocab, values,
                       dense_values_.as<float>());
  }

  Napi::Value finish(Napi::Env env, PendingError* error) {
    Napi::Object out = start_result(env, error);
    if (out.IsEmpty()) return env.Undefined();
    Napi::TypedArray values = to_typed_array(env, std::move(values_), napi_float32_array);
    out.Set("values", values);
    // Every id kept: the values already are the dense [rows, vocab] gradient.
    if (dense_)
      out.Set("dense", rows_.every_id() ? values : to_typed_array(env, std::move(dense_values_), napi_float32_array));
    return out;
  }

 private:
  std::vector<float> upstream_;
  bool dense_;
  HostBuffer values_, dense_values_;
};

}  // namespace

void register_trainer(Napi::Env env, Napi::Object exports) {
  export_job<ApplyMaskJob>(env, exports, "applyMask");
  export_job<LogprobsJob>(env, exports, "maskedLogprobs");
  export_job<BackwardJob>(env, exports, "maskedLogprobsBackward");
}

}  // namespace sm::binding
