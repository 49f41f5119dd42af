// Every `code` the addon puts on an error. lib/errors.ts holds the one
// TypeScript union of codes (SamplingMaskErrorCode); the test suite checks
// that every code listed here is in it (the addon exports this list as
// errorCodes).
#pragma once

namespace sm::binding {

#define SM_ERROR_CODES(X) \
  X(kInvalidArgType, "ERR_SM_INVALID_ARG_TYPE") \
  X(kOutOfRange, "ERR_SM_OUT_OF_RANGE") \
  X(kInvalidLogits, "ERR_SM_INVALID_LOGITS") \
  X(kInvalidMask, "ERR_SM_INVALID_MASK") \
  X(kDetached, "ERR_SM_DETACHED") \
  X(kOutOfMemory, "ERR_SM_OUT_OF_MEMORY") \
  X(kCudaUnavailable, "ERR_SM_CUDA_UNAVAILABLE") \
  X(kCuda, "ERR_SM_CUDA") \
  X(kCudaOutOfMemory, "ERR_SM_CUDA_OUT_OF_MEMORY") \
  X(kTruncated, "ERR_SM_TRUNCATED") \
  X(kBadMagic, "ERR_SM_BAD_MAGIC") \
  X(kUnsupportedVersion, "ERR_SM_UNSUPPORTED_VERSION") \
  X(kChecksum, "ERR_SM_CHECKSUM") \
  X(kCorruptMask, "ERR_SM_CORRUPT_MASK") \
  X(kInternal, "ERR_SM_INTERNAL")

enum class ErrorCode {
#define SM_ERROR_CODE_ENUM(name, text) name,
  SM_ERROR_CODES(SM_ERROR_CODE_ENUM)
#undef SM_ERROR_CODE_ENUM
};

inline const char* error_code_text(ErrorCode code) {
  switch (code) {
#define SM_ERROR_CODE_TEXT(name, text) \
  case ErrorCode::name: return text;
    SM_ERROR_CODES(SM_ERROR_CODE_TEXT)
#undef SM_ERROR_CODE_TEXT
  }
  return "ERR_SM_INTERNAL";
}

}  // namespace sm::binding
