// serializeMask(), deserializeMask() and crc32c(): the mask codec
// (host/mask_codec.h) behind argument checks and typed errors.
#include <napi.h>

#include <cstring>
#include <string>
#include <vector>

#include "../core/rule.h"
#include "../host/crc32c.h"
#include "../host/mask_codec.h"
#include "args.h"
#include "errors.h"
#include "exports.h"
#include "job.h"

namespace sm::binding {
namespace {

namespace codec = host::codec;

// A typed array's elements as a span the call can rely on: memory over a
// SharedArrayBuffer may be written by another thread meanwhile, so it is read
// from a private copy.
template <class T>
struct StableSpan {
  const T* data = nullptr;
  size_t length = 0;
  std::vector<T> copy;
};

template <class T>
StableSpan<T> stable_span(const TypedBytes& bytes) {
  StableSpan<T> span;
  span.length = bytes.length;
  span.data = static_cast<const T*>(bytes.data);
  if (bytes.shared && bytes.length > 0) {
    span.copy.assign(span.data, span.data + bytes.length);
    span.data = span.copy.data();
  }
  return span;
}

// A result typed array. Up to kV8ResultBytes its memory is V8's (freed
// directly when it is collected; external memory would wait for a
// finalizer, so loops that drop results would keep touching fresh pages).
// Larger ones are ours: V8 ends the process when it cannot allocate an
// ArrayBuffer, while a HostBuffer that cannot be had throws, which becomes
// ERR_SM_OUT_OF_MEMORY.
constexpr size_t kV8ResultBytes = size_t{16} << 20;

template <class Array, class T>
Array new_typed_array(Napi::Env env, size_t length, T** data, napi_typedarray_type type) {
  const size_t bytes = length * sizeof(T);
  if (bytes <= kV8ResultBytes) {
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, bytes);
    *data = static_cast<T*>(buffer.Data());
    return Array::New(env, length, buffer, 0);
  }
  HostBuffer owned(bytes);
  *data = owned.as<T>();
  return to_typed_array(env, std::move(owned), type).As<Array>();
}

// serializeMask({ offsets, indices, vocab })
Napi::Value serialize_mask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CallArgs call(info);
  const StableSpan<int32_t> offsets =
      stable_span<int32_t>(typed_bytes(call["offsets"], napi_int32_array, "Int32Array", "offsets"));
  const StableSpan<int32_t> indices =
      stable_span<int32_t>(typed_bytes(call["indices"], napi_int32_array, "Int32Array", "indices"));
  const int64_t vocab = read_count(call["vocab"], "vocab", 1, kMaxVocab);
  if (offsets.length < 1) throw_range(env, "offsets", "expected rows + 1 entries, got none");
  if (offsets.length - 1 > UINT32_MAX) throw_range(env, "offsets", "more than 2^32 - 1 rows");
  codec::Csr csr;
  csr.offsets = offsets.data;
  csr.indices = indices.data;
  csr.rows = static_cast<int64_t>(offsets.length) - 1;
  csr.index_count = static_cast<int64_t>(indices.length);
  csr.vocab = vocab;
  codec::EncodePlan plan;
  const codec::Status status = codec::plan_encode(csr, &plan);
  switch (status.error) {
    case codec::Error::kNone: break;
    case codec::Error::kIds:
      throw_error(env, ErrorKind::kRange, ErrorCode::kInvalidMask, "indices",
                  "indices: row " + std::to_string(status.row) + " must be strictly ascending ids in [0, " +
                      std::to_string(vocab) + ")",
                  status.row);
    default:
      throw_error(env, ErrorKind::kRange, ErrorCode::kInvalidMask, "offsets",
                  "offsets: must start at 0, never decrease and end at indices.length (row " +
                      std::to_string(status.row) + ")",
                  status.row);
  }
  uint8_t* data = nullptr;
  Napi::Uint8Array out = new_typed_array<Napi::Uint8Array>(env, plan.total_bytes, &data, napi_uint8_array);
  codec::encode(csr, plan, data);
  return out;
}

[[noreturn]] void throw_corrupt(Napi::Env env, const codec::Status& s) {
  const std::string at = s.row >= 0 ? " at row " + std::to_string(s.row) : std::string();
  const std::string expected = std::to_string(s.expected), actual = std::to_string(s.actual);
  ErrorCode code = ErrorCode::kCorruptMask;
  std::string message;
  switch (s.error) {
    case codec::Error::kTooShort:
      code = ErrorCode::kTruncated;
      message = "truncated: " + actual + " bytes, a serialized mask has at least " + expected;
      break;
    case codec::Error::kMagic:
      code = ErrorCode::kBadMagic;
      message = "not a serialized sampling mask (no \"SMSK\" magic)";
      break;
    case codec::Error::kVersion:
      code = ErrorCode::kUnsupportedVersion;
      message = "format version " + actual + " is not supported (this build reads version " + expected + ")";
      break;
    case codec::Error::kEncoding:
      code = ErrorCode::kUnsupportedVersion;
      message = "encoding " + actual + " is not supported (this build reads encoding " + expected + ")";
      break;
    case codec::Error::kTruncated:
      code = ErrorCode::kTruncated;
      message = "truncated: the header declares " + expected + " bytes, got " + actual;
      break;
    case codec::Error::kTrailingBytes:
      message = "the header declares " + expected + " bytes, got " + actual + " (trailing bytes or a corrupt length)";
      break;
    case codec::Error::kChecksum:
      code = ErrorCode::kChecksum;
      message = "CRC-32C mismatch: the bytes were altered";
      break;
    case codec::Error::kHeader: message = "the header's rows, vocab or id count cannot fit in its payload"; break;
    case codec::Error::kRow: message = "malformed row payload" + at; break;
    case codec::Error::kPayloadLeft: message = "payload bytes left after the last row"; break;
    case codec::Error::kIdCount: message = "rows hold more or fewer ids than the header's " + expected + at; break;
    default: message = "malformed"; break;
  }
  throw_error(env, ErrorKind::kRange, code, "bytes", "bytes: " + message, s.row);
}

Napi::Value deserialize_mask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const StableSpan<uint8_t> bytes = stable_span<uint8_t>(typed_bytes(info[0], napi_uint8_array, "Uint8Array", "bytes"));
  codec::Header header;
  codec::Status status = codec::read_header(bytes.data, bytes.length, &header);
  if (!status.ok()) throw_corrupt(env, status);
  int32_t* offsets_data = nullptr;
  int32_t* indices_data = nullptr;
  Napi::Int32Array offsets =
      new_typed_array<Napi::Int32Array>(env, header.rows + size_t{1}, &offsets_data, napi_int32_array);
  Napi::Int32Array indices =
      new_typed_array<Napi::Int32Array>(env, header.index_count, &indices_data, napi_int32_array);
  status = codec::decode(bytes.data, bytes.length, header, offsets_data, indices_data);
  if (!status.ok()) throw_corrupt(env, status);
  Napi::Object out = Napi::Object::New(env);
  out.Set("offsets", offsets);
  out.Set("indices", indices);
  out.Set("vocab", Napi::Number::New(env, header.vocab));
  return out;
}

// crc32c({ bytes, seed })
Napi::Value crc32c(const Napi::CallbackInfo& info) {
  const CallArgs call(info);
  const TypedBytes bytes = typed_bytes(call["bytes"], napi_uint8_array, "Uint8Array", "bytes");
  const Napi::Value seed_value = call["seed"];
  const uint32_t seed = seed_value.IsUndefined() ? 0u
                                                 : static_cast<uint32_t>(read_count(seed_value, "seed", 0, UINT32_MAX));
  return Napi::Number::New(info.Env(), host::crc32c(bytes.data, bytes.byte_length, seed));
}

Napi::Value crc32c_impl(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), host::crc32c_impl()); }

}  // namespace

void register_codec(Napi::Env env, Napi::Object exports) {
  exports.Set("serializeMask", Napi::Function::New(env, guarded<serialize_mask>, "serializeMask"));
  exports.Set("deserializeMask", Napi::Function::New(env, guarded<deserialize_mask>, "deserializeMask"));
  exports.Set("crc32c", Napi::Function::New(env, guarded<crc32c>, "crc32c"));
  exports.Set("crc32cImpl", Napi::Function::New(env, crc32c_impl, "crc32cImpl"));
}

}  // namespace sm::binding
