'use strict';
// The trainer side of the GPU check: applyMask, maskedLogprobs (+ entropy)
// and its backward on CUDA against the CPU backend (bit for bit: the CUDA
// kernels follow the CPU's lane order), on host and device tensors, and
// their benchmark rows. Used by gpu-check.js.
const path = require('path');

const sm = require(path.join(__dirname, '..', 'dist'));
const cases = require('./parity-cases');
const { kernelTarget, median } = require('./bench/util');
const { errorFields, rng } = require('./shared');

/** [N, V] logits: 64 generated rows repeated (the ops read only kept ids; masks differ per row). */
function tiledLogits(gen, N, V, dtype, seed) {
  const block = cases.makeLogits(gen, Math.min(N, 64), V, dtype, seed);
  const data = dtype === 'float32' ? new Float32Array(N * V) : new Uint16Array(N * V);
  for (let r = 0; r < N; r += 64) data.set(block.data.subarray(0, Math.min(64, N - r) * V), r * V);
  return { data, shape: [N, V], dtype };
}

/** Random ascending id lists (1..ids ids per row, or exactly ids) and targets, some outside their row. */
function randomLists(N, V, ids, { exact = false, outside = 0, seed = 1 } = {}) {
  const next = rng(seed);
  const lists = [];
  const targets = new Int32Array(N);
  for (let r = 0; r < N; r++) {
    const count = exact ? ids : 1 + Math.floor(next() * ids);
    const set = new Set();
    while (set.size < count) set.add(Math.floor(next() * V));
    const list = Int32Array.from(set).sort();
    lists.push(list);
    targets[r] = next() < outside ? Math.floor(next() * V) : list[Math.floor(next() * list.length)];
  }
  return { mask: sm.SamplingMask.fromLists(lists, V), targets };
}

/** Targets drawn from each row's kept ids. */
function keptTargets(mask, seed) {
  const next = rng(seed);
  const targets = new Int32Array(mask.rows);
  for (let r = 0; r < mask.rows; r++) {
    const begin = mask.offsets[r];
    const count = mask.offsets[r + 1] - begin;
    targets[r] = count > 0 ? mask.indices[begin + Math.floor(next() * count)] : 0;
  }
  return targets;
}

/** Bit-level comparison of two Float32Arrays: values that differ and the largest |difference|. */
function compareBits(a, b) {
  if (!a || !b || a.length !== b.length) return { differing: -1, maxAbs: Infinity };
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let differing = 0;
  let maxAbs = 0;
  for (let i = 0; i < x.length; i++) {
    if (x[i] === y[i]) continue;
    differing++;
    const d = Math.abs(a[i] - b[i]);
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
  }
  return { differing, maxAbs };
}

// One case a line: a table to read down.
// prettier-ignore
const PARITY = [
  { name: 'mask() k50 p0.9, f32', N: 512, V: 151936, dtype: 'float32', gen: 'peaked', maskParams: { topK: 50, topP: 0.9 }, apply: true, device: true },
  { name: 'mask() T0.7 p0.5, bf16', N: 256, V: 32000, dtype: 'bfloat16', gen: 'normal', maskParams: { temperature: 0.7, topP: 0.5 }, temperature: 0.7, apply: true },
  { name: 'lists 50 ids, 10% targets outside, bf16', N: 4096, V: 151936, dtype: 'bfloat16', gen: 'normal', ids: 50, exact: true, outside: 0.1 },
  { name: 'lists 1..400 ids, per-row T, f16', N: 1024, V: 65536, dtype: 'float16', gen: 'normal', ids: 400, perRowT: true, apply: true },
  { name: '3-D [8, 512, V] lists 50 ids, f32', N: 4096, V: 151936, dtype: 'float32', gen: 'normal', ids: 50, exact: true, shape3: [8, 512] },
  { name: 'every id (mask null), f32', N: 16, V: 32000, dtype: 'float32', gen: 'normal', every: true },
];

function materialize(c, small, seed) {
  const N = small ? Math.min(c.N, 16) : c.N;
  const V = small ? Math.min(c.V, 8192) : c.V;
  const gen = c.gen === 'peaked' ? cases.rows.peaked : cases.rows.normal(3);
  let logits = tiledLogits(gen, N, V, c.dtype, seed);
  let mask = null;
  let targets;
  if (c.every) {
    targets = Int32Array.from({ length: N }, (_, r) => (r * 7919) % V);
  } else if (c.maskParams) {
    mask = sm.mask(logits, { ...c.maskParams, backend: 'cpu' });
    targets = keptTargets(mask, seed);
  } else {
    ({ mask, targets } = randomLists(N, V, c.ids, { exact: c.exact, outside: c.outside || 0, seed }));
  }
  if (c.shape3 && !small) {
    logits = { ...logits, shape: [...c.shape3, V] };
    targets = { data: targets, shape: c.shape3 };
  }
  const next = rng(seed + 100);
  const temperature = c.perRowT ? Float32Array.from({ length: N }, () => 0.5 + next()) : (c.temperature ?? 1);
  const gradOutput = Float32Array.from({ length: N }, () => next() - 0.5);
  return { logits, mask, targets, temperature, gradOutput, N, V };
}

/** One case on both backends; returns its table entry, reporting every difference through problem(). */
function parityCase(c, { gpu, small, seed, problem }) {
  const t0 = Date.now();
  const { logits, mask, targets, temperature, gradOutput, N, V } = materialize(c, small, seed);
  const entry = {
    case: `${c.name} #${seed}`,
    N,
    V,
    dtype: c.dtype,
    logprobs: '',
    entropy: '',
    gradient: '',
    applyMask: '',
    outside: '',
    ms: 0,
  };
  const options = { temperature, entropy: true };
  const note = (field, cmp) => {
    entry[field] = cmp.differing === 0 ? 'identical' : `${cmp.differing} differ (max ${cmp.maxAbs})`;
    if (cmp.differing !== 0) problem(`trainer ${entry.case}: ${field} ${entry[field]}`);
  };
  const cpuLp = sm.maskedLogprobs(logits, mask, targets, { ...options, backend: 'cpu' });
  const gpuLp = sm.maskedLogprobs(logits, mask, targets, { ...options, backend: gpu });
  note('logprobs', compareBits(cpuLp.logprobs, gpuLp.logprobs));
  note('entropy', compareBits(cpuLp.entropy, gpuLp.entropy));
  entry.outside = `${cpuLp.targetsOutsideMask}/${gpuLp.targetsOutsideMask}`;
  if (cpuLp.targetsOutsideMask !== gpuLp.targetsOutsideMask) problem(`trainer ${entry.case}: targetsOutsideMask ${entry.outside}`);
  const backward = { temperature, dense: c.every === true || N * V <= 1 << 22 };
  const cpuGrad = sm.maskedLogprobsBackward(logits, mask, targets, gradOutput, { ...backward, backend: 'cpu' });
  const gpuGrad = sm.maskedLogprobsBackward(logits, mask, targets, gradOutput, { ...backward, backend: gpu });
  note('gradient', compareBits(cpuGrad.values, gpuGrad.values));
  if (backward.dense) {
    const dense = compareBits(cpuGrad.dense, gpuGrad.dense);
    if (dense.differing !== 0) problem(`trainer ${entry.case}: dense gradient differs in ${dense.differing}`);
  }
  if (c.apply) {
    const cpuOut = sm.applyMask(logits, mask, { backend: 'cpu' });
    const gpuOut = sm.applyMask(logits, mask, { backend: gpu });
    const inPlace = cases.copyTensor(logits);
    sm.applyMask(inPlace, mask, { backend: gpu, inPlace: true });
    const d = cases.firstDifference(cpuOut.data, gpuOut.data);
    const e = cases.firstDifference(cpuOut.data, inPlace.data);
    entry.applyMask = d < 0 && e < 0 ? 'identical (new, in place)' : `DIFFER at ${d} (new) / ${e} (in place)`;
    if (d >= 0 || e >= 0) problem(`trainer ${entry.case}: applyMask ${entry.applyMask}`);
    if (c.device && gpu === 'cuda') deviceCase(entry, { logits, mask, targets, gradOutput, options, cpuLp, cpuGrad, cpuOut, problem });
  }
  entry.ms = Date.now() - t0;
  return entry;
}

// maskedLogprobs, then its backward, on one DeviceTensor (uploaded once);
// then applyMask in place writes the device copy.
function deviceCase(entry, { logits, mask, targets, gradOutput, options, cpuLp, cpuGrad, cpuOut, problem }) {
  const dt = sm.toDevice(logits);
  try {
    const lp = sm.maskedLogprobs(dt, mask, targets, { ...options, profile: true });
    const grad = sm.maskedLogprobsBackward(dt, mask, targets, gradOutput, { temperature: options.temperature, profile: true });
    const same = compareBits(cpuLp.logprobs, lp.logprobs).differing === 0 && compareBits(cpuGrad.values, grad.values).differing === 0;
    sm.applyMask(dt, mask, { inPlace: true });
    const applied = cases.firstDifference(dt.download().data, cpuOut.data) < 0;
    const refused = (() => {
      try {
        sm.applyMask(dt, mask);
        return false;
      } catch (e) {
        return e.argument === 'inPlace';
      }
    })();
    entry.applyMask += `; DeviceTensor: ${same ? 'logprobs+backward identical' : 'DIFFER'}, in place ${applied ? 'identical' : 'DIFFERS'}`;
    if (!same) problem(`trainer ${entry.case}: maskedLogprobs/backward on a DeviceTensor differ from the CPU`);
    if (!applied) problem(`trainer ${entry.case}: applyMask in place on a DeviceTensor differs from the CPU`);
    if (!refused) problem(`trainer ${entry.case}: applyMask without inPlace on a DeviceTensor was not refused`);
  } finally {
    dt.free();
  }
}

/** A NaN at a kept id, another row's bad mask: both backends name the same row and column. */
function errorParity({ gpu, problem }) {
  const logits = tiledLogits(cases.rows.normal(3), 8, 4099, 'float32', 3);
  const { mask, targets } = randomLists(8, 4099, 20, { exact: true, seed: 3 });
  const kept = mask.indices[mask.offsets[5] + 2];
  logits.data[5 * 4099 + kept] = NaN;
  const shape = (backend) => {
    try {
      sm.maskedLogprobs(logits, mask, targets, { backend });
      return null;
    } catch (e) {
      return errorFields(e);
    }
  };
  const cpu = shape('cpu');
  const cuda = shape(gpu);
  const same = JSON.stringify(cpu) === JSON.stringify(cuda) && cpu !== null;
  if (!same) problem(`trainer errors differ: cpu ${JSON.stringify(cpu)} cuda ${JSON.stringify(cuda)}`);
  return {
    case: 'error: NaN at a kept id',
    N: 8,
    V: 4099,
    dtype: 'float32',
    logprobs: same ? `same (${cpu.code} row ${cpu.row} col ${cpu.column})` : 'DIFFER',
  };
}

/** Kernel time (CUDA events, median) and wall time of a call on a DeviceTensor. */
function timeDevice(call, repeats) {
  const kernel = [];
  const wall = [];
  for (let i = 0; i < 3; i++) call();
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    const result = call();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e3);
    kernel.push(result.profile.kernelMs * 1e3);
  }
  return { kernelUs: median(kernel), deviceCallUs: median(wall) };
}

/**
 * maskedLogprobs and backward at 4096 x 50 ids, V = 151936 (target <= 20 µs
 * kernel time for the forward), applyMask at [512, 151936] f32 against one
 * read + write of the logits at the measured copy bandwidth.
 */
function bench({ small, dry, quick, bandwidthGBs }) {
  const rows = [];
  const N = small ? 16 : 4096;
  const V = small ? 8192 : 151936;
  const logits = tiledLogits(cases.rows.normal(3), N, V, 'float32', 11);
  const { mask, targets } = randomLists(N, V, 50, { exact: true, seed: 11 });
  const gradOutput = new Float32Array(N).fill(1);
  const repeats = quick ? 3 : 30;
  const cpuMs = (fn) => {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const forward = { op: 'maskedLogprobs (+ entropy)', N, V, dtype: 'float32', ids: 50, target: 20 };
  const backward = { op: 'maskedLogprobsBackward', N, V, dtype: 'float32', ids: 50 };
  forward.cpuMs = cpuMs(() => sm.maskedLogprobs(logits, mask, targets, { entropy: true, backend: 'cpu' }));
  backward.cpuMs = cpuMs(() => sm.maskedLogprobsBackward(logits, mask, targets, gradOutput, { backend: 'cpu' }));
  if (!dry) {
    const dt = sm.toDevice(logits);
    try {
      Object.assign(
        forward,
        timeDevice(() => sm.maskedLogprobs(dt, mask, targets, { entropy: true, profile: true }), repeats),
      );
      Object.assign(
        backward,
        timeDevice(() => sm.maskedLogprobsBackward(dt, mask, targets, gradOutput, { profile: true }), repeats),
      );
    } finally {
      dt.free();
    }
  }
  rows.push(forward, backward);

  const applyRows = small ? 16 : 512;
  const applyLogits = { data: logits.data.subarray(0, applyRows * V), shape: [applyRows, V], dtype: 'float32' };
  const applyMask = sm.SamplingMask.fromLists(
    Array.from({ length: applyRows }, (_, r) => mask.row(r)),
    V,
  );
  const apply = { op: 'applyMask in place', N: applyRows, V, dtype: 'float32', ids: 50 };
  apply.cpuMs = cpuMs(() => sm.applyMask(applyLogits, applyMask, { backend: 'cpu' }));
  if (!dry) {
    const dt = sm.toDevice(applyLogits);
    try {
      Object.assign(
        apply,
        timeDevice(() => sm.applyMask(dt, applyMask, { inPlace: true, profile: true }), repeats),
      );
    } finally {
      dt.free();
    }
    if (bandwidthGBs) {
      apply.readWriteUs = ((2 * applyLogits.data.byteLength) / (bandwidthGBs * 1e9)) * 1e6;
      apply.ratio = apply.kernelUs / apply.readWriteUs;
    }
  }
  rows.push(apply);
  return rows;
}

function benchRow(b) {
  return {
    op: b.op,
    N: b.N,
    V: b.V,
    dtype: b.dtype,
    'ids/row': b.ids,
    'kernel µs': b.kernelUs,
    'device call µs': b.deviceCallUs,
    'read+write µs': b.readWriteUs,
    'kernel / read+write': b.ratio,
    target: kernelTarget(b),
    'CPU ms': b.cpuMs,
  };
}

module.exports = { PARITY, parityCase, errorParity, bench, benchRow };
