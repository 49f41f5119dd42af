#include "draw_keys.h"

#include <cmath>
#include <string>

#include "errors.h"

namespace sm::binding {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1: larger numbers may not be what was meant

std::string at_row(int64_t row) { return row >= 0 ? " at row " + std::to_string(row) : std::string(); }

// An integer key in [0, max] from a number or a bigint.
uint64_t key_integer(const Napi::Value& value, const char* argument, uint64_t max, const char* range, int64_t row) {
  Napi::Env env = value.Env();
  auto out_of_range = [&](const std::string& got) {
    throw_error(env, ErrorKind::kRange, ErrorCode::kOutOfRange, argument,
                std::string(argument) + ": must be an integer in " + range + at_row(row) + ", got " + got, row);
  };
  if (value.IsBigInt()) {
    Napi::BigInt big = value.As<Napi::BigInt>();
    int sign = 0;
    uint64_t words[2] = {0, 0};
    size_t count = 2;
    big.ToWords(&sign, &count, words);
    const std::string text = big.ToString().Utf8Value() + "n";
    if ((sign && (count > 1 || words[0] != 0)) || count > 1 || words[0] > max) out_of_range(text);
    return words[0];
  }
  if (!value.IsNumber())
    throw_error(env, ErrorKind::kType, ErrorCode::kInvalidArgType, argument,
                std::string(argument) + ": expected an integer (a number or a bigint)" + at_row(row), row);
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!(d == std::floor(d)) || d < 0 || d > static_cast<double>(max)) out_of_range(value.ToString().Utf8Value());
  if (d > kMaxSafeInteger)
    throw_error(env, ErrorKind::kRange, ErrorCode::kOutOfRange, argument,
                std::string(argument) + ": " + value.ToString().Utf8Value() + at_row(row) +
                    " is above Number.MAX_SAFE_INTEGER and may not be the integer meant: pass a bigint",
                row);
  return static_cast<uint64_t>(d);
}

// One key for every row, or one per row: an array of numbers or bigints, a
// BigUint64Array, BigInt64Array, Float64Array, Uint32Array or Int32Array.
template <class T>
std::vector<T> per_row_keys(const Napi::Value& value, int64_t rows, const char* argument, uint64_t max,
                            const char* range) {
  Napi::Env env = value.Env();
  auto read = [&](const Napi::Value& v, int64_t row) {
    return static_cast<T>(key_integer(v, argument, max, range, row));
  };
  if (value.IsNumber() || value.IsBigInt()) return std::vector<T>(1, read(value, -1));
  const bool is_array = value.IsArray();
  if (!is_array && !value.IsTypedArray())
    throw_type(env, argument,
               "expected an integer (number or bigint), or one per row (an array, BigUint64Array, BigInt64Array, "
               "Float64Array, Uint32Array or Int32Array)");
  const Napi::Object list = value.As<Napi::Object>();
  const int64_t length = is_array ? value.As<Napi::Array>().Length()
                                  : static_cast<int64_t>(value.As<Napi::TypedArray>().ElementLength());
  if (length != rows)
    throw_range(env, argument, "has " + std::to_string(length) + " values for " + std::to_string(rows) + " rows");
  if (!is_array) {
    switch (value.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_biguint64_array:
      case napi_bigint64_array:
      case napi_float64_array:
      case napi_uint32_array:
      case napi_int32_array: break;
      default:
        throw_type(env, argument, "expected a BigUint64Array, BigInt64Array, Float64Array, Uint32Array or Int32Array");
    }
  }
  std::vector<T> out(rows);
  for (int64_t r = 0; r < rows; ++r) out[r] = read(list.Get(static_cast<uint32_t>(r)), r);
  return out;
}

}  // namespace

DrawKeysArg::DrawKeysArg(const CallArgs& call, int64_t rows) {
  Napi::Env env = call.env();
  const Napi::Value seed = call.option("seed"), stream = call.option("stream"), step = call.option("step");
  if (seed.IsUndefined())
    throw_type(env, "seed", "required: an integer in [0, 2^64) (number or bigint); the draws are a function of it");
  if (step.IsUndefined())
    throw_type(env, "step",
               "required: the decode step, an integer in [0, 2^32) for all rows or one per row; without it every "
               "step would draw the same random numbers");
  seed_ = key_integer(seed, "seed", UINT64_MAX, "[0, 2^64)", -1);
  stream_ = stream.IsUndefined() ? std::vector<uint64_t>(1, 0)
                                 : per_row_keys<uint64_t>(stream, rows, "stream", UINT64_MAX, "[0, 2^64)");
  step_ = per_row_keys<uint32_t>(step, rows, "step", UINT32_MAX, "[0, 2^32)");
}

BatchDrawKeys DrawKeysArg::view() const {
  BatchDrawKeys keys;
  keys.seed = seed_;
  keys.stream = per_row_view(stream_);
  keys.step = per_row_view(step_);
  return keys;
}

}  // namespace sm::binding
