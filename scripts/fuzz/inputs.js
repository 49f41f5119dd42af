// Valid inputs of every kind the package takes, small and seeded, over an
// ArrayBuffer or a given SharedArrayBuffer region: the starting points the
// fuzzer corrupts, and what racing threads overwrite.
'use strict';

const kDTypes = ['float32', 'bfloat16', 'float16'];

// f32 -> bf16 (truncation) / f16 (round to nearest) raw bits.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toBits(value, dtype) {
  f32[0] = value;
  const bits = u32[0];
  if (dtype === 'bfloat16') return bits >>> 16;
  const sign = (bits >>> 16) & 0x8000;
  if (!Number.isFinite(value)) return sign | (Number.isNaN(value) ? 0x7e00 : 0x7c00);
  const magnitude = Math.min(Math.abs(value), 65504);
  if (magnitude < 6.1e-5) return sign;
  const exponent = Math.floor(Math.log2(magnitude));
  const mantissa = Math.round((magnitude / 2 ** exponent - 1) * 1024);
  return sign | ((exponent + 15 + (mantissa >> 10)) << 10) | (mantissa & 0x3ff);
}

/** A logit value: mostly N(0, 3)-like, a few -inf (allowed: already excluded). */
function logit(rng) {
  if (rng.chance(0.03)) return -Infinity;
  return (rng.next() + rng.next() + rng.next() - 1.5) * 6;
}

/** Memory for n elements of Kind: a fresh ArrayBuffer, or the next part of a shared arena. */
class Arena {
  constructor(shared) {
    this.shared = shared; // { buffer: SharedArrayBuffer, at: byte offset, end } or null
  }

  alloc(Kind, n) {
    if (!this.shared) return new Kind(n);
    const s = this.shared;
    s.at = Math.ceil(s.at / 8) * 8;
    const bytes = n * Kind.BYTES_PER_ELEMENT;
    if (s.at + bytes > s.end) throw new Error(`fuzz arena too small: ${s.at + bytes} > ${s.end}`);
    const view = new Kind(s.buffer, s.at, n);
    s.at += bytes;
    return view;
  }
}

/** Logits [rows, vocab] (or [b, t, vocab]) of a dtype, as a tensor or a plain Float32Array. */
function logits(rng, arena, rows, vocab, dtype = rng.pick(kDTypes)) {
  const data = arena.alloc(dtype === 'float32' ? Float32Array : Uint16Array, rows * vocab);
  // One random row; the others are it rotated (cheap for wide rows, still distinct).
  for (let i = 0; i < vocab; i++) data[i] = dtype === 'float32' ? logit(rng) : toBits(logit(rng), dtype);
  for (let r = 1; r < rows; r++) {
    const shift = rng.int(0, vocab - 1);
    data.copyWithin(r * vocab, shift, vocab);
    data.copyWithin(r * vocab + vocab - shift, 0, shift);
  }
  // Every row needs a finite value to be valid.
  for (let r = 0; r < rows; r++) data[r * vocab + rng.int(0, vocab - 1)] = dtype === 'float32' ? 1 : toBits(1, dtype);
  if (dtype === 'float32' && rng.chance(0.2)) return { tensor: data, plainVocab: vocab };
  const split = rows % 2 === 0 && rows > 2 && rng.chance(0.3);
  const shape = split ? [2, rows / 2, vocab] : [rows, vocab];
  return { tensor: { data, shape, dtype } };
}

/** Sorted unique ids of one mask row, never empty (a row keeps at least its maximum). */
function keptRow(rng, vocab) {
  const ids = new Set();
  const n = rng.int(1, Math.min(vocab, 8));
  while (ids.size < n) ids.add(rng.int(0, vocab - 1));
  return Array.from(ids).sort((a, b) => a - b);
}

function keptLists(rng, rows, vocab) {
  return Array.from({ length: rows }, () => keptRow(rng, vocab));
}

/** A mask's CSR arrays (in the arena), each row kept non-empty. */
function csr(rng, arena, rows, vocab) {
  const lists = keptLists(rng, rows, vocab);
  const total = lists.reduce((a, l) => a + l.length, 0);
  const offsets = arena.alloc(Int32Array, rows + 1);
  const indices = arena.alloc(Int32Array, total);
  let at = 0;
  lists.forEach((list, r) => {
    indices.set(list, at);
    at += list.length;
    offsets[r + 1] = at;
  });
  return { offsets, indices, lists };
}

/** Per-row sampling parameters, as numbers, arrays or typed arrays (in the arena when shared). */
function samplingOptions(rng, arena, rows) {
  const perRow = (make, Kind) => {
    const form = rng.int(0, 2);
    if (form === 0) return make();
    if (form === 1) return Array.from({ length: rows }, make);
    const values = arena.alloc(Kind, rows);
    for (let r = 0; r < rows; r++) values[r] = make();
    return values;
  };
  const options = {};
  if (rng.chance(0.7)) options.temperature = perRow(() => rng.pick([0, 0.5, 0.7, 1, 1.3]), Float32Array);
  if (rng.chance(0.4)) options.minP = perRow(() => rng.pick([0, 0.05, 0.2]), Float32Array);
  if (rng.chance(0.6)) options.topK = perRow(() => rng.pick([-1, 0, 1, 2, 5, 50]), Int32Array);
  if (rng.chance(0.6)) options.topP = perRow(() => rng.pick([0.5, 0.9, 1]), Float32Array);
  if (rng.chance(0.2)) options.fillLogits = true;
  if (rng.chance(0.1)) options.profile = true;
  if (rng.chance(0.2)) options.backend = 'cpu';
  if (rng.chance(0.3)) options.onInvalidRow = rng.pick(['skip', 'throw']);
  return options;
}

function targets(rng, arena, rows, vocab, lists) {
  const ids = arena.alloc(Int32Array, rows);
  for (let r = 0; r < rows; r++) ids[r] = lists && rng.chance(0.9) ? rng.pick(lists[r]) : rng.int(0, vocab - 1);
  return ids;
}

function trainerTemperature(rng, arena, rows) {
  if (rng.chance(0.5)) return rng.pick([0.5, 1, 2]);
  const values = arena.alloc(Float32Array, rows);
  for (let r = 0; r < rows; r++) values[r] = rng.pick([0.5, 1, 2]);
  return values;
}

function gradOutput(rng, arena, rows) {
  if (rng.chance(0.3)) return 1;
  const values = arena.alloc(Float32Array, rows);
  for (let r = 0; r < rows; r++) values[r] = rng.next() * 2 - 1;
  return values;
}

module.exports = { Arena, logits, keptLists, csr, samplingOptions, targets, trainerTemperature, gradOutput, toBits };
