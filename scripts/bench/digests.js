'use strict';
// SHA-256 digests of every result the benchmark inputs produce: masks for
// each mask case (f32 and bf16), and the trainer ops on them. A change that
// claims "same bits as before" (a refactor, a faster kernel) proves it by
// reproducing test/fixtures/bench-digests.json, which was computed before.
//
//   node scripts/bench/digests.js [package dir]   prints the digests as JSON
const crypto = require('crypto');
const path = require('path');
const { normalLogits, zipfLogits } = require('./mask');
const { encode } = require('../shared');

const B = 64;
const V = 128256;
const MASK_CASES = [
  { name: 'topK=50 topP=0.9 N(0,3)', dist: 'normal', params: { topK: 50, topP: 0.9 } },
  { name: 'topK=50 N(0,3)', dist: 'normal', params: { topK: 50 } },
  { name: 'topP=0.9 N(0,3)', dist: 'normal', params: { topP: 0.9 } },
  { name: 'topP=0.9 zipf', dist: 'zipf', params: { topP: 0.9 } },
  { name: 'minP=0.05 topK=50 topP=0.9 T=0.7 zipf', dist: 'zipf', params: { minP: 0.05, topK: 50, topP: 0.9, temperature: 0.7 } },
];

function digest(...arrays) {
  const hash = crypto.createHash('sha256');
  for (const a of arrays) hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return hash.digest('hex').slice(0, 32);
}

function benchDigests(sm) {
  const out = {};
  const logits = { normal: normalLogits(B, V, 3, 1), zipf: zipfLogits(B, V, 2) };
  for (const dtype of ['float32', 'bfloat16']) {
    for (const c of MASK_CASES) {
      const data = dtype === 'float32' ? logits[c.dist] : encode(logits[c.dist], 'bfloat16');
      const m = sm.mask({ data, shape: [B, V], dtype }, c.params);
      out[`mask ${c.name} ${dtype}`] = digest(m.offsets, m.indices);
    }
  }
  const single = normalLogits(1, 151936, 3, 3);
  for (const params of [{ topK: 50, topP: 0.9 }, { topP: 0.9 }]) {
    const m = sm.mask({ data: single, shape: [1, 151936], dtype: 'float32' }, params);
    out[`mask B=1 ${JSON.stringify(params)}`] = digest(m.offsets, m.indices);
  }
  // The trainer ops over the sampler's own masks, targets the first kept id of each row.
  for (const dtype of ['float32', 'bfloat16']) {
    const data = dtype === 'float32' ? logits.zipf : encode(logits.zipf, 'bfloat16');
    const tensor = { data, shape: [B, V], dtype };
    const kept = sm.mask(tensor, { topK: 50, topP: 0.9, temperature: 0.7 });
    const targets = Int32Array.from({ length: B }, (_, r) => kept.indices[kept.offsets[r]]);
    const options = { temperature: 0.7, entropy: true };
    const lp = sm.maskedLogprobs(tensor, kept, targets, options);
    out[`maskedLogprobs ${dtype}`] = digest(lp.logprobs, lp.entropy);
    const full = sm.maskedLogprobs(tensor, null, targets, options);
    out[`maskedLogprobs every id ${dtype}`] = digest(full.logprobs, full.entropy);
    const grad = sm.maskedLogprobsBackward(tensor, kept, targets, 0.5, { temperature: 0.7 });
    out[`maskedLogprobsBackward ${dtype}`] = digest(grad.values);
    out[`applyMask ${dtype}`] = digest(sm.applyMask(tensor, kept).data);
  }
  return out;
}

if (require.main === module) {
  const sm = require(path.resolve(process.argv[2] || path.join(__dirname, '..', '..')));
  console.log(JSON.stringify(benchDigests(sm), null, 2));
}

module.exports = { benchDigests };
