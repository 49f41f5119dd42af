// mask() and maskAsync(): argument checks, then one backend call.
#include <napi.h>

#include <cstring>
#include <memory>
#include <string>

#include "../cpu/mask_cpu.h"
#include "args.h"
#include "errors.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

// One mask() call: arguments in, CSR out. Runs on the JS thread (sync) or on
// libuv's pool (async); only run() may execute off the JS thread.
class MaskJob {
 public:
  MaskJob(const Napi::CallbackInfo& info, bool async)
      : logits_(read_logits(info, 0, "logits")),
        params_(read_params(info[4], logits_.view.rows)),
        fill_(info[5].ToBoolean()),
        held_(logits_.bytes, async) {
    logits_.view.data = held_.data();
  }

  void run() { result_ = cpu::mask_rows(logits_.view, params_.view(), fill_); }

  // Builds the JS result, or the error to throw.
  Napi::Value finish(Napi::Env env, PendingError* error) {
    if (result_.error_row >= 0) {
      *error = row_error(result_.error_row, result_.error);
      return env.Undefined();
    }
    if (result_.too_many_ids) {
      *error = {ErrorKind::kRange, "ERR_SM_OUT_OF_RANGE", "logits",
                "logits: the batch keeps more than 2^31 - 1 ids in all; split it", -1};
      return env.Undefined();
    }
    if (fill_ && !held_.write_back()) {
      *error = {ErrorKind::kType, "ERR_SM_DETACHED", "logits",
                "logits: the buffer was detached while maskAsync ran, so fillLogits could not write back", -1};
      return env.Undefined();
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("offsets", to_int32_array(env, std::move(result_.offsets)));
    out.Set("indices", to_int32_array(env, std::move(result_.indices)));
    return out;
  }

 private:
  LogitsArg logits_;
  ParamsArg params_;
  bool fill_;
  HeldBytes held_;
  cpu::MaskRowsResult result_;
};

}  // namespace

void register_mask(Napi::Env env, Napi::Object exports) {
  exports.Set("mask", Napi::Function::New(env, run_sync<MaskJob>, "mask"));
  exports.Set("maskAsync", Napi::Function::New(env, run_async<MaskJob>, "maskAsync"));
}

}  // namespace sm::binding
