'use strict';
// Inputs that compare two backends of mask(): random rows and the
// adversarial ones (ties at the k-th value and at the top-p boundary, -inf,
// all-equal rows, narrow rows that overflow the candidate lists, bf16/f16,
// vocabularies that break 16-byte alignment). Plain CommonJS that needs
// only node: the jest suite uses it, and so does scripts/gpu-check.js on a
// machine that has nothing else.
const { encode, f32ToBf16, f32ToF16, rng } = require('./shared');

function normal(next) {
  let u = next();
  while (u === 0) u = next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

// Row generators: fill(values, row, next) writes one row of f32 values.
const rows = {
  normal: (sigma) => (v, r, next) => {
    for (let i = 0; i < v.length; i++) v[i] = sigma * normal(next);
  },
  // Heavy ties everywhere: small integers, or multiples of a quarter.
  ties: (step) => (v, r, next) => {
    for (let i = 0; i < v.length; i++) v[i] = Math.round((3 * normal(next)) / step) * step;
  },
  equal: (value) => (v) => v.fill(value),
  // Nearly all values in one 12-bit key bin: candidate lists overflow.
  narrow: (center, width) => (v, r, next) => {
    for (let i = 0; i < v.length; i++) v[i] = center + width * normal(next);
  },
  // Zipf-like: log-probabilities of a power law, shuffled, plus noise.
  zipf: (v, r, next) => {
    for (let i = 0; i < v.length; i++) v[i] = -1.1 * Math.log(1 + i) + 0.1 * normal(next);
    for (let i = v.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      const t = v[i];
      v[i] = v[j];
      v[j] = t;
    }
  },
  // Like an LLM: a broad bulk and a few high logits, some exactly tied.
  peaked: (v, r, next) => {
    for (let i = 0; i < v.length; i++) v[i] = 2 * normal(next);
    const spikes = 1 + Math.floor(next() * 20);
    const top = 15 + 5 * next();
    for (let s = 0; s < spikes; s++) v[Math.floor(next() * v.length)] = top - Math.floor(next() * 4) * 0.5;
  },
  // -inf entries ("already excluded"); every 7th row keeps a single finite value.
  negInf: (fraction) => (v, r, next) => {
    for (let i = 0; i < v.length; i++) v[i] = next() < fraction ? -Infinity : 3 * normal(next);
    if (r % 7 === 3) {
      v.fill(-Infinity);
      v[Math.floor(next() * v.length)] = normal(next);
    }
  },
  // Magnitudes up to the f32 limit: with T < 1, z = x / T is -inf for many
  // finite survivors while z_max stays finite.
  huge: (v, r, next) => {
    for (let i = 0; i < v.length; i++) v[i] = (next() * 4.4 - 3.4) * 1e38;
  },
  // Rows alternate between the generators given.
  mixed:
    (...gens) =>
    (v, r, next) =>
      gens[r % gens.length](v, r, next),
};

/** A tensor [B, V] of the dtype, filled row by row by gen, from a seed. */
function makeLogits(gen, B, V, dtype, seed) {
  const next = rng(seed);
  const row = new Float32Array(V);
  const data = dtype === 'float32' ? new Float32Array(B * V) : new Uint16Array(B * V);
  for (let r = 0; r < B; r++) {
    gen(row, r, next);
    data.set(encode(row, dtype), r * V);
  }
  return { data, shape: [B, V], dtype };
}

/** Per-row parameters drawn from the listed choices (seeded). */
function perRowParams(B, seed, choices) {
  const next = rng(seed);
  const pick = (list) => list[Math.floor(next() * list.length)];
  const out = {};
  for (const [name, list] of Object.entries(choices)) {
    const values = name === 'topK' ? new Int32Array(B) : new Float64Array(B);
    for (let r = 0; r < B; r++) values[r] = pick(list);
    out[name] = values;
  }
  return out;
}

const MIXED = {
  temperature: [0, 0.5, 1, 1, 1.5, 0.7],
  minP: [0, 0, 0, 0.05, 0.2, 1],
  topK: [-1, 0, 1, 2, 20, 50, 1000, 5000],
  topP: [1, 1, 0.9, 0.5, 0.01, 0.999],
};

// Each case: name, B, V, dtype, gen, params (object or (B) => object), fill,
// and `error` when every backend must refuse the batch identically.
function parityCases(mode) {
  const q = mode === 'quick';
  const V = (full, quick) => (q ? quick : full);
  const k50p09 = { topK: 50, topP: 0.9 };
  // One case a line: a table to read down.
  // prettier-ignore
  const cases = [
    { name: 'normal f32 k50 p0.9', B: q ? 4 : 128, V: V(131072, 8192), dtype: 'float32', gen: rows.normal(3), params: k50p09 },
    { name: 'normal f32 p0.9', B: q ? 4 : 64, V: V(131072, 8192), dtype: 'float32', gen: rows.normal(3), params: { topP: 0.9 } },
    { name: 'normal f32 k50', B: q ? 3 : 64, V: V(128256, 5000), dtype: 'float32', gen: rows.normal(3), params: { topK: 50 } },
    { name: 'mixed per-row params', B: q ? 16 : 256, V: V(32000, 3001), dtype: 'float32', gen: rows.mixed(rows.normal(3), rows.peaked, rows.zipf), params: (B) => perRowParams(B, 7, MIXED) },
    { name: 'peaked bf16 T0.7 k50 p0.9', B: q ? 4 : 32, V: V(151936, 6000), dtype: 'bfloat16', gen: rows.peaked, params: { temperature: 0.7, topK: 50, topP: 0.9 } },
    { name: 'normal f16 minP0.05 p0.95', B: q ? 4 : 32, V: V(151936, 6000), dtype: 'float16', gen: rows.normal(2), params: { minP: 0.05, topP: 0.95 } },
    { name: 'B=1 V=262144 k50 p0.9', B: 1, V: V(262144, 20000), dtype: 'float32', gen: rows.normal(3), params: k50p09 },
    { name: 'B=3 V=262144 bf16 p0.9', B: 3, V: V(262144, 20000), dtype: 'bfloat16', gen: rows.zipf, params: { topP: 0.9 } },
    { name: 'B=1024 V=4096 mixed', B: q ? 64 : 1024, V: 4096, dtype: 'float32', gen: rows.mixed(rows.normal(3), rows.ties(1)), params: (B) => perRowParams(B, 11, MIXED) },
    { name: 'unaligned V=50257 ties k50 p0.9', B: q ? 5 : 64, V: V(50257, 3001), dtype: 'float32', gen: rows.ties(1), params: k50p09 },
    { name: 'unaligned V=1003 f16 quarter ties', B: q ? 9 : 333, V: 1003, dtype: 'float16', gen: rows.ties(0.25), params: (B) => perRowParams(B, 13, MIXED) },
    { name: 'ties at k-th and top-p boundary', B: q ? 8 : 128, V: V(32000, 4000), dtype: 'float32', gen: rows.ties(0.5), params: (B) => perRowParams(B, 17, { topK: [1, 10, 50, 100], topP: [0.3, 0.5, 0.9, 1], temperature: [1, 0.5, 2] }) },
    { name: 'all-equal rows', B: q ? 6 : 24, V: V(131072, 10000), dtype: 'float32', gen: rows.mixed(rows.equal(0), rows.equal(5), rows.equal(-1e30)), params: (B) => perRowParams(B, 19, { topK: [-1, 1, 50], topP: [1, 0.9, 0.01], temperature: [0, 1, 0.5] }) },
    { name: 'narrow rows (lists overflow)', B: q ? 6 : 32, V: V(131072, 20000), dtype: 'float32', gen: rows.narrow(5, 1e-3), params: (B) => perRowParams(B, 23, { topK: [-1, 50, 3000], topP: [1, 0.9, 0.5], temperature: [1, 0.3] }) },
    { name: 'narrow bf16 (heavy ties)', B: q ? 4 : 16, V: V(131072, 20000), dtype: 'bfloat16', gen: rows.narrow(5, 0.05), params: { topK: 50, topP: 0.9 } },
    { name: 'huge k (refined top-k)', B: q ? 3 : 16, V: V(131072, 20000), dtype: 'float32', gen: rows.normal(3), params: { topK: q ? 5000 : 10000, topP: 0.95 } },
    { name: '-inf entries', B: q ? 14 : 64, V: V(32000, 3000), dtype: 'float32', gen: rows.negInf(0.5), params: (B) => perRowParams(B, 29, MIXED) },
    { name: 'huge magnitudes T0.5', B: q ? 4 : 16, V: V(32000, 3000), dtype: 'float32', gen: rows.huge, params: (B) => perRowParams(B, 37, { temperature: [0.5], topK: [-1, 50, 2000], topP: [1, 0.9], minP: [0, 1e-30] }) },
    { name: 'min-p only T1.5', B: q ? 4 : 64, V: V(65536, 5000), dtype: 'bfloat16', gen: rows.normal(3), params: { temperature: 1.5, minP: 0.1 } },
    { name: 'greedy', B: q ? 4 : 64, V: V(65536, 5000), dtype: 'float32', gen: rows.ties(1), params: { temperature: 0 } },
    { name: 'all off', B: q ? 4 : 32, V: V(65536, 5000), dtype: 'float32', gen: rows.negInf(0.3), params: {} },
    { name: 'fill k50 p0.9 f32', B: q ? 4 : 64, V: V(131072, 8192), dtype: 'float32', gen: rows.normal(3), params: k50p09, fill: true },
    { name: 'fill mixed bf16', B: q ? 8 : 64, V: V(32001, 3001), dtype: 'bfloat16', gen: rows.mixed(rows.peaked, rows.ties(1)), params: (B) => perRowParams(B, 31, MIXED), fill: true },
    { name: 'fill p0.5 f16', B: q ? 4 : 32, V: V(65536, 4096), dtype: 'float16', gen: rows.normal(3), params: { topP: 0.5 }, fill: true },
    { name: 'error: NaN', B: 8, V: 4099, dtype: 'float32', gen: rows.normal(3), params: k50p09, poison: { row: 5, column: 4000, value: NaN }, error: true },
    { name: 'error: +inf (bf16)', B: 8, V: 4099, dtype: 'bfloat16', gen: rows.normal(3), params: k50p09, poison: { row: 2, column: 17, value: Infinity }, error: true },
    { name: 'error: no finite value', B: 8, V: 4099, dtype: 'float32', gen: rows.normal(3), params: k50p09, poison: { row: 6, column: -1, value: -Infinity }, error: true },
    { name: 'error: max / T overflows', B: 4, V: 4099, dtype: 'float32', gen: rows.huge, params: { temperature: 1e-3 }, error: true },
  ];
  return cases;
}

/** The case's logits and parameters, materialized. */
function materialize(c, seed = 1) {
  const logits = makeLogits(c.gen, c.B, c.V, c.dtype, seed);
  if (c.poison) {
    const { row, column, value } = c.poison;
    const bits = c.dtype === 'bfloat16' ? f32ToBf16 : f32ToF16;
    const put = (i, v) => {
      if (c.dtype === 'float32') logits.data[i] = v;
      else logits.data[i] = v === -Infinity ? (c.dtype === 'bfloat16' ? 0xff80 : 0xfc00) : Number.isNaN(v) ? 0x7fc0 : bits(v);
    };
    if (column >= 0) put(row * c.V + column, value);
    else for (let i = 0; i < c.V; i++) put(row * c.V + i, value);
  }
  const params = typeof c.params === 'function' ? c.params(c.B) : c.params;
  return { logits, params };
}

function copyTensor(t) {
  return { data: t.data.slice(), shape: t.shape.slice(), dtype: t.dtype };
}

/** Row-by-row comparison of two SamplingMasks: mismatching rows and the first few. */
function compareMasks(a, b, limit = 5) {
  const rowsA = a.offsets.length - 1;
  const out = { rows: rowsA, mismatched: 0, first: [] };
  if (b.offsets.length - 1 !== rowsA) {
    out.mismatched = rowsA;
    out.first.push({ row: -1, why: `row counts differ: ${rowsA} vs ${b.offsets.length - 1}` });
    return out;
  }
  for (let r = 0; r < rowsA; r++) {
    const x = a.indices.subarray(a.offsets[r], a.offsets[r + 1]);
    const y = b.indices.subarray(b.offsets[r], b.offsets[r + 1]);
    let same = x.length === y.length;
    let at = 0;
    for (; same && at < x.length; at++) if (x[at] !== y[at]) same = false;
    if (same) continue;
    out.mismatched++;
    if (out.first.length < limit) {
      let d = 0;
      while (d < Math.min(x.length, y.length) && x[d] === y[d]) d++;
      out.first.push({ row: r, countA: x.length, countB: y.length, firstDiff: d, idA: x[d], idB: y[d] });
    }
  }
  return out;
}

/** The index of the first differing element of two typed arrays, or -1. */
function firstDifference(x, y) {
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i] && !(Number.isNaN(x[i]) && Number.isNaN(y[i]))) return i;
  return -1;
}

module.exports = {
  rows,
  makeLogits,
  perRowParams,
  parityCases,
  materialize,
  copyTensor,
  compareMasks,
  firstDifference,
};
