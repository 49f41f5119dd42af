// Argument checking and conversion: JS values in, plain C++ views out. Every
// check names the argument; nothing here reads past what JS handed over.
#pragma once

#include <napi.h>

#include <cstdint>
#include <vector>

#include "../core/rule.h"
#include "../core/types.h"
#include "../host/host_buffer.h"
#include "errors.h"

namespace sm::binding {

// The one argument of every addon function that takes several: an object
// whose fields are read by name. The facade builds it per call from the
// call's own arguments (data, shape, mask, targets, ...) and passes the
// caller's options object untouched as its `options` field, so that every
// option is read and checked here, once.
class CallArgs {
 public:
  explicit CallArgs(const Napi::CallbackInfo& info);
  Napi::Env env() const { return call_.Env(); }
  // A field of the call.
  Napi::Value operator[](const char* name) const { return call_.Get(name); }
  // A field of the caller's options (undefined when there are none).
  Napi::Value option(const char* name) const;

 private:
  Napi::Object call_;
  Napi::Object options_;  // empty when options is undefined
};

// An optional boolean option: false when undefined.
bool read_flag(const CallArgs& call, const char* name);

// A typed array's bytes, zero-copy, with what async work needs to know.
struct TypedBytes {
  void* data = nullptr;
  size_t byte_length = 0;
  size_t length = 0;
  bool shared = false;     // backed by a SharedArrayBuffer: cannot be detached
  Napi::TypedArray array;  // a handle valid during the call only: async work keeps a reference
};

TypedBytes typed_bytes(const Napi::Value& value, napi_typedarray_type expected, const char* expected_name,
                       const char* argument);

// True once the typed array's ArrayBuffer has been detached (transferred).
bool is_detached(const Napi::TypedArray& array);

// A typed array argument as a Job's run() may use it. Async work cannot rely
// on an ordinary ArrayBuffer (JS may detach it meanwhile), so it gets a
// private copy; a SharedArrayBuffer cannot be detached, so it is used in place
// and kept alive by a reference. Sync work uses the caller's memory.
//
// Inputs that are checked once and then indexed by (ids, offsets, targets)
// are held as kSnapshot: a SharedArrayBuffer is copied too, sync or async,
// so that another thread writing it cannot turn a checked id into an
// out-of-bounds one. Check the held data, not the caller's.
class HeldBytes {
 public:
  enum class Shared { kInPlace, kSnapshot };
  HeldBytes() = default;
  HeldBytes(const TypedBytes& bytes, bool async, Shared shared = Shared::kInPlace);
  void* data() const { return data_; }
  // The caller's typed array, on the JS thread: after an async run() only the
  // reference is valid (the call's own handles are gone).
  Napi::TypedArray array() const;
  // After run() wrote into a private copy, copies it back into the caller's
  // array (on the JS thread). False if that array was detached or resized
  // meanwhile.
  bool write_back() const;

 private:
  TypedBytes bytes_;
  void* data_ = nullptr;
  Napi::ObjectReference reference_;
  HostBuffer copy_;
};

DType read_dtype(const Napi::Value& value, const char* argument);
int64_t read_count(const Napi::Value& value, const char* argument, int64_t min, int64_t max);

// Logits [rows, vocab] in the storage type of dtype.
struct LogitsArg {
  LogitsView view;
  TypedBytes bytes;
};
// Fields data, dtype, rows and vocab (errors name them logits.*).
LogitsArg read_logits(const CallArgs& call);

// A SamplingMask's CSR arrays, checked against `rows` (the ids themselves are
// checked by the backend, row by row). Both null: every id is kept.
// A mask's CSR, held as snapshots and checked on them: offsets start at 0,
// never decrease and end at indices.length (ids are checked where they are
// read against the logits' vocab).
struct KeptIdsArg {
  HeldBytes offsets, indices;
  size_t index_count = 0;
  bool all = false;
};
// Fields offsets and indices.
KeptIdsArg read_kept_ids(const CallArgs& call, int64_t rows, bool async);

// Per-row sampling parameters, copied (they are small) so async work owns them.
struct ParamsArg {
  std::vector<float> temperature, min_p, top_p;
  std::vector<int32_t> top_k;
  FilterOrder order = FilterOrder::kSequential;
  // With skip_invalid_rows: each row whose own value is out of range, with
  // its error, ascending; its parameters are replaced by those that keep
  // every finite logit (so a fill leaves it as it was).
  std::vector<std::pair<int64_t, PendingError>> invalid_rows;
  BatchParams view() const;
};
// Options temperature, minP, topK, topP and filterOrder.
ParamsArg read_params(const CallArgs& call, int64_t rows, bool skip_invalid_rows = false);

// Option filterOrder: 'sequential' (default) or 'joint'.
FilterOrder read_filter_order(const CallArgs& call);

// Per-row f32 values (a number for all rows, or one per row as a typed
// array or an array of numbers), e.g. temperature.
std::vector<float> read_per_row_floats(const Napi::Value& value, int64_t rows, const char* argument);

// A per-row parameter read by read_per_row_*: one value for all rows or one each.
template <class T>
PerRow<T> per_row_view(const std::vector<T>& values) {
  PerRow<T> view;
  if (values.size() == 1) {
    view.all = values[0];
  } else {
    view.values = values.data();
  }
  return view;
}

// An Int32Array or Float32Array result that owns its vector without copying.
Napi::Int32Array to_int32_array(Napi::Env env, std::vector<int32_t>&& values);
Napi::Int32Array to_int32_array(Napi::Env env, HostBuffer&& values);
// A typed array of `type` over the buffer, which JS owns from now on.
Napi::TypedArray to_typed_array(Napi::Env env, HostBuffer&& values, napi_typedarray_type type);
Napi::Float32Array to_float32_array(Napi::Env env, std::vector<float>&& values);

}  // namespace sm::binding
