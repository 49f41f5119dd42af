#include "errors.h"

namespace sm::binding {

Napi::Error PendingError::to_js(Napi::Env env) const {
  Napi::Error error = kind == ErrorKind::kType    ? Napi::Error(Napi::TypeError::New(env, message))
                     : kind == ErrorKind::kRange ? Napi::Error(Napi::RangeError::New(env, message))
                                                 : Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("argument", Napi::String::New(env, argument));
  if (row >= 0) error.Set("row", Napi::Number::New(env, static_cast<double>(row)));
  if (column >= 0) error.Set("column", Napi::Number::New(env, static_cast<double>(column)));
  return error;
}

void throw_error(Napi::Env env, ErrorKind kind, const char* code, const std::string& argument,
                 const std::string& message, int64_t row, int64_t column) {
  throw PendingError{kind, code, argument, message, row, column}.to_js(env);
}

PendingError row_error(int64_t row, const RowStatus& status) {
  const std::string at = "row " + std::to_string(row);
  switch (status.error) {
    case RowError::kInvalidLogit:
      return {ErrorKind::kRange, "ERR_SM_INVALID_LOGITS", "logits",
              "logits: NaN or +inf at " + at + ", column " + std::to_string(status.column), row, status.column};
    case RowError::kNoFiniteLogit:
      return {ErrorKind::kRange, "ERR_SM_INVALID_LOGITS", "logits", "logits: " + at + " has no finite value", row};
    case RowError::kScaledOverflow:
      return {ErrorKind::kRange, "ERR_SM_OUT_OF_RANGE", "temperature",
              "temperature: the row maximum / temperature is not a finite f32 at " + at, row};
    case RowError::kInvalidMask:
      return {ErrorKind::kRange, "ERR_SM_INVALID_MASK", "mask",
              "mask: " + at + " must keep strictly ascending ids below the vocabulary size, found id " +
                  std::to_string(status.column),
              row, status.column};
    case RowError::kNoFiniteKeptLogit:
      return {ErrorKind::kRange, "ERR_SM_INVALID_LOGITS", "logits",
              "logits: " + at + " has no finite value at the ids its mask keeps", row};
    case RowError::kNone: break;
  }
  return {};
}

}  // namespace sm::binding
