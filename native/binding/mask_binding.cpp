// mask() and maskAsync(): named arguments in, one backend call, CSR out.
#include <napi.h>

#include "args.h"
#include "device_binding.h"
#include "errors.h"
#include "exec.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

// { data, dtype, rows, vocab | data: DeviceTensor, options: { temperature,
//   minP, topK, topP, fillLogits, backend, device, profile } }
class MaskJob {
 public:
  MaskJob(const CallArgs& call, bool async)
      : input_(call, async, AutoPicks::kCudaWhenUsable),
        params_(read_params(call, input_.view().rows)),
        fill_(read_flag(call, "fillLogits")) {}

  void run() {
    result_ = input_.backend().mask(input_.logits(), params_.view(), fill_, input_.exec().profile ? &profile_ : nullptr);
  }

  Napi::Value finish(Napi::Env env, PendingError* error) {
    if (row_failed(RowFailure{result_.error_row, result_.error}, error)) return env.Undefined();
    if (result_.too_many_ids) {
      *error = PendingError::make(ErrorKind::kRange, ErrorCode::kOutOfRange, "logits",
                                  "logits: the batch keeps more than 2^31 - 1 ids in all; split it");
      return env.Undefined();
    }
    if (fill_ && !input_.held().write_back()) {
      *error = detached_error("logits", "fillLogits could not write back");
      return env.Undefined();
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("offsets", to_int32_array(env, std::move(result_.offsets)));
    out.Set("indices", to_int32_array(env, std::move(result_.indices)));
    set_profile(env, out, input_.exec(), profile_);
    return out;
  }

 private:
  LogitsInput input_;
  ParamsArg params_;
  bool fill_;
  Profile profile_;
  MaskRowsResult result_;
};

}  // namespace

void register_mask(Napi::Env env, Napi::Object exports) {
  export_job<MaskJob>(env, exports, "mask");
}

}  // namespace sm::binding
