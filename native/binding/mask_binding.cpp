// mask() and maskAsync(): argument checks, then one backend call.
#include <napi.h>

#include <cstring>
#include <memory>
#include <string>

#include "../cpu/mask_cpu.h"
#include "../cuda/cuda_backend.h"
#include "args.h"
#include "device_binding.h"
#include "errors.h"
#include "exec.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

// One mask() call: arguments in, CSR out. Runs on the JS thread (sync) or on
// libuv's pool (async); only run() may execute off the JS thread. Logits are
// host data (data, dtype, rows, vocab) or a DeviceTensor handle in place of
// data; info[6] holds the backend options.
class MaskJob {
 public:
  MaskJob(const Napi::CallbackInfo& info, bool async) : fill_(info[5].ToBoolean()) {
    if (is_device_tensor(info[0])) {
      device_logits_ = read_device_tensor(info[0], "logits");
      exec_ = read_device_exec(info[6], device_logits_->device());
      params_ = read_params(info[4], device_logits_->view().rows);
      return;
    }
    logits_ = read_logits(info, 0, "logits");
    params_ = read_params(info[4], logits_.view.rows);
    exec_ = read_exec(info[6]);
    held_ = HeldBytes(logits_.bytes, async);
    logits_.view.data = held_.data();
  }

  void run() {
    cuda::MaskProfile* profile = exec_.profile ? &profile_ : nullptr;
    if (device_logits_) {
      result_ = cuda::mask_rows(*device_logits_, params_.view(), fill_, profile);
    } else if (exec_.backend == Backend::kCuda) {
      result_ = cuda::mask_rows(logits_.view, params_.view(), fill_, exec_.device, profile);
    } else {
      result_ = timed(&profile_, [&] { return cpu::mask_rows(logits_.view, params_.view(), fill_); });
    }
  }

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
                "logits: the buffer was detached or resized while maskAsync ran, so fillLogits could not write back", -1};
      return env.Undefined();
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("offsets", to_int32_array(env, std::move(result_.offsets)));
    out.Set("indices", to_int32_array(env, std::move(result_.indices)));
    set_profile(env, out, exec_, profile_);
    return out;
  }

 private:
  LogitsArg logits_;
  std::shared_ptr<cuda::DeviceLogits> device_logits_;  // instead of logits_
  ParamsArg params_;
  Exec exec_;
  cuda::MaskProfile profile_;
  bool fill_;
  HeldBytes held_;
  MaskRowsResult result_;
};

}  // namespace

void register_mask(Napi::Env env, Napi::Object exports) {
  exports.Set("mask", Napi::Function::New(env, run_sync<MaskJob>, "mask"));
  exports.Set("maskAsync", Napi::Function::New(env, run_async<MaskJob>, "maskAsync"));
}

}  // namespace sm::binding
