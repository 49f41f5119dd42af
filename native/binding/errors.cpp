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

}  // namespace sm::binding
