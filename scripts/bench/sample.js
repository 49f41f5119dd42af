'use strict';
// sample() on the CPU against baselines run in the same process: mask() on
// the same batch (the target: sample() at most 1.3x mask() at B=64,
// V=128256, topK=50, topP=0.9), the obvious plain-JS sampler (softmax, sort,
// cumulative draw) and an onnxruntime-node-style one (a top-k selection, then
// softmax, top-p and a cumulative draw over the k), both drawing from the
// same truncated distribution.
const sm = require('../..');
const { normalLogits, zipfLogits } = require('./mask');
const { rng } = require('../shared');
const { targetColumns, timeAlternately } = require('./util');

// Math.random-free draws for the JS samplers, so runs repeat.
const uniform = rng(7);

// A token per row of x, each drawn by drawRow(row).
function sampleRows(x, rows, vocab, drawRow) {
  const tokens = new Int32Array(rows);
  for (let r = 0; r < rows; r++) tokens[r] = drawRow(x.subarray(r * vocab, (r + 1) * vocab));
  return tokens;
}

// Top-p over entries sorted by weight (weightAt(j), total `mass`), then a
// cumulative draw among those kept; the drawn entry's id (idAt(j)).
function topPDraw(count, mass, topP, weightAt, idAt) {
  let kept = count;
  let cumulative = 0;
  for (let j = 0; j < count; j++) {
    if (cumulative >= topP * mass) {
      kept = j;
      break;
    }
    cumulative += weightAt(j);
  }
  let u = uniform() * cumulative;
  for (let j = 0; j < kept; j++) {
    u -= weightAt(j);
    if (u <= 0) return idAt(j);
  }
  return idAt(kept - 1);
}

// Plain JS: softmax over the row, a full sort by probability, top-k and top-p
// on the sorted list, then a cumulative draw.
function jsSortSample(x, rows, vocab, { topK, topP }) {
  const probs = new Float64Array(vocab);
  const order = new Int32Array(vocab);
  return sampleRows(x, rows, vocab, (row) => {
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) max = Math.max(max, row[i]);
    let mass = 0;
    for (let i = 0; i < vocab; i++) mass += probs[i] = Math.exp(row[i] - max);
    for (let i = 0; i < vocab; i++) {
      probs[i] /= mass;
      order[i] = i;
    }
    order.sort((a, b) => probs[b] - probs[a]);
    const k = Math.min(topK, vocab);
    let keptMass = 0;
    for (let j = 0; j < k; j++) keptMass += probs[order[j]];
    return topPDraw(
      k,
      keptMass,
      topP,
      (j) => probs[order[j]],
      (j) => order[j],
    );
  });
}

// What an onnxruntime-node pipeline does without a sampler op: a top-k of the
// logits (here a running selection of the k largest, as a TopK op would),
// then softmax, top-p and a cumulative draw over those k alone.
function jsTopKSample(x, rows, vocab, { topK, topP }) {
  const values = new Float64Array(topK);
  const ids = new Int32Array(topK);
  return sampleRows(x, rows, vocab, (row) => {
    let count = 0;
    let floor = -Infinity; // the smallest of the k kept so far, once k are kept
    for (let i = 0; i < vocab; i++) {
      const v = row[i];
      if (count === topK && v <= floor) continue;
      let j = count < topK ? count++ : topK - 1; // insertion into the sorted top list
      while (j > 0 && values[j - 1] < v) {
        values[j] = values[j - 1];
        ids[j] = ids[j - 1];
        j--;
      }
      values[j] = v;
      ids[j] = i;
      if (count === topK) floor = values[topK - 1];
    }
    let mass = 0;
    for (let j = 0; j < count; j++) mass += values[j] = Math.exp(values[j] - values[0]);
    return topPDraw(
      count,
      mass,
      topP,
      (j) => values[j],
      (j) => ids[j],
    );
  });
}

async function run({ timeIt }) {
  const threads = sm.backendInfo().threads;
  const B = 64;
  const V = 128256;
  const normal = normalLogits(B, V, 3, 1);
  const zipf = zipfLogits(B, V, 2);
  const keys = { seed: 1234n, stream: Array.from({ length: B }, (_, i) => i), step: 17 };
  const cases = [
    { name: 'topK=50 topP=0.9', logits: normal, dist: 'N(0,3)', params: { topK: 50, topP: 0.9 }, target: 1.3, js: true },
    // One thread: no pool wake-ups, whose delays on a loaded machine swamp the difference.
    { name: 'topK=50 topP=0.9, 1 thread', logits: normal, dist: 'N(0,3)', params: { topK: 50, topP: 0.9 }, threads: 1 },
    { name: 'topK=50 topP=0.9 joint', logits: normal, dist: 'N(0,3)', params: { topK: 50, topP: 0.9, filterOrder: 'joint' } },
    { name: 'topK=50 topP=0.9 +fullLogprobs', logits: normal, dist: 'N(0,3)', params: { topK: 50, topP: 0.9 }, full: true },
    { name: 'topP=0.9', logits: zipf, dist: 'zipf', params: { topP: 0.9 } },
    { name: 'T=1 (every id kept)', logits: zipf, dist: 'zipf', params: {} },
  ];
  const rows = [];
  for (const c of cases) {
    const tensor = { data: c.logits, shape: [B, V], dtype: 'float32' };
    sm.setThreads(c.threads ?? threads);
    const [maskMs, ms] = await timeAlternately([
      () => sm.mask(tensor, c.params),
      () => sm.sample(tensor, { ...c.params, ...keys, fullLogprobs: c.full === true }),
    ]);
    const row = {
      case: c.name,
      dist: c.dist,
      B,
      V,
      threads: c.threads ?? threads,
      ms,
      maskMs,
      xMask: ms / maskMs,
      ...targetColumns(ms / maskMs, c.target, 'mask'),
      jsSortMs: '',
      xFasterThanJsSort: '',
      jsTopKMs: '',
      xFasterThanJsTopK: '',
    };
    if (c.js) {
      const jsSortMs = await timeIt(() => jsSortSample(c.logits, B, V, c.params), { repeats: 3, warmup: 0 });
      const jsTopKMs = await timeIt(() => jsTopKSample(c.logits, B, V, c.params), { repeats: 5, warmup: 1 });
      Object.assign(row, { jsSortMs, xFasterThanJsSort: jsSortMs / ms, jsTopKMs, xFasterThanJsTopK: jsTopKMs / ms });
    }
    rows.push(row);
  }
  sm.setThreads(threads);
  return rows;
}

module.exports = { name: 'sample-cpu', run };
