// Baselines for `npm run bench` (native/cpu/baselines.h), on the same
// argument checks as mask().
#include <napi.h>

#include "../cpu/baselines.h"
#include "args.h"
#include "exports.h"

namespace sm::binding {
namespace {

Napi::Value read_once(const Napi::CallbackInfo& info) {
  const LogitsArg logits = read_logits(info, 0, "logits");
  return Napi::Number::New(info.Env(), cpu::read_once(logits.view));
}

Napi::Value sort_based_mask(const Napi::CallbackInfo& info) {
  const LogitsArg logits = read_logits(info, 0, "logits");
  const ParamsArg params = read_params(info[4], logits.view.rows);
  return Napi::Number::New(info.Env(), static_cast<double>(cpu::sort_based_mask(logits.view, params.view())));
}

}  // namespace

void register_baselines(Napi::Env env, Napi::Object exports) {
  Napi::Object baselines = Napi::Object::New(env);
  baselines.Set("readOnce", Napi::Function::New(env, read_once, "readOnce"));
  baselines.Set("sortBasedMask", Napi::Function::New(env, sort_based_mask, "sortBasedMask"));
  exports.Set("baselines", baselines);
}

}  // namespace sm::binding
