#include <napi.h>

#include "errors.h"
#include "exports.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  sm::binding::register_error_codes(env, exports);
  sm::binding::register_backends(env, exports);
  sm::binding::register_mask(env, exports);
  sm::binding::register_device(env, exports);
  sm::binding::register_codec(env, exports);
  sm::binding::register_trainer(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(sampling_mask, init)
