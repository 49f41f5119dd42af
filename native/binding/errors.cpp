#include "errors.h"

namespace sm::binding {

Napi::Error PendingError::to_js(Napi::Env env) const {
  Napi::Error error = kind == ErrorKind::kType ? Napi::Error(Napi::TypeError::New(env, message))
                                               : Napi::Error(Napi::RangeError::New(env, message));
  error.Set("code", Napi::String::New(env, error_code_text(code)));
  error.Set("argument", Napi::String::New(env, argument));
  if (row >= 0) error.Set("row", Napi::Number::New(env, static_cast<double>(row)));
  if (column >= 0) error.Set("column", Napi::Number::New(env, static_cast<double>(column)));
  return error;
}

void throw_error(Napi::Env, ErrorKind kind, ErrorCode code, const std::string& argument, const std::string& message,
                 int64_t row, int64_t column) {
  throw PendingError::make(kind, code, argument, message, row, column);
}

PendingError row_error(int64_t row, const RowStatus& status) {
  const std::string at = "row " + std::to_string(row);
  switch (status.error) {
    case RowError::kInvalidLogit:
      // No column: the value was rewritten (shared memory) before it could be located.
      return PendingError::make(ErrorKind::kRange, ErrorCode::kInvalidLogits, "logits",
                                "logits: NaN or +inf at " + at +
                                    (status.column >= 0 ? ", column " + std::to_string(status.column) : ""),
                                row, status.column);
    case RowError::kNoFiniteLogit:
      return PendingError::make(ErrorKind::kRange, ErrorCode::kInvalidLogits, "logits",
                                "logits: " + at + " has no finite value", row);
    case RowError::kScaledOverflow:
      return PendingError::make(ErrorKind::kRange, ErrorCode::kOutOfRange, "temperature",
                                "temperature: the row maximum / temperature is not a finite f32 at " + at, row);
    case RowError::kInvalidMask:
      return PendingError::make(ErrorKind::kRange, ErrorCode::kInvalidMask, "mask",
                                "mask: " + at +
                                    " must keep strictly ascending ids below the vocabulary size, found id " +
                                    std::to_string(status.column),
                                row, status.column);
    case RowError::kNoFiniteKeptLogit:
      return PendingError::make(ErrorKind::kRange, ErrorCode::kInvalidLogits, "logits",
                                "logits: " + at + " has no finite value at the ids its mask keeps", row);
    case RowError::kNone: break;
  }
  return {};
}

PendingError detached_error(const std::string& argument, const std::string& what) {
  return PendingError::make(ErrorKind::kType, ErrorCode::kDetached, argument,
                            argument + ": the buffer was detached or resized while the call ran, so " + what);
}

void register_error_codes(Napi::Env env, Napi::Object exports) {
  const char* codes[] = {
#define SM_ERROR_CODE_TEXT(name, text) text,
      SM_ERROR_CODES(SM_ERROR_CODE_TEXT)
#undef SM_ERROR_CODE_TEXT
  };
  Napi::Array list = Napi::Array::New(env);
  for (uint32_t i = 0; i < sizeof(codes) / sizeof(codes[0]); ++i) list[i] = Napi::String::New(env, codes[i]);
  exports.Set("errorCodes", list);
}

}  // namespace sm::binding
