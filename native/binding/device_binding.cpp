// Device-resident logits for the DeviceTensor class: toDevice uploads once,
// operations take the handle instead of host data, download() copies back,
// and the memory goes with free() or with the handle's garbage collection.
#include "device_binding.h"

#include <cstring>
#include <memory>
#include <vector>

#include "args.h"
#include "errors.h"
#include "exec.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

// Marks the externals this addon made, so no other object passes for one.
constexpr napi_type_tag kDeviceTensorTag = {0x9b1c2f7e4d8a4c31ull, 0xa5e0b3d27f6c9e18ull};

struct DeviceTensorHandle {
  std::shared_ptr<cuda::DeviceLogits> logits;  // null once freed
};

DeviceTensorHandle* unwrap(const Napi::Value& value, const char* argument) {
  if (!is_device_tensor(value)) throw_type(value.Env(), argument, "expected a DeviceTensor");
  return value.As<Napi::External<DeviceTensorHandle>>().Data();
}

// toDevice(data, dtype, rows, vocab, options): uploads host logits.
class UploadJob {
 public:
  UploadJob(const Napi::CallbackInfo& info, bool async) : logits_(read_logits(info, 0, "logits")) {
    exec_ = read_exec(info[4]);
    if (exec_.backend != Backend::kCuda) {
      // 'auto' that resolved to the CPU: a device tensor needs CUDA all the same.
      throw_error(info.Env(), ErrorKind::kError, "ERR_SM_CUDA_UNAVAILABLE", "backend",
                  "toDevice: CUDA cannot run here: " + cuda_unusable_reason(exec_.device));
    }
    held_ = HeldBytes(logits_.bytes, async);
    logits_.view.data = held_.data();
  }

  void run() { uploaded_ = cuda::DeviceLogits::upload(logits_.view, exec_.device); }

  Napi::Value finish(Napi::Env env, PendingError*) {
    auto handle = Napi::External<DeviceTensorHandle>::New(
        env, new DeviceTensorHandle{std::move(uploaded_)}, [](Napi::Env, DeviceTensorHandle* h) { delete h; });
    handle.TypeTag(&kDeviceTensorTag);
    return handle;
  }

 private:
  LogitsArg logits_;
  Exec exec_;
  HeldBytes held_;
  std::shared_ptr<cuda::DeviceLogits> uploaded_;
};

// deviceDownload(handle): the logits as a new Float32Array / Uint16Array.
class DownloadJob {
 public:
  DownloadJob(const Napi::CallbackInfo& info, bool) : logits_(read_device_tensor(info[0], "tensor")) {}

  void run() {
    bytes_.resize(logits_->bytes());
    logits_->download(bytes_.data());
  }

  Napi::Value finish(Napi::Env env, PendingError*) {
    const size_t length = bytes_.size();
    auto* owned = new std::vector<uint8_t>(std::move(bytes_));
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
        env, owned->data(), length, [](Napi::Env, void*, std::vector<uint8_t>* v) { delete v; }, owned);
    if (logits_->view().dtype == DType::kFloat32) return Napi::Float32Array::New(env, length / 4, buffer, 0);
    return Napi::Uint16Array::New(env, length / 2, buffer, 0);
  }

 private:
  std::shared_ptr<cuda::DeviceLogits> logits_;
  std::vector<uint8_t> bytes_;
};

// cudaCopyBandwidth(bytes, device): GB/s of a device-to-device copy (read + write).
class BandwidthJob {
 public:
  BandwidthJob(const Napi::CallbackInfo& info, bool)
      : bytes_(static_cast<size_t>(read_count(info[0], "bytes", 1 << 20, int64_t{1} << 40))) {
    Napi::Object options = Napi::Object::New(info.Env());
    options.Set("backend", "cuda");
    options.Set("device", info[1]);
    device_ = read_exec(options).device;
  }
  void run() { gb_per_s_ = cuda::copy_bandwidth(device_, bytes_); }
  Napi::Value finish(Napi::Env env, PendingError*) { return Napi::Number::New(env, gb_per_s_); }

 private:
  size_t bytes_;
  int device_ = 0;
  double gb_per_s_ = 0;
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

std::shared_ptr<cuda::DeviceLogits> read_device_tensor(const Napi::Value& value, const char* argument) {
  std::shared_ptr<cuda::DeviceLogits> logits = unwrap(value, argument)->logits;
  if (!logits) throw_type(value.Env(), argument, "the DeviceTensor was freed");
  return logits;
}

void register_device(Napi::Env env, Napi::Object exports) {
  exports.Set("toDevice", Napi::Function::New(env, run_sync<UploadJob>, "toDevice"));
  exports.Set("toDeviceAsync", Napi::Function::New(env, run_async<UploadJob>, "toDeviceAsync"));
  exports.Set("deviceDownload", Napi::Function::New(env, run_sync<DownloadJob>, "deviceDownload"));
  exports.Set("deviceFree", Napi::Function::New(env, device_free, "deviceFree"));
  exports.Set("cudaCopyBandwidth", Napi::Function::New(env, run_sync<BandwidthJob>, "cudaCopyBandwidth"));
}

}  // namespace sm::binding
