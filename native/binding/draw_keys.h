// The keys of sample()'s draws: options seed, stream and step, read and
// checked on the JS thread and copied so async work owns them.
#pragma once

#include <napi.h>

#include <cstdint>
#include <vector>

#include "../core/sample.h"
#include "args.h"

namespace sm::binding {

class DrawKeysArg {
 public:
  // seed: an integer in [0, 2^64), number or bigint (required). stream: one
  // for all rows or one per row, in [0, 2^64) (default 0). step: likewise, in
  // [0, 2^32) (required).
  DrawKeysArg(const CallArgs& call, int64_t rows);
  BatchDrawKeys view() const;

 private:
  uint64_t seed_ = 0;
  std::vector<uint64_t> stream_;
  std::vector<uint32_t> step_;
};

}  // namespace sm::binding
