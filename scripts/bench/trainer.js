'use strict';
// The trainer side against baselines measured in the same run, interleaved
// (baseline, candidate, baseline, ...) so that load on the machine hits both
// alike. f32 logits, 50 random kept ids per row, the backend's threads.
// - maskedLogprobs vs the dense path, two ways:
//   * a plain JS loop (one thread): copy the row, fill -inf between the kept
//     ids, max, sum of Math.exp over the whole row, log, gather the target;
//   * this package's own native dense path (same threads, same SIMD exp):
//     applyMask in place on a private copy, then maskedLogprobs with mask
//     null (a vectorized full log-softmax that gathers the target). This is
//     the strongest dense baseline we have; it is reported for reference.
// - applyMask (in place, and into a new tensor) vs one read plus one write of
//   the logits: TypedArray.prototype.set into a preallocated array, and
//   slice() (allocate + copy) for the new-tensor case (one memcpy, one thread).
// - SamplingMask.fromBitmask vs unpacking every bit in a plain JS loop (what
//   numpy unpackbits + nonzero does), 64 rows x V = 151936.
const sm = require('../..');
const { rng } = require('../shared');
const { median } = require('./util');

const KEPT = 50;

// Distinct ascending ids per row; the first is each row's target.
function randomMask(rows, vocab, next) {
  const offsets = new Int32Array(rows + 1);
  const indices = new Int32Array(rows * KEPT);
  const targets = new Int32Array(rows);
  const chosen = new Set();
  for (let r = 0; r < rows; r++) {
    chosen.clear();
    while (chosen.size < KEPT) chosen.add(Math.floor(next() * vocab));
    const ids = Int32Array.from(chosen).sort();
    indices.set(ids, r * KEPT);
    offsets[r + 1] = (r + 1) * KEPT;
    targets[r] = ids[Math.floor(next() * KEPT)];
  }
  return { mask: new sm.SamplingMask(offsets, indices, vocab), targets };
}

// Normal-ish logits, tiled from a random block (filling 10^8 entries one by one would dominate the run).
function randomLogits(rows, vocab, next) {
  const data = new Float32Array(rows * vocab);
  const block = new Float32Array(1 << 16);
  for (let i = 0; i < block.length; i++) block[i] = (next() + next() + next() - 1.5) * 4;
  for (let i = 0; i < data.length; i += block.length - 7) data.set(block.subarray(0, Math.min(block.length, data.length - i)), i);
  return data;
}

/** Medians of candidate and baseline, timed alternately. */
async function compare(candidate, baseline, { repeats = 7, warmup = 1 } = {}) {
  for (let i = 0; i < warmup; i++) {
    await candidate();
    await baseline();
  }
  const times = { candidate: [], baseline: [] };
  for (let i = 0; i < repeats; i++) {
    for (const [name, fn] of [
      ['baseline', baseline],
      ['candidate', candidate],
    ]) {
      const start = process.hrtime.bigint();
      await fn();
      times[name].push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
  return { ms: median(times.candidate), baselineMs: median(times.baseline) };
}

// The straightforward dense log-prob of each row's target, in plain JS.
function denseLogprobsJs(logits, mask, targets) {
  const vocab = mask.vocab;
  const row = new Float32Array(vocab);
  const out = new Float32Array(mask.rows);
  for (let r = 0; r < mask.rows; r++) {
    row.set(logits.subarray(r * vocab, (r + 1) * vocab));
    let next = 0;
    for (const id of mask.row(r)) {
      row.fill(-Infinity, next, id);
      next = id + 1;
    }
    row.fill(-Infinity, next);
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) if (row[i] > max) max = row[i];
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += Math.exp(row[i] - max);
    out[r] = row[targets[r]] - max - Math.log(sum);
  }
  return out;
}

function worstDifference(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

async function trainerRows(batch, steps, vocab, next) {
  const rows = batch * steps;
  const logits = randomLogits(rows, vocab, next);
  const { mask, targets } = randomMask(rows, vocab, next);
  const tensor = { data: logits, shape: [batch, steps, vocab], dtype: 'float32' };
  const shape = `${batch}x${steps}x${vocab}`;
  const scratch = { ...tensor, data: logits.slice() };
  const masked = () => sm.maskedLogprobs(tensor, mask, targets);
  const denseNative = () => {
    sm.applyMask(scratch, mask, { inPlace: true });
    return sm.maskedLogprobs(scratch, null, targets);
  };
  const reference = masked().logprobs;
  for (const [name, other] of [
    ['native dense', denseNative().logprobs],
    ['JS dense', denseLogprobsJs(logits, mask, targets)],
  ]) {
    const worst = worstDifference(reference, other);
    if (worst > 1e-5) throw new Error(`bench: masked and ${name} log-probs disagree by ${worst}`);
  }
  const js = await compare(masked, () => denseLogprobsJs(logits, mask, targets), { repeats: 3 });
  const native = await compare(masked, denseNative, { repeats: 5 });
  const inPlace = await compare(
    () => sm.applyMask(scratch, mask, { inPlace: true }),
    () => scratch.data.set(logits),
    { repeats: 5 },
  );
  const fresh = await compare(
    () => sm.applyMask(tensor, mask),
    () => logits.slice(),
    { repeats: 3 },
  );
  const row = (op, result, baseline, target) => ({
    op,
    shape,
    ms: result.ms,
    baseline,
    baseline_ms: result.baselineMs,
    speedup: result.baselineMs / result.ms,
    target,
  });
  return [
    row('maskedLogprobs', js, 'dense: plain JS loop, 1 thread', '>= 100x'),
    row('maskedLogprobs', native, 'dense: applyMask + native SIMD log-softmax, same threads', 'reference'),
    row('applyMask inPlace', inPlace, 'TypedArray.set (read + write)', '>= 0.5x'),
    row('applyMask new tensor', fresh, 'slice() (alloc + read + write)', '>= 0.5x'),
  ];
}

// The unpack-every-bit baseline: test each of rows x vocab bits.
function unpackEveryBit(bytes, rows, vocab) {
  const rowBytes = Math.ceil(vocab / 8);
  const ids = [];
  const offsets = new Int32Array(rows + 1);
  for (let r = 0; r < rows; r++) {
    const start = r * rowBytes;
    for (let i = 0; i < vocab; i++) if ((bytes[start + (i >> 3)] >> (i & 7)) & 1) ids.push(i);
    offsets[r + 1] = ids.length;
  }
  return { offsets, indices: Int32Array.from(ids) };
}

async function bitmaskRows(next) {
  const rows = 64;
  const vocab = 151936;
  const bytes = randomMask(rows, vocab, next).mask.toBitmask();
  const decoded = sm.SamplingMask.fromBitmask(bytes, rows, vocab);
  const baseline = unpackEveryBit(bytes, rows, vocab);
  if (decoded.indices.length !== baseline.indices.length || decoded.indices.some((id, i) => id !== baseline.indices[i])) {
    throw new Error('bench: fromBitmask and the unpack baseline disagree');
  }
  const result = await compare(
    () => sm.SamplingMask.fromBitmask(bytes, rows, vocab),
    () => unpackEveryBit(bytes, rows, vocab),
    {
      repeats: 15,
      warmup: 3,
    },
  );
  return [
    {
      op: 'fromBitmask',
      shape: `${rows}x${vocab}`,
      ms: result.ms,
      baseline: 'unpack every bit (JS)',
      baseline_ms: result.baselineMs,
      speedup: result.baselineMs / result.ms,
      target: '>= 10x',
    },
  ];
}

module.exports = {
  name: 'trainer',
  async run() {
    const next = rng(3);
    return [...(await trainerRows(8, 512, 32000, next)), ...(await trainerRows(4, 128, 151936, next)), ...(await bitmaskRows(next))];
  },
};
