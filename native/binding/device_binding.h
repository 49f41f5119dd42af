// DeviceTensor handles as operations receive them.
#pragma once

#include <napi.h>

#include <memory>

#include "../host/backend.h"
#include "args.h"
#include "exec.h"

namespace sm::binding {

bool is_device_tensor(const Napi::Value& value);
// The tensor's device memory, shared so that a running job keeps it alive
// past free(); a TypeError if it is not a DeviceTensor or was freed.
std::shared_ptr<ResidentLogits> read_device_tensor(const Napi::Value& value, const char* argument);

// Logits given as host rows (fields data, dtype, rows, vocab) or as a
// DeviceTensor handle in `data`, and the backend that runs on them.
class LogitsInput {
 public:
  LogitsInput(const CallArgs& call, bool async, AutoPicks auto_picks);

  const Logits& logits() const { return logits_; }
  const LogitsView& view() const { return logits_.view; }
  bool resident() const { return resident_ != nullptr; }
  const Exec& exec() const { return exec_; }
  Backend& backend() const { return *exec_.backend; }
  const TypedBytes& host_bytes() const { return host_bytes_; }
  const HeldBytes& held() const { return held_; }

 private:
  std::shared_ptr<ResidentLogits> resident_;
  TypedBytes host_bytes_;
  HeldBytes held_;
  Logits logits_;
  Exec exec_;
};

}  // namespace sm::binding
