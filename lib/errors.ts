// Errors thrown by the facade have the addon's shape: a TypeError or
// RangeError with a stable `code`, the `argument` it concerns and, where it
// applies, the `row`.

export interface SamplingMaskErrorFields {
  code: string;
  argument: string;
  row?: number;
}

export function typeError(argument: string, message: string): TypeError & SamplingMaskErrorFields {
  return Object.assign(new TypeError(`${argument}: ${message}`), { code: 'ERR_SM_INVALID_ARG_TYPE', argument });
}

export function rangeError(
  code: string,
  argument: string,
  message: string,
  row?: number,
): RangeError & SamplingMaskErrorFields {
  return Object.assign(new RangeError(`${argument}: ${message}`), {
    code,
    argument,
    ...(row === undefined ? {} : { row }),
  });
}
