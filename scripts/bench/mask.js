'use strict';
// mask() on the CPU against baselines run in the same process on the same
// threads: one read of the logits (a vectorized summing pass) and a
// straightforward sort-based implementation of the same rule (std::sort per row).
const sm = require('../..');
const { addon } = require('../../dist/native');
const { encode, rng } = require('../shared');
const { targetColumns } = require('./util');

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

async function run({ timeIt }) {
  const threads = sm.backendInfo().threads;
  const rows = [];
  const B = 64;
  const V = 128256;
  const normal = normalLogits(B, V, 3, 1);
  const zipf = zipfLogits(B, V, 2);
  const cases = [
    { name: 'topK=50 topP=0.9', logits: normal, dist: 'N(0,3)', params: { topK: 50, topP: 0.9 }, target: 1.5, sort: true },
    { name: 'topK=50', logits: normal, dist: 'N(0,3)', params: { topK: 50 }, target: 1.5 },
    { name: 'topP=0.9', logits: normal, dist: 'N(0,3)', params: { topP: 0.9 }, target: 6 },
    { name: 'topP=0.9', logits: zipf, dist: 'zipf', params: { topP: 0.9 }, target: 4 },
    { name: 'minP=0.05 topK=50 topP=0.9 T=0.7', logits: zipf, dist: 'zipf', params: { minP: 0.05, topK: 50, topP: 0.9, temperature: 0.7 } },
  ];
  for (const dtype of ['float32', 'bfloat16']) {
    for (const c of cases) {
      const data = dtype === 'float32' ? c.logits : encode(c.logits, dtype);
      const tensor = { data, shape: [B, V], dtype };
      const readMs = await timeIt(() => addon.baselines.readOnce({ data, dtype, rows: B, vocab: V }));
      const ms = await timeIt(() => sm.mask(tensor, c.params));
      const row = {
        case: c.name,
        dist: c.dist,
        dtype,
        B,
        V,
        threads,
        ms,
        readMs,
        xRead: ms / readMs,
        ...targetColumns(ms / readMs, c.target, 'read'),
        sortMs: '',
        xFasterThanSort: '',
      };
      if (c.sort) {
        const sortMs = await timeIt(() => addon.baselines.sortBasedMask({ data, dtype, rows: B, vocab: V, options: c.params }), {
          repeats: 3,
          warmup: 1,
        });
        Object.assign(row, { sortMs, xFasterThanSort: sortMs / ms });
        row.target += ', >= 200x sort';
        if (sortMs / ms < 200) row.met = 'NO';
      }
      rows.push(row);
    }
  }
  // One long row: split across the threads, compared with one thread.
  const V1 = 151936;
  const single = normalLogits(1, V1, 3, 3);
  for (const params of [{ topK: 50, topP: 0.9 }, { topP: 0.9 }]) {
    const tensor = { data: single, shape: [1, V1], dtype: 'float32' };
    const ms = await timeIt(() => sm.mask(tensor, params), { repeats: 21 });
    sm.setThreads(1);
    const oneThreadMs = await timeIt(() => sm.mask(tensor, params), { repeats: 21 });
    sm.setThreads(threads);
    const readMs = await timeIt(() => addon.baselines.readOnce({ data: single, dtype: 'float32', rows: 1, vocab: V1 }), { repeats: 21 });
    rows.push({
      case: `B=1 ${Object.entries(params)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
      dist: 'N(0,3)',
      dtype: 'float32',
      B: 1,
      V: V1,
      threads,
      ms,
      readMs,
      xRead: ms / readMs,
      target: `split over ${threads} threads`,
      met: `${(oneThreadMs / ms).toFixed(2)}x vs 1 thread`,
      sortMs: '',
      xFasterThanSort: '',
    });
  }
  return rows;
}

module.exports = { name: 'mask-cpu', run, normalLogits, zipfLogits };
