// The one module that builds the facade's errors, in the addon's shape: a
// TypeError or RangeError with a stable `code`, the `argument` it concerns
// and, where it applies, the `row` (and more fields a caller can branch on).
// The addon builds its own in native/binding/errors.cpp from the codes in
// native/binding/error_codes.h; the test suite checks that every one of
// those is listed here.

export const ERROR_CODES = [
  'ERR_SM_INVALID_ARG_TYPE',
  'ERR_SM_OUT_OF_RANGE',
  'ERR_SM_INVALID_LOGITS',
  'ERR_SM_INVALID_MASK',
  'ERR_SM_DETACHED',
  'ERR_SM_OUT_OF_MEMORY',
  'ERR_SM_CUDA_UNAVAILABLE',
  'ERR_SM_CUDA',
  'ERR_SM_CUDA_OUT_OF_MEMORY',
  'ERR_SM_TRUNCATED',
  'ERR_SM_BAD_MAGIC',
  'ERR_SM_UNSUPPORTED_VERSION',
  'ERR_SM_CHECKSUM',
  'ERR_SM_CORRUPT_MASK',
  'ERR_SM_INTERNAL',
  'ERR_SM_CORRUPT_RECORD',
  'ERR_SM_TRUNCATED_RECORD',
  'ERR_SM_DUPLICATE_REQUEST',
  'ERR_SM_UNKNOWN_REQUEST',
  'ERR_SM_TOKEN_OUTSIDE_MASK',
  'ERR_SM_TOKENS_MISMATCH',
  'ERR_SM_CORRUPT_FILE',
  'ERR_SM_INVALID_ROLLOUT',
  'ERR_SM_MISSING_DEPENDENCY',
  'ERR_SM_NO_BINARY',
] as const;

/** Every `code` an error thrown by this package can carry. */
export type SamplingMaskErrorCode = (typeof ERROR_CODES)[number];

export interface SamplingMaskErrorFields {
  code: SamplingMaskErrorCode;
  argument: string;
  row?: number;
  column?: number;
}

/** An error of this package: what every thrown error is (TypeError or RangeError). */
export type SamplingMaskError = (TypeError | RangeError) & SamplingMaskErrorFields;

/** Extra fields an error carries: the row (a number alone means the row), a request id, ... */
export type ErrorFields = number | { row?: number; [field: string]: unknown };

function fieldsOf(fields: ErrorFields | undefined): object {
  if (typeof fields === 'number') return { row: fields };
  return fields ?? {};
}

/** A RangeError with code and argument, and the extra fields callers branch on. */
export function rangeError(
  code: SamplingMaskErrorCode,
  argument: string,
  message: string,
  fields?: ErrorFields,
): RangeError & SamplingMaskErrorFields {
  return Object.assign(new RangeError(`${argument}: ${message}`), { code, argument, ...fieldsOf(fields) });
}

/** Bytes that are not a readable file of the format (cut short: ERR_SM_TRUNCATED; otherwise ERR_SM_CORRUPT_FILE). */
export function fileError(
  code: 'ERR_SM_TRUNCATED' | 'ERR_SM_CORRUPT_FILE',
  argument: string,
  message: string,
  cause?: unknown,
): RangeError & SamplingMaskErrorFields {
  return Object.assign(rangeError(code, argument, message), cause === undefined ? {} : { cause });
}

/**
 * A RangeError about the package's environment rather than an argument (no
 * binary loads, an optional package is not installed): its message is whole,
 * its argument names what is missing.
 */
export function environmentError(
  code: 'ERR_SM_NO_BINARY' | 'ERR_SM_MISSING_DEPENDENCY',
  missing: string,
  message: string,
  fields?: ErrorFields,
): RangeError & SamplingMaskErrorFields {
  return Object.assign(new RangeError(message), { code, argument: missing, ...fieldsOf(fields) });
}

/** A TypeError (code ERR_SM_INVALID_ARG_TYPE) naming the argument. */
export function typeError(argument: string, message: string, fields?: ErrorFields): TypeError & SamplingMaskErrorFields {
  return Object.assign(new TypeError(`${argument}: ${message}`), {
    code: 'ERR_SM_INVALID_ARG_TYPE' as const,
    argument,
    ...fieldsOf(fields),
  });
}
