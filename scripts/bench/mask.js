'use strict';
// mask() on the CPU against baselines run in the same process on the same
// threads: one read of the logits (a vectorized summing pass), a
// straightforward sort-based implementation of the same rule (std::sort per
// row), and the addon as it was before the CPU work of issue 14 (built once
// from git by addon-at.js; SAMPLING_MASK_BENCH_BEFORE names another revision).
const sm = require('../..');
const { addon } = require('../../dist/native');
const { encode, rng } = require('../shared');
const { median, targetColumns, timeAlternately, turnOfEventLoop } = require('./util');
const { addonAt } = require('./addon-at');

const beforeRevision = process.env.SAMPLING_MASK_BENCH_BEFORE || 'a99d7ed61c8b6796b7a01898395861e02ae69fd2';

function normalLogits(rows, vocab, sigma, seed) {
  const next = rng(seed);
  const x = new Float32Array(rows * vocab);
  for (let i = 0; i < x.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - next()));
    const t = 2 * Math.PI * next();
    x[i] = sigma * r * Math.cos(t);
    if (i + 1 < x.length) x[i + 1] = sigma * r * Math.sin(t);
  }
  return x;
}

// LLM-like rows: a random permutation of Zipf ranks, logit = -1.2 ln(rank) + noise.
function zipfLogits(rows, vocab, seed) {
  const next = rng(seed);
  const x = new Float32Array(rows * vocab);
  const rank = new Int32Array(vocab);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < vocab; i++) rank[i] = i + 1;
    for (let i = vocab - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      const t = rank[i];
      rank[i] = rank[j];
      rank[j] = t;
    }
    for (let i = 0; i < vocab; i++) x[r * vocab + i] = 8 - 1.2 * Math.log(rank[i]) + 0.3 * (next() - 0.5);
  }
  return x;
}

// { medians, ratios }: the median ms of each of fns at each of two thread
// counts, timed in the same rounds, and the median over the rounds of each
// fn's time at the second count over its time at the first. Each round
// runs the counts in turn (in alternating order) and, after switching the
// pools of `addons`, one untimed call of each fn before the timed one. A call this short is slower after a
// companion that evicts its row, or on a pool just started, than otherwise;
// timing the counts in separate blocks of rounds showed 0.8-1.5x between two
// counts that ran the very same code, and the ratio of the two medians of 61
// rounds still 0.87-1.02x for a row that is not split: the load drifts from
// round to round, which the rounds' own ratios cancel.
async function timeAtThreadCounts(fns, counts, addons, { repeats = 151 } = {}) {
  const times = counts.map(() => fns.map(() => []));
  for (let round = 0; round < repeats; round++) {
    const order = round % 2 ? counts.map((_, k) => counts.length - 1 - k) : counts.map((_, k) => k);
    for (const c of order) {
      for (const a of addons) a?.setThreads(counts[c]);
      fns.forEach((fn, k) => {
        fn();
        const start = process.hrtime.bigint();
        fn();
        times[c][k].push(Number(process.hrtime.bigint() - start) / 1e6);
      });
    }
    await turnOfEventLoop();
  }
  const ratios = fns.map((_, k) => median(times[1][k].map((ms, round) => ms / times[0][k][round])));
  return { medians: times.map((perFn) => perFn.map(median)), ratios };
}

// The name of a case's parameters, e.g. "topK=50 topP=0.9".
const paramsName = (params) =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

// The columns every row has: the case, its time as a multiple of one read,
// the addon before, and the floor of the rule where measured ('' where not).
const timedColumns = ({ name, dist, dtype, B, V, threads, readMs, ms, beforeMs, floorMs = '' }) => ({
  case: name,
  dist,
  dtype,
  B,
  V,
  threads,
  readMs,
  ms,
  xRead: ms / readMs,
  beforeMs,
  beforeXRead: beforeMs && beforeMs / readMs,
  floorXRead: floorMs && floorMs / readMs,
});

async function run({ timeIt }) {
  const threads = sm.backendInfo().threads;
  const before = addonAt(beforeRevision);
  if (!before.addon) console.log(`(no "before" columns: ${before.reason})`);
  // Median ms of each of fns and of the addon before on the same call ('' where
  // it is not available), timed alternately so that their ratios see the same load.
  // 50 warm-up rounds: until V8's first GC after a case's first call, its
  // results cannot be freed, and each one is written to fresh pages (at
  // 1.4 MB a result, 5.6 ms a call for the first 40 calls of a process, 3.0
  // ms after, with no page fault; an orchestrator's steps are the latter).
  const timeWithBefore = async (fns, call) => {
    const times = await timeAlternately(before.addon ? [...fns, () => before.addon.mask(call)] : fns, { warmup: 50 });
    return before.addon ? times : [...times, ''];
  };
  const rows = [];
  const B = 64;
  const V = 128256;
  const normal = normalLogits(B, V, 3, 1);
  const zipf = zipfLogits(B, V, 2);
  const cases = [
    { logits: normal, dist: 'N(0,3)', params: { topK: 50, topP: 0.9 }, target: 1.5, sort: true },
    { logits: normal, dist: 'N(0,3)', params: { topK: 50 }, target: 1.5 },
    // floor: also time the exact top-p total alone (baselines.weighOnce): what top-p without top-k did before it weighed its tail approximately.
    { logits: normal, dist: 'N(0,3)', params: { topP: 0.9 }, target: 6, floor: true },
    { logits: zipf, dist: 'zipf', params: { topP: 0.9 }, target: 4, floor: true },
    { logits: zipf, dist: 'zipf', params: { minP: 0.05, topK: 50, topP: 0.9, temperature: 0.7 } },
  ];
  for (const dtype of ['float32', 'bfloat16']) {
    for (const c of cases) {
      const data = dtype === 'float32' ? c.logits : encode(c.logits, dtype);
      const call = { data, dtype, rows: B, vocab: V };
      const read = () => addon.baselines.readOnce(call);
      const mask = () => sm.mask({ data, shape: [B, V], dtype }, c.params);
      const weigh = () => addon.baselines.weighOnce(call);
      const [readMs, ms, ...rest] = await timeWithBefore(c.floor ? [read, mask, weigh] : [read, mask], { ...call, options: c.params });
      const [floorMs, beforeMs] = c.floor ? rest : ['', rest[0]];
      const row = {
        ...timedColumns({ name: paramsName(c.params), dist: c.dist, dtype, B, V, threads, readMs, ms, beforeMs, floorMs }),
        ...targetColumns(ms / readMs, c.target, 'read'),
        sortMs: '',
        xFasterThanSort: '',
      };
      if (c.sort) {
        const sortMs = await timeIt(() => addon.baselines.sortBasedMask({ ...call, options: c.params }), { repeats: 3, warmup: 1 });
        Object.assign(row, { sortMs, xFasterThanSort: sortMs / ms });
        row.target += ', >= 200x sort';
        if (sortMs / ms < 200) row.met = 'NO';
      }
      rows.push(row);
    }
  }
  // One long row: split across the threads or not (the addon decides), against
  // one thread. "Never slower" allows the 5% by which the same calls differ
  // between two timings here: a row of 151936 logits is not split, so both
  // thread counts run the very same code. Top-p rows of 2^20 and 2^21 are:
  // each is read first on one thread, and the passes that may follow are
  // split. The 2^20 row needs none; the 2^21 row (this seed) needs the exact
  // weighing, where the split pays.
  const oneRowCases = [
    { V: 151936, params: { topK: 50, topP: 0.9 } },
    { V: 151936, params: { topK: 50 } },
    { V: 151936, params: { topP: 0.9 } },
    { V: 1 << 20, params: { topP: 0.9 } },
    { V: 1 << 21, params: { topP: 0.9 } },
  ];
  for (const { V, params } of oneRowCases) {
    const single = normalLogits(1, V, 3, 3);
    const call = { data: single, dtype: 'float32', rows: 1, vocab: V };
    const tensor = { data: single, shape: [1, V], dtype: 'float32' };
    const fns = [() => addon.baselines.readOnce(call), () => sm.mask(tensor, params)];
    if (before.addon) fns.push(() => before.addon.mask({ ...call, options: params }));
    const { medians, ratios } = await timeAtThreadCounts(fns, [threads, 1], [sm, before.addon]);
    const [readMs, ms, beforeMs = ''] = medians[0];
    const [, speedup, beforeSpeedup] = ratios;
    rows.push({
      ...timedColumns({ name: `B=1 ${paramsName(params)}`, dist: 'N(0,3)', dtype: 'float32', B: 1, V, threads, readMs, ms, beforeMs }),
      target: 'never slower than 1 thread (within 5%)',
      met: `${speedup >= 0.95 ? 'yes' : 'NO'}: ${speedup.toFixed(2)}x vs 1 thread${beforeMs ? ` (before: ${beforeSpeedup.toFixed(2)}x)` : ''}`,
      sortMs: '',
      xFasterThanSort: '',
    });
  }
  sm.setThreads(threads);
  before.addon?.setThreads(threads);
  return rows;
}

module.exports = { name: 'mask-cpu', run, normalLogits, zipfLogits };
