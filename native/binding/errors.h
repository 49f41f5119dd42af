// Every error the addon throws is a JS TypeError or RangeError with a stable
// `code`, the `argument` it concerns, and where it applies the `row` and
// `column`, so callers can branch on fields instead of parsing messages.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "../core/types.h"

namespace sm::binding {

enum class ErrorKind { kType, kRange, kError };  // kError: a plain Error (e.g. CUDA failures)

// Thrown as a C++ exception (NAPI_CPP_EXCEPTIONS); node-addon-api turns it
// into the pending JS error when the callback returns.
[[noreturn]] void throw_error(Napi::Env env, ErrorKind kind, const char* code, const std::string& argument,
                              const std::string& message, int64_t row = -1, int64_t column = -1);

[[noreturn]] inline void throw_type(Napi::Env env, const std::string& argument, const std::string& message) {
  throw_error(env, ErrorKind::kType, "ERR_SM_INVALID_ARG_TYPE", argument, argument + ": " + message);
}
[[noreturn]] inline void throw_range(Napi::Env env, const std::string& argument, const std::string& message,
                                     int64_t row = -1) {
  throw_error(env, ErrorKind::kRange, "ERR_SM_OUT_OF_RANGE", argument, argument + ": " + message, row);
}

// Error data that can outlive the JS call (async work builds it off the
// event loop and throws it on return).
struct PendingError {
  ErrorKind kind = ErrorKind::kRange;
  std::string code, argument, message;
  int64_t row = -1, column = -1;
  bool set() const { return !code.empty(); }
  Napi::Error to_js(Napi::Env env) const;
};

// The error for a row that has no result, naming the row (and column).
PendingError row_error(int64_t row, const RowStatus& status);

}  // namespace sm::binding
