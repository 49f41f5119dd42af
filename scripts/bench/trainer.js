'use strict';
// The trainer side against baselines measured in the same run, f32 logits,
// 50 random kept ids per row, on the backend's threads:
// - maskedLogprobs vs the dense path: fill -inf over every row (applyMask in
//   place on a private copy), then a full log-softmax over all V ids, gathering
//   the target (maskedLogprobs with mask null: the same native code, exp and
//   threads, vectorized over the whole row).
// - applyMask (in place, and into a new tensor) vs one read plus one write of
//   the logits: TypedArray.prototype.set into a preallocated array, and slice()
//   (allocate + copy) for the new-tensor case. Both baselines are one memcpy
//   on one thread.
// - SamplingMask.fromBitmask vs unpacking every bit in a plain JS loop (what
//   numpy unpackbits + nonzero does), 64 rows x V = 151936.
const sm = require('../..');
const { rng } = require('./util');

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

async function trainerRows(timeIt, batch, steps, vocab, next) {
  const rows = batch * steps;
  const logits = randomLogits(rows, vocab, next);
  const { mask, targets } = randomMask(rows, vocab, next);
  const tensor = { data: logits, shape: [batch, steps, vocab], dtype: 'float32' };
  const heavy = { repeats: 5, warmup: 1 };
  const shape = `${batch}x${steps}x${vocab}`;

  const masked = await timeIt(() => sm.maskedLogprobs(tensor, mask, targets));
  const scratch = { ...tensor, data: logits.slice() };
  const dense = await timeIt(() => {
    sm.applyMask(scratch, mask, { inPlace: true });
    return sm.maskedLogprobs(scratch, null, targets);
  }, heavy);
  const a = sm.maskedLogprobs(tensor, mask, targets).logprobs;
  const b = sm.maskedLogprobs(scratch, null, targets).logprobs;
  let worst = 0;
  for (let i = 0; i < rows; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  if (worst > 1e-5) throw new Error(`bench: masked and dense log-probs disagree by ${worst}`);

  const copy = scratch.data;
  const memcpy = await timeIt(() => copy.set(logits), heavy);
  const inPlace = await timeIt(() => sm.applyMask(scratch, mask, { inPlace: true }), heavy);
  const slice = await timeIt(() => logits.slice(), heavy);
  const fresh = await timeIt(() => sm.applyMask(tensor, mask), heavy);
  return [
    { op: 'maskedLogprobs', shape, ms: masked, baseline: 'applyMask + full log-softmax + gather', baseline_ms: dense, speedup: dense / masked, target: '>= 100x' },
    { op: 'applyMask inPlace', shape, ms: inPlace, baseline: 'TypedArray.set (read + write)', baseline_ms: memcpy, speedup: memcpy / inPlace, target: '>= 0.5x' },
    { op: 'applyMask new tensor', shape, ms: fresh, baseline: 'slice() (alloc + read + write)', baseline_ms: slice, speedup: slice / fresh, target: '>= 0.5x' },
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

async function bitmaskRows(timeIt, next) {
  const rows = 64;
  const vocab = 151936;
  const bytes = randomMask(rows, vocab, next).mask.toBitmask();
  const decoded = sm.SamplingMask.fromBitmask(bytes, rows, vocab);
  const baseline = unpackEveryBit(bytes, rows, vocab);
  if (decoded.indices.length !== baseline.indices.length || decoded.indices.some((id, i) => id !== baseline.indices[i])) {
    throw new Error('bench: fromBitmask and the unpack baseline disagree');
  }
  const fast = await timeIt(() => sm.SamplingMask.fromBitmask(bytes, rows, vocab), { repeats: 21, warmup: 5 });
  const slow = await timeIt(() => unpackEveryBit(bytes, rows, vocab), { repeats: 7, warmup: 2 });
  return [
    { op: 'fromBitmask', shape: `${rows}x${vocab}`, ms: fast, baseline: 'unpack every bit (JS)', baseline_ms: slow, speedup: slow / fast, target: '>= 10x' },
  ];
}

module.exports = {
  name: 'trainer',
  async run({ timeIt }) {
    const next = rng(3);
    return [
      ...(await trainerRows(timeIt, 8, 512, 32000, next)),
      ...(await trainerRows(timeIt, 4, 128, 151936, next)),
      ...(await bitmaskRows(timeIt, next)),
    ];
  },
};
