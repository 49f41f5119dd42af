// DeviceTensor handles as operations receive them.
#pragma once

#include <napi.h>

#include <memory>

#include "../cuda/cuda_backend.h"

namespace sm::binding {

bool is_device_tensor(const Napi::Value& value);
// The tensor's device memory, shared so that a running job keeps it alive
// past free(); a TypeError if it is not a DeviceTensor or was freed.
std::shared_ptr<cuda::DeviceLogits> read_device_tensor(const Napi::Value& value, const char* argument);

}  // namespace sm::binding
