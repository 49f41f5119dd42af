// One union of error codes: every code the addon can put on an error is one
// the facade's SamplingMaskErrorCode names, so callers can switch on it.
import { ERROR_CODES } from '../lib/errors';
import { addon } from '../lib/native';

test('every error code the addon can throw is in the exported SamplingMaskErrorCode union', () => {
  const known: readonly string[] = ERROR_CODES;
  expect(addon.errorCodes).toContain('ERR_SM_OUT_OF_MEMORY');
  for (const code of addon.errorCodes) expect(known).toContain(code);
});

test('the union lists each code once', () => {
  expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
});
