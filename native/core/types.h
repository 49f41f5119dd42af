// Shapes, storage formats and per-row outcomes shared by every backend.
#pragma once

#include <cstdint>

#include "portable.h"

namespace sm {

enum class DType : uint8_t { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2 };

SM_HD int dtype_bytes(DType dtype) { return dtype == DType::kFloat32 ? 4 : 2; }

// Storage traits: how a stored logit widens to f32 and how -inf is written
// in the same format (kNegInf is data, not code, so per-ISA CPU kernels can
// use it without sharing an inline function across -march settings).
struct F32Storage {
  using Stored = float;
  static constexpr DType kDType = DType::kFloat32;
  SM_HD_MEMBER static float load(Stored v) { return v; }
  static constexpr Stored kNegInfStored = kNegInf;
};
struct BF16Storage {
  using Stored = uint16_t;
  static constexpr DType kDType = DType::kBFloat16;
  SM_HD_MEMBER static float load(Stored v) { return bf16_to_float(v); }
  static constexpr Stored kNegInfStored = kBf16NegInf;
};
struct F16Storage {
  using Stored = uint16_t;
  static constexpr DType kDType = DType::kFloat16;
  SM_HD_MEMBER static float load(Stored v) { return f16_to_float(v); }
  static constexpr Stored kNegInfStored = kF16NegInf;
};

// Calls fn(StorageTag{}) for the storage type of dtype: the one dispatch point
// from a runtime dtype to templated kernels.
template <class Fn>
decltype(auto) with_storage(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kBFloat16: return fn(BF16Storage{});
    case DType::kFloat16: return fn(F16Storage{});
    case DType::kFloat32: break;
  }
  return fn(F32Storage{});
}

// A batch of logits rows, row-major, contiguous.
struct LogitsView {
  void* data;
  DType dtype;
  int64_t rows;
  int64_t vocab;
};

// Why a row has no mask. The binding turns these into JS errors that name
// the row, the column or the parameter.
enum class RowError : uint8_t {
  kNone = 0,
  kInvalidLogit,       // NaN or +inf at `column`
  kNoFiniteLogit,      // every entry is -inf
  kScaledOverflow,     // the row maximum / temperature is not finite
  kInvalidMask,        // kept ids not strictly ascending in [0, vocab); `column` = the id
  kNoFiniteKeptLogit,  // no kept id has a finite logit (or the row keeps none)
};

struct RowStatus {
  RowError error = RowError::kNone;
  int64_t column = -1;
};

}  // namespace sm
