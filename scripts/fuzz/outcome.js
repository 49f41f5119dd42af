// What the fuzzer accepts from a call: a result that is well formed, an
// error that is a TypeError or RangeError with a code from ERROR_CODES, or
// the very exception a hostile getter of the fuzzer threw. Anything else is
// a finding, returned as a short string (null when the outcome is fine).
'use strict';
const { isHostileError } = require('./hostile');

/**
 * Why a thrown error is not acceptable, or null. With the shape of the
 * call's logits, a row or column the error names must lie inside it (an
 * error naming a column past vocab means something read past the row).
 */
function checkError(e, codes, shape) {
  if (isHostileError(e)) return null;
  const kind = e instanceof TypeError ? 'TypeError' : e instanceof RangeError ? 'RangeError' : null;
  const name = e !== null && typeof e === 'object' ? `${e.constructor?.name ?? 'object'}` : typeof e;
  const message = e !== null && typeof e === 'object' ? String(e.message) : String(e);
  if (kind === null) return `not a TypeError or RangeError: ${name}: ${message}`;
  if (!codes.includes(e.code)) return `uncoded ${kind} (code ${String(e.code)}): ${message}`;
  if (typeof e.argument !== 'string') return `${kind} ${e.code} without an argument: ${message}`;
  if (shape && e.argument === 'logits') {
    if (e.row !== undefined && !(e.row >= 0 && e.row < shape.rows)) return `${e.code} names row ${e.row} of ${shape.rows}: ${message}`;
    if (e.column !== undefined && !(e.column >= 0 && e.column < shape.vocab)) {
      return `${e.code} names column ${e.column} of ${shape.vocab}: ${message}`;
    }
  }
  return null;
}

// The kind of a typed array from its internal slot (an own Symbol.toStringTag cannot fake it).
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;

const typedArrayLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'length').get;

function isTyped(value, name) {
  return typedArrayName.call(value) === name;
}

/** Why a SamplingMask (from the package) is not a well-formed CSR over its vocab, or null. */
function checkMask(m, SamplingMask, rows) {
  if (!(m instanceof SamplingMask)) return 'result is not a SamplingMask';
  const { offsets, indices, vocab } = m;
  if (!isTyped(offsets, 'Int32Array') || !isTyped(indices, 'Int32Array')) return 'mask arrays are not Int32Arrays';
  if (!Number.isInteger(vocab) || vocab < 1) return `mask vocab ${vocab}`;
  const count = typedArrayLength.call(offsets) - 1;
  if (rows !== undefined && count !== rows) return `mask has ${count} rows, expected ${rows}`;
  if (offsets[0] !== 0 || offsets[count] !== typedArrayLength.call(indices)) return 'mask offsets do not span indices';
  for (let r = 0; r < count; r++) {
    if (offsets[r + 1] < offsets[r]) return `mask offsets decrease at row ${r}`;
    for (let j = offsets[r]; j < offsets[r + 1]; j++) {
      if (indices[j] < 0 || indices[j] >= vocab || (j > offsets[r] && indices[j] <= indices[j - 1])) {
        return `mask row ${r} has id ${indices[j]} (vocab ${vocab}) out of order or range`;
      }
    }
  }
  return null;
}

/** Why a trainer result does not have the promised arrays, or null. */
function checkFloats(result, field, length) {
  const values = result?.[field];
  if (!isTyped(values, 'Float32Array')) return `${field} is not a Float32Array`;
  if (length !== undefined && values.length !== length) return `${field} has ${values.length} values, expected ${length}`;
  return null;
}

module.exports = { checkError, checkMask, checkFloats };
