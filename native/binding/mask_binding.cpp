// mask() and sample() (and their async forms): named arguments in, one
// backend call, CSR (and tokens) out.
#include <napi.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../host/skip_rows.h"
#include "args.h"
#include "device_binding.h"
#include "draw_keys.h"
#include "errors.h"
#include "exec.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

// onInvalidRow: 'throw' (default) fails the call on the first row without a
// mask; 'skip' masks every other row as if alone and reports the rest.
InvalidRows read_invalid_rows(const CallArgs& call) {
  const Napi::Value value = call.option("onInvalidRow");
  if (value.IsUndefined()) return InvalidRows::kFailBatch;
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "throw") return InvalidRows::kFailBatch;
  if (name != "skip") throw_type(call.env(), "onInvalidRow", "expected 'throw' or 'skip'");
  return InvalidRows::kSkip;
}

// On host logits 'auto' runs the joint filter order on the CPU: the CUDA
// kernels have the sequential one only, for now.
AutoPicks auto_picks_for(const CallArgs& call) {
  return read_filter_order(call) == FilterOrder::kJoint ? AutoPicks::kCpu : AutoPicks::kCudaWhenUsable;
}

// True when the batch has no mask; *error then says why.
bool mask_failed(const MaskRowsResult& result, PendingError* error) {
  if (row_failed(RowFailure{result.error_row, result.error}, error)) return true;
  if (!result.too_many_ids) return false;
  *error = PendingError::make(ErrorKind::kRange, ErrorCode::kOutOfRange, "logits",
                              "logits: the batch keeps more than 2^31 - 1 ids in all; split it");
  return true;
}

void set_csr(Napi::Env env, Napi::Object out, MaskRowsResult&& result) {
  out.Set("offsets", to_int32_array(env, std::move(result.offsets)));
  out.Set("indices", to_int32_array(env, std::move(result.indices)));
}

// { data, dtype, rows, vocab | data: DeviceTensor, options: { temperature,
//   minP, topK, topP, filterOrder, fillLogits, onInvalidRow, backend, device,
//   profile } }
class MaskJob {
 public:
  MaskJob(const CallArgs& call, bool async)
      : input_(call, async, auto_picks_for(call)),
        invalid_rows_(read_invalid_rows(call)),
        params_(read_params(call, input_.view().rows, invalid_rows_ == InvalidRows::kSkip)),
        fill_(read_flag(call, "fillLogits")) {}

  void run() {
    result_ = input_.backend().mask(input_.logits(), params_.view(), fill_, invalid_rows_,
                                    input_.exec().profile ? &profile_ : nullptr);
    if (params_.invalid_rows.empty() || result_.too_many_ids) return;
    std::vector<bool> drop(static_cast<size_t>(input_.view().rows), false);
    for (const auto& invalid : params_.invalid_rows) drop[invalid.first] = true;
    host::drop_rows(&result_, drop);
  }

  Napi::Value finish(Napi::Env env, PendingError* error) {
    if (mask_failed(result_, error)) return env.Undefined();
    if (fill_ && !input_.held().write_back()) {
      *error = detached_error("logits", "fillLogits could not write back");
      return env.Undefined();
    }
    Napi::Object out = Napi::Object::New(env);
    if (invalid_rows_ == InvalidRows::kSkip) set_row_validity(env, out);
    set_csr(env, out, std::move(result_));
    set_profile(env, out, input_.exec(), profile_);
    return out;
  }

 private:
  // valid: Uint8Array (1 = masked), errors: the error of each skipped row,
  // ascending: its parameter's when it has one, else what masking found.
  void set_row_validity(Napi::Env env, Napi::Object out) const {
    const int64_t rows = input_.view().rows;
    Napi::Uint8Array valid_array = Napi::Uint8Array::New(env, static_cast<size_t>(rows));
    uint8_t* valid = valid_array.Data();
    std::fill(valid, valid + rows, uint8_t{1});
    std::vector<std::pair<int64_t, PendingError>> skipped = params_.invalid_rows;
    for (const auto& invalid : params_.invalid_rows) valid[invalid.first] = 0;
    for (const RowFailure& failure : result_.skipped) {
      if (valid[failure.row] == 0) continue;
      skipped.emplace_back(failure.row, row_error(failure.row, failure.status));
      valid[failure.row] = 0;
    }
    std::sort(skipped.begin(), skipped.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Napi::Array errors = Napi::Array::New(env, skipped.size());
    for (size_t i = 0; i < skipped.size(); ++i) errors[i] = skipped[i].second.to_js(env).Value();
    out.Set("valid", valid_array);
    out.Set("errors", errors);
  }

  LogitsInput input_;
  InvalidRows invalid_rows_;
  ParamsArg params_;
  bool fill_;
  Profile profile_;
  MaskRowsResult result_;
};

// A boolean option that defaults to true.
bool read_flag_on_by_default(const CallArgs& call, const char* name) {
  return call.option(name).IsUndefined() || read_flag(call, name);
}

// { data, dtype, rows, vocab | data: DeviceTensor, options: { temperature,
//   minP, topK, topP, filterOrder, seed, stream, step, mask, fullLogprobs,
//   backend, device, profile } }. On host logits 'auto' means the CPU: only
//   the CPU backend samples, for now. A row without a mask fails the call.
class SampleJob {
 public:
  SampleJob(const CallArgs& call, bool async)
      : input_(call, async, AutoPicks::kCpu),
        params_(read_params(call, input_.view().rows)),
        keys_(call, input_.view().rows),
        with_mask_(read_flag_on_by_default(call, "mask")),
        full_logprobs_(read_flag(call, "fullLogprobs")) {
    if (!call.option("fillLogits").IsUndefined())
      throw_type(
          call.env(), "fillLogits",
          "sample() leaves the logits as they are: mask them with applyMask(logits, result.mask, { inPlace: true })");
    if (!call.option("onInvalidRow").IsUndefined())
      throw_type(call.env(), "onInvalidRow",
                 "sample() draws a token for every row: a row without a mask fails the call");
  }

  void run() {
    result_ = input_.backend().sample(input_.logits(), params_.view(), keys_.view(), full_logprobs_,
                                      input_.exec().profile ? &profile_ : nullptr);
  }

  Napi::Value finish(Napi::Env env, PendingError* error) {
    if (mask_failed(result_.mask, error)) return env.Undefined();
    Napi::Object out = Napi::Object::New(env);
    out.Set("tokens", to_int32_array(env, std::move(result_.tokens)));
    out.Set("logprobs", to_float32_array(env, std::move(result_.logprobs)));
    if (full_logprobs_) out.Set("fullLogprobs", to_float32_array(env, std::move(result_.full_logprobs)));
    if (with_mask_) set_csr(env, out, std::move(result_.mask));
    set_profile(env, out, input_.exec(), profile_);
    return out;
  }

 private:
  LogitsInput input_;
  ParamsArg params_;
  DrawKeysArg keys_;
  bool with_mask_, full_logprobs_;
  Profile profile_;
  SampleRowsResult result_;
};

}  // namespace

void register_mask(Napi::Env env, Napi::Object exports) {
  export_job<MaskJob>(env, exports, "mask");
  export_job<SampleJob>(env, exports, "sample");
}

}  // namespace sm::binding
