// Each operation family registers its functions on the addon's exports.
#pragma once

#include <napi.h>

namespace sm::binding {

void register_backends(Napi::Env env, Napi::Object exports);
void register_mask(Napi::Env env, Napi::Object exports);
void register_device(Napi::Env env, Napi::Object exports);
void register_codec(Napi::Env env, Napi::Object exports);
void register_trainer(Napi::Env env, Napi::Object exports);

}  // namespace sm::binding
