// Device-resident logits for the DeviceTensor class: toDevice uploads once,
// operations take the handle instead of host data, download() copies back,
// and the memory goes with free() or with the handle's garbage collection
// (without waiting for the device: see ResidentLogits' owners).
#include "device_binding.h"

#include <memory>

#include "errors.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

// Marks the externals this addon made, so no other object passes for one.
constexpr napi_type_tag kDeviceTensorTag = {0x9b1c2f7e4d8a4c31ull, 0xa5e0b3d27f6c9e18ull};

struct DeviceTensorHandle {
  std::shared_ptr<ResidentLogits> logits;  // null once freed
};

DeviceTensorHandle* unwrap(const Napi::Value& value, const char* argument) {
  if (!is_device_tensor(value)) throw_type(value.Env(), argument, "expected a DeviceTensor");
  return value.As<Napi::External<DeviceTensorHandle>>().Data();
}

// toDevice({ data, dtype, rows, vocab, device }): uploads host logits.
class UploadJob {
 public:
  UploadJob(const CallArgs& call, bool async)
      : logits_(read_logits(call)), exec_(read_cuda_exec(call, "toDevice")), held_(logits_.bytes, async) {
    logits_.view.data = held_.data();
  }

  void run() { uploaded_ = exec_.backend->upload(logits_.view); }

  Napi::Value finish(Napi::Env env, PendingError*) {
    auto handle = Napi::External<DeviceTensorHandle>::New(env, new DeviceTensorHandle{std::move(uploaded_)},
                                                          [](Napi::Env, DeviceTensorHandle* h) { delete h; });
    handle.TypeTag(&kDeviceTensorTag);
    return handle;
  }

 private:
  LogitsArg logits_;
  Exec exec_;
  HeldBytes held_;
  std::shared_ptr<ResidentLogits> uploaded_;
};

// deviceDownload({ tensor }): the logits as a new Float32Array / Uint16Array.
class DownloadJob {
 public:
  DownloadJob(const CallArgs& call, bool) : logits_(read_device_tensor(call["tensor"], "tensor")) {}

  void run() {
    bytes_ = HostBuffer(logits_->bytes());
    logits_->download(bytes_.data());
  }

  Napi::Value finish(Napi::Env env, PendingError*) {
    const bool is_f32 = logits_->view().dtype == DType::kFloat32;
    return to_typed_array(env, std::move(bytes_), is_f32 ? napi_float32_array : napi_uint16_array);
  }

 private:
  std::shared_ptr<ResidentLogits> logits_;
  HostBuffer bytes_;
};

Napi::Value device_free(const Napi::CallbackInfo& info) {
  unwrap(info[0], "tensor")->logits.reset();
  return info.Env().Undefined();
}

}  // namespace

bool is_device_tensor(const Napi::Value& value) {
  if (!value.IsExternal()) return false;
  return value.As<Napi::External<DeviceTensorHandle>>().CheckTypeTag(&kDeviceTensorTag);
}

std::shared_ptr<ResidentLogits> read_device_tensor(const Napi::Value& value, const char* argument) {
  std::shared_ptr<ResidentLogits> logits = unwrap(value, argument)->logits;
  if (!logits) throw_type(value.Env(), argument, "the DeviceTensor was freed");
  return logits;
}

LogitsInput::LogitsInput(const CallArgs& call, bool async, AutoPicks auto_picks) {
  if (is_device_tensor(call["data"])) {
    resident_ = read_device_tensor(call["data"], "logits");
    exec_ = read_resident_exec(call, *resident_);
    logits_ = Logits{resident_->view(), resident_.get()};
    return;
  }
  LogitsArg host = read_logits(call);
  exec_ = read_exec(call, auto_picks);
  host_bytes_ = host.bytes;
  held_ = HeldBytes(host.bytes, async);
  host.view.data = held_.data();
  logits_ = Logits{host.view, nullptr};
}

void register_device(Napi::Env env, Napi::Object exports) {
  export_job<UploadJob>(env, exports, "toDevice");
  exports.Set("deviceDownload", Napi::Function::New(env, run_sync<DownloadJob>, "deviceDownload"));
  exports.Set("deviceFree", Napi::Function::New(env, guarded<device_free>, "deviceFree"));
}

}  // namespace sm::binding
