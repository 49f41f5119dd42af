// Every error the addon throws is a JS TypeError or RangeError with a stable
// `code` (error_codes.h), the `argument` it concerns, and where it applies
// the `row` and `column`, so callers can branch on fields instead of parsing
// messages. This is the one place that builds them.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "../core/trainer.h"
#include "../core/types.h"
#include "error_codes.h"

namespace sm::binding {

enum class ErrorKind { kType, kRange };

// Error data that can outlive the JS call (async work builds it off the
// event loop and throws it on return).
struct PendingError {
  ErrorKind kind = ErrorKind::kRange;
  ErrorCode code = ErrorCode::kInternal;
  std::string argument, message;
  int64_t row = -1, column = -1;
  bool set = false;

  static PendingError make(ErrorKind kind, ErrorCode code, std::string argument, std::string message, int64_t row = -1,
                           int64_t column = -1) {
    return PendingError{kind, code, std::move(argument), std::move(message), row, column, true};
  }
  Napi::Error to_js(Napi::Env env) const;
};

// Thrown as a PendingError; every exported function is guarded (job.h), so it
// becomes the JS error when the callback returns. (A row of mask() with
// onInvalidRow: 'skip' catches it and reports the row instead.)
[[noreturn]] void throw_error(Napi::Env env, ErrorKind kind, ErrorCode code, const std::string& argument,
                              const std::string& message, int64_t row = -1, int64_t column = -1);

[[noreturn]] inline void throw_type(Napi::Env env, const std::string& argument, const std::string& message) {
  throw_error(env, ErrorKind::kType, ErrorCode::kInvalidArgType, argument, argument + ": " + message);
}
[[noreturn]] inline void throw_range(Napi::Env env, const std::string& argument, const std::string& message,
                                     int64_t row = -1) {
  throw_error(env, ErrorKind::kRange, ErrorCode::kOutOfRange, argument, argument + ": " + message, row);
}

// The error for a row that has no result, naming the row (and column).
PendingError row_error(int64_t row, const RowStatus& status);

// True when a row failed; *error is then its error.
inline bool row_failed(const RowFailure& failure, PendingError* error) {
  if (failure.row < 0) return false;
  *error = row_error(failure.row, failure.status);
  return true;
}

// The error of a call whose input a concurrent JS thread detached or resized.
PendingError detached_error(const std::string& argument, const std::string& what);

// errorCodes: every code above, for the facade's tests.
void register_error_codes(Napi::Env env, Napi::Object exports);

}  // namespace sm::binding
