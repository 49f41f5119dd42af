#include "args.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "errors.h"

namespace sm::binding {

CallArgs::CallArgs(const Napi::CallbackInfo& info) {
  if (info.Length() != 1 || !info[0].IsObject() || info[0].IsArray())
    throw_type(info.Env(), "arguments", "the addon takes one object of named arguments (use the package's facade)");
  call_ = info[0].As<Napi::Object>();
  const Napi::Value options = call_.Get("options");
  if (options.IsUndefined()) return;
  if (!options.IsObject() || options.IsArray() || options.IsTypedArray())
    throw_type(info.Env(), "options", "expected an object");
  options_ = options.As<Napi::Object>();
}

Napi::Value CallArgs::option(const char* name) const {
  return options_.IsEmpty() ? env().Undefined() : options_.Get(name);
}

bool read_flag(const CallArgs& call, const char* name) {
  const Napi::Value value = call.option(name);
  if (value.IsUndefined()) return false;
  if (!value.IsBoolean()) throw_type(call.env(), name, "expected a boolean");
  return value.As<Napi::Boolean>().Value();
}

TypedBytes typed_bytes(const Napi::Value& value, napi_typedarray_type expected, const char* expected_name,
                       const char* argument) {
  if (!value.IsTypedArray()) throw_type(value.Env(), argument, std::string("expected a ") + expected_name);
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  napi_env env = value.Env();
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t byte_offset = 0;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, array, &type, &length, &data, &buffer, &byte_offset),
                       TypedBytes());
  if (type != expected) throw_type(value.Env(), argument, std::string("expected a ") + expected_name);
  bool is_plain_buffer = false;
  NAPI_THROW_IF_FAILED(env, napi_is_arraybuffer(env, buffer, &is_plain_buffer), TypedBytes());
  TypedBytes bytes;
  bytes.data = data;  // already includes byte_offset
  bytes.length = length;
  bytes.byte_length = length * array.ElementSize();
  bytes.shared = !is_plain_buffer;
  bytes.array = array;
  // A detached view reports length 0, so check the buffer itself: otherwise
  // the caller would only hear about a length mismatch.
  bool detached = false;
  if (is_plain_buffer) NAPI_THROW_IF_FAILED(env, napi_is_detached_arraybuffer(env, buffer, &detached), TypedBytes());
  if (detached)
    throw_error(env, ErrorKind::kType, ErrorCode::kDetached, argument,
                std::string(argument) + ": its buffer has been detached (transferred)");
  return bytes;
}

bool is_detached(const Napi::TypedArray& array) {
  napi_env env = array.Env();
  napi_value buffer;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, array, nullptr, nullptr, nullptr, &buffer, nullptr), true);
  bool is_plain_buffer = false;
  NAPI_THROW_IF_FAILED(env, napi_is_arraybuffer(env, buffer, &is_plain_buffer), true);
  if (!is_plain_buffer) return false;
  bool detached = false;
  NAPI_THROW_IF_FAILED(env, napi_is_detached_arraybuffer(env, buffer, &detached), true);
  return detached;
}

HeldBytes::HeldBytes(const TypedBytes& bytes, bool async, Shared shared) : bytes_(bytes), data_(bytes.data) {
  if (async) reference_ = Napi::Persistent(static_cast<Napi::Object>(bytes.array));
  const bool copy = bytes.shared ? shared == Shared::kSnapshot : async;
  if (copy && bytes.byte_length > 0) {
    copy_ = HostBuffer(bytes.byte_length);
    std::memcpy(copy_.data(), bytes.data, bytes.byte_length);
    data_ = copy_.data();
  }
}

Napi::TypedArray HeldBytes::array() const {
  return reference_.IsEmpty() ? bytes_.array : reference_.Value().As<Napi::TypedArray>();
}

bool HeldBytes::write_back() const {
  if (copy_.bytes() == 0 || bytes_.shared) return true;  // worked in place (or on a snapshot of inputs)
  const Napi::TypedArray target = array();
  if (is_detached(target)) return false;
  const TypedBytes now = typed_bytes(target, target.TypedArrayType(), "", "");
  if (now.byte_length != copy_.bytes()) return false;  // a resizable ArrayBuffer shrank or grew
  std::memcpy(now.data, copy_.data(), copy_.bytes());
  return true;
}

DType read_dtype(const Napi::Value& value, const char* argument) {
  if (value.IsString()) {
    const std::string name = value.As<Napi::String>().Utf8Value();
    if (name == "float32") return DType::kFloat32;
    if (name == "bfloat16") return DType::kBFloat16;
    if (name == "float16") return DType::kFloat16;
  }
  throw_type(value.Env(), argument, "expected 'float32', 'bfloat16' or 'float16'");
}

int64_t read_count(const Napi::Value& value, const char* argument, int64_t min, int64_t max) {
  if (!value.IsNumber()) throw_type(value.Env(), argument, "expected an integer");
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!(d == std::floor(d)) || d < static_cast<double>(min) || d > static_cast<double>(max))
    throw_range(value.Env(), argument,
                "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                    value.ToString().Utf8Value());
  return static_cast<int64_t>(d);
}

LogitsArg read_logits(const CallArgs& call) {
  const DType dtype = read_dtype(call["dtype"], "logits.dtype");
  const int64_t rows = read_count(call["rows"], "logits.shape[0]", 1, INT32_MAX);
  const int64_t vocab = read_count(call["vocab"], "logits.vocab", 1, kMaxVocab);
  const bool is_f32 = dtype == DType::kFloat32;
  LogitsArg arg;
  arg.bytes = typed_bytes(call["data"], is_f32 ? napi_float32_array : napi_uint16_array,
                          is_f32 ? "Float32Array for dtype 'float32'" : "Uint16Array of raw 16-bit floats",
                          "logits.data");
  if (static_cast<double>(arg.bytes.length) != static_cast<double>(rows) * static_cast<double>(vocab))
    throw_range(call.env(), "logits.data",
                "has " + std::to_string(arg.bytes.length) + " elements, shape needs " + std::to_string(rows) + " x " +
                    std::to_string(vocab));
  arg.view = LogitsView{arg.bytes.data, dtype, rows, vocab};
  return arg;
}

namespace {
[[noreturn]] void throw_invalid_mask(Napi::Env env, const std::string& argument, const std::string& message,
                                     int64_t row = -1) {
  throw_error(env, ErrorKind::kRange, ErrorCode::kInvalidMask, argument, argument + ": " + message, row);
}
}  // namespace

KeptIdsArg read_kept_ids(const CallArgs& call, int64_t rows, bool async) {
  Napi::Env env = call.env();
  const Napi::Value offsets = call["offsets"], indices = call["indices"];
  KeptIdsArg arg;
  if (offsets.IsNull() && indices.IsNull()) {
    arg.all = true;
    return arg;
  }
  const TypedBytes offset_bytes = typed_bytes(offsets, napi_int32_array, "Int32Array", "mask.offsets");
  const TypedBytes index_bytes = typed_bytes(indices, napi_int32_array, "Int32Array", "mask.indices");
  if (static_cast<int64_t>(offset_bytes.length) != rows + 1)
    throw_invalid_mask(env, "mask",
                       "has " + std::to_string(static_cast<int64_t>(offset_bytes.length) - 1) + " rows, logits have " +
                           std::to_string(rows));
  arg.offsets = HeldBytes(offset_bytes, async, HeldBytes::Shared::kSnapshot);
  arg.indices = HeldBytes(index_bytes, async, HeldBytes::Shared::kSnapshot);
  arg.index_count = index_bytes.length;
  const auto* o = static_cast<const int32_t*>(arg.offsets.data());
  if (o[0] != 0) throw_invalid_mask(env, "mask.offsets", "must start at 0");
  for (int64_t r = 0; r < rows; ++r) {
    if (o[r + 1] < o[r]) throw_invalid_mask(env, "mask.offsets", "decrease at row " + std::to_string(r), r);
  }
  if (static_cast<size_t>(o[rows]) != index_bytes.length)
    throw_invalid_mask(env, "mask.offsets", "must end at indices.length (" + std::to_string(index_bytes.length) + ")");
  return arg;
}

namespace {

// Rows whose own parameter value is out of range, when mask() skips them.
using InvalidRowList = std::vector<std::pair<int64_t, PendingError>>;

// A parameter given as one number for all rows or one value per row. With
// invalid_rows, a row whose value fails its range check is recorded there
// and gets `fallback` instead of failing the call.
template <class T, class Check>
std::vector<T> read_per_row(const Napi::Value& value, int64_t rows, const char* argument, const Check& check,
                            InvalidRowList* invalid_rows = nullptr, T fallback = T{}) {
  Napi::Env env = value.Env();
  auto convert = [&](double d, int64_t row) -> T {
    try {
      if (std::isnan(d))
        throw_range(env, argument, "is NaN" + (row >= 0 ? " at row " + std::to_string(row) : std::string()), row);
      return check(d, row);
    } catch (const PendingError& error) {
      if (!invalid_rows || row < 0 || error.kind != ErrorKind::kRange) throw;
      invalid_rows->emplace_back(row, error);
      return fallback;
    }
  };
  if (value.IsNumber()) return std::vector<T>(1, convert(value.As<Napi::Number>().DoubleValue(), -1));
  if (value.IsArray()) {
    // Read once, element by element: each must already be a number (no coercion).
    Napi::Array array = value.As<Napi::Array>();
    if (static_cast<int64_t>(array.Length()) != rows)
      throw_range(env, argument,
                  "has " + std::to_string(array.Length()) + " values for " + std::to_string(rows) + " rows");
    std::vector<T> out(rows);
    for (int64_t r = 0; r < rows; ++r) {
      const Napi::Value element = array.Get(static_cast<uint32_t>(r));
      if (!element.IsNumber())
        throw_error(env, ErrorKind::kType, ErrorCode::kInvalidArgType, argument,
                    std::string(argument) + ": expected a number at row " + std::to_string(r), r);
      out[r] = convert(element.As<Napi::Number>().DoubleValue(), r);
    }
    return out;
  }
  if (!value.IsTypedArray())
    throw_type(env, argument,
               "expected a number, or one value per row (an array of numbers, or a Float64Array, Float32Array or "
               "Int32Array)");
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  if (static_cast<int64_t>(array.ElementLength()) != rows)
    throw_range(env, argument,
                "has " + std::to_string(array.ElementLength()) + " values for " + std::to_string(rows) + " rows");
  std::vector<T> out(rows);
  switch (array.TypedArrayType()) {
    case napi_float64_array: {
      auto a = array.As<Napi::Float64Array>();
      for (int64_t r = 0; r < rows; ++r) out[r] = convert(a[r], r);
      break;
    }
    case napi_float32_array: {
      auto a = array.As<Napi::Float32Array>();
      for (int64_t r = 0; r < rows; ++r) out[r] = convert(a[r], r);
      break;
    }
    case napi_int32_array: {
      auto a = array.As<Napi::Int32Array>();
      for (int64_t r = 0; r < rows; ++r) out[r] = convert(a[r], r);
      break;
    }
    default: throw_type(env, argument, "expected a Float64Array, Float32Array or Int32Array");
  }
  return out;
}

std::string at_row(int64_t row) { return row >= 0 ? " at row " + std::to_string(row) : std::string(); }

}  // namespace

// The f32 every backend computes with. A nonzero value that f32 cannot tell
// from 0 (e.g. a temperature of 1e-50, which would silently mean greedy) is
// an error, not a different parameter.
static float to_f32(Napi::Env env, const char* argument, double d, int64_t row) {
  const float f = static_cast<float>(d);
  if (f == 0.0f && d != 0.0)
    throw_range(env, argument,
                "is " + std::to_string(d) + at_row(row) + ", which rounds to 0 in f32 (the precision masks use)", row);
  return f;
}

std::vector<float> read_per_row_floats(const Napi::Value& value, int64_t rows, const char* argument) {
  Napi::Env env = value.Env();
  return read_per_row<float>(value, rows, argument,
                             [&](double d, int64_t row) { return to_f32(env, argument, d, row); });
}

BatchParams ParamsArg::view() const {
  BatchParams params;
  params.temperature = per_row_view(temperature);
  params.min_p = per_row_view(min_p);
  params.top_p = per_row_view(top_p);
  params.top_k = per_row_view(top_k);
  params.order = order;
  return params;
}

FilterOrder read_filter_order(const CallArgs& call) {
  const Napi::Value value = call.option("filterOrder");
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (value.IsUndefined() || name == "sequential") return FilterOrder::kSequential;
  if (name == "joint") return FilterOrder::kJoint;
  throw_type(call.env(), "filterOrder", "expected 'sequential' or 'joint'");
}

namespace {

// Replaces row r's parameters by those that keep every finite logit (one
// value per row from then on).
void neutralize_row(ParamsArg* params, int64_t rows, int64_t r) {
  auto set = [&](auto& values, auto neutral) {
    if (values.size() == 1) values.assign(static_cast<size_t>(rows), values[0]);
    values[r] = neutral;
  };
  set(params->temperature, 1.0f);
  set(params->min_p, 0.0f);
  set(params->top_p, 1.0f);
  set(params->top_k, int32_t{-1});
}

}  // namespace

ParamsArg read_params(const CallArgs& options, int64_t rows, bool skip_invalid_rows) {
  Napi::Env env = options.env();
  ParamsArg params;
  InvalidRowList* invalid_rows = skip_invalid_rows ? &params.invalid_rows : nullptr;
  bool per_row = false;  // some parameter has one value per row: errors then name the row
  auto floats = [&](const char* name, float neutral) {
    Napi::Value v = options.option(name);
    per_row |= v.IsTypedArray() || v.IsArray();
    if (v.IsUndefined()) return std::vector<float>(1, neutral);
    return read_per_row<float>(
        v, rows, name, [&](double d, int64_t row) { return to_f32(env, name, d, row); }, invalid_rows, neutral);
  };
  params.order = read_filter_order(options);
  params.temperature = floats("temperature", 1.0f);
  params.min_p = floats("minP", 0.0f);
  params.top_p = floats("topP", 1.0f);
  Napi::Value k = options.option("topK");
  per_row |= k.IsTypedArray() || k.IsArray();
  params.top_k = k.IsUndefined() ? std::vector<int32_t>(1, -1)
                                 : read_per_row<int32_t>(
                                       k, rows, "topK",
                                       [&](double d, int64_t row) {
                                         if (!std::isfinite(d) || d != std::floor(d) || d < -1)
                                           throw_range(env, "topK",
                                                       "must be an integer >= -1 (0 and -1 mean off)" + at_row(row) +
                                                           ", got " + std::to_string(d),
                                                       row);
                                         return d > INT32_MAX ? INT32_MAX : static_cast<int32_t>(d);
                                       },
                                       invalid_rows, int32_t{-1});
  for (const auto& [row, error] : params.invalid_rows) neutralize_row(&params, rows, row);
  // The ranges themselves are the rule's (core/rule.h).
  for (int64_t r = 0; r < (per_row ? rows : 1); ++r) {
    const RowParams p = params.view().row(r);
    const int64_t row = per_row ? r : -1;
    std::string argument, requirement, got;
    bool own_value = false;  // the row's own value, not one shared by every row
    switch (invalid_param(p)) {
      case Param::kNone: continue;
      case Param::kTemperature:
        argument = "temperature", requirement = "a finite number >= 0 (0 is greedy)";
        got = std::to_string(p.temperature), own_value = params.temperature.size() > 1;
        break;
      case Param::kMinP:
        argument = "minP", requirement = "in [0, 1]", got = std::to_string(p.min_p);
        own_value = params.min_p.size() > 1;
        break;
      case Param::kTopK:
        argument = "topK", requirement = "an integer >= -1", got = std::to_string(p.top_k);
        own_value = params.top_k.size() > 1;
        break;
      case Param::kTopP:
        argument = "topP", requirement = "in (0, 1]", got = std::to_string(p.top_p);
        own_value = params.top_p.size() > 1;
        break;
    }
    const std::string message = argument + ": must be " + requirement + at_row(row) + ", got " + got;
    if (!skip_invalid_rows || !own_value)
      throw_error(env, ErrorKind::kRange, ErrorCode::kOutOfRange, argument, message, row);
    params.invalid_rows.emplace_back(
        r, PendingError::make(ErrorKind::kRange, ErrorCode::kOutOfRange, argument, message, r));
    neutralize_row(&params, rows, r);
  }
  // One error per row: the first found.
  auto& invalid = params.invalid_rows;
  std::stable_sort(invalid.begin(), invalid.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  invalid.erase(
      std::unique(invalid.begin(), invalid.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
      invalid.end());
  return params;
}

namespace {

// Bytes of results handed out as external ArrayBuffers whose finalizers have
// not run yet, over every env of the process.
std::atomic<size_t> awaiting_finalizer{0};

// Node runs the finalizers of external ArrayBuffers from its event loop, not
// from the GC, so a caller that calls in a synchronous loop holds every
// adopted result until it yields (mask() over 8 rows of 32768 kept ids, 300
// times: 300 MiB). Past this many bytes awaiting finalizers a result is
// copied into a buffer V8 owns, which its GC frees on its own. Not always:
// V8 allocates such a buffer with fresh pages, and faulting them in (350 a
// call at 64 Zipf-like rows, top_p 0.9) made mask() 2.3x slower on a VM.
constexpr size_t kAdoptBudget = size_t{256} << 20;

// A result (a std::vector or a HostBuffer) as an ArrayBuffer: adopted when
// within kAdoptBudget, and so when nothing else awaits a finalizer, else copied.
template <class Owner>
Napi::ArrayBuffer hand_over(Napi::Env env, Owner&& result, size_t bytes) {
  if (bytes == 0) return Napi::ArrayBuffer::New(env, 0);
  const size_t awaiting = awaiting_finalizer.load(std::memory_order_relaxed);
  if (awaiting > 0 && awaiting + bytes > kAdoptBudget) {
    Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, bytes);
    std::memcpy(copy.Data(), result.data(), bytes);
    return copy;
  }
  // V8 is told the size, so that its GC counts the result as its own buffers.
  awaiting_finalizer.fetch_add(bytes, std::memory_order_relaxed);
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes));
  auto* owned = new Owner(std::move(result));
  return Napi::ArrayBuffer::New(
      env, owned->data(), bytes,
      [](Napi::Env finalizer_env, void*, std::pair<Owner*, size_t>* hint) {
        Napi::MemoryManagement::AdjustExternalMemory(finalizer_env, -static_cast<int64_t>(hint->second));
        awaiting_finalizer.fetch_sub(hint->second, std::memory_order_relaxed);
        delete hint->first;
        delete hint;
      },
      new std::pair<Owner*, size_t>(owned, bytes));
}

template <class Array, class T>
Array to_array(Napi::Env env, std::vector<T>&& values) {
  const size_t length = values.size();
  return Array::New(env, length, hand_over(env, std::move(values), length * sizeof(T)), 0);
}

}  // namespace

Napi::Int32Array to_int32_array(Napi::Env env, std::vector<int32_t>&& values) {
  return to_array<Napi::Int32Array>(env, std::move(values));
}

Napi::Float32Array to_float32_array(Napi::Env env, std::vector<float>&& values) {
  return to_array<Napi::Float32Array>(env, std::move(values));
}

Napi::TypedArray to_typed_array(Napi::Env env, HostBuffer&& values, napi_typedarray_type type) {
  const size_t bytes = values.bytes();
  const size_t element = type == napi_uint16_array ? 2 : 4;
  const Napi::ArrayBuffer buffer = hand_over(env, std::move(values), bytes);
  napi_value array;
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, type, bytes / element, buffer, 0, &array), Napi::TypedArray());
  return Napi::TypedArray(env, array);
}

Napi::Int32Array to_int32_array(Napi::Env env, HostBuffer&& values) {
  return to_typed_array(env, std::move(values), napi_int32_array).As<Napi::Int32Array>();
}

}  // namespace sm::binding
