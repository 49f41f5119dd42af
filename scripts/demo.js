#!/usr/bin/env node
// `npm run demo`: one RL step, simulated end to end on the CPU, no network.
//
// A synthetic policy gives Zipf-like logits over a realistic vocabulary for a
// few requests over some hundred decode steps. The sampler side calls
// sample() at each step (temperature 1, top-p 0.9, top-k 50 by default): one
// token per request drawn from the truncated distribution, keyed by (seed,
// request, step), with its mask and log-prob, recorded per request by a
// MaskRecorder. The trainer side
// then recomputes the log-probs of the drawn tokens from the same logits
// twice: over the full vocabulary (what a trainer does without masks) and
// over the recorded masks. The importance ratio pi_trainer / pi_sampler
// should be 1 for on-policy data; without masks it is biased below 1.
//
//   node scripts/demo.js [--batch 4] [--steps 256] [--vocab 32000]
//                        [--topP 0.9] [--topK 50] [--seed 1]
'use strict';
const sm = require('..');
const { table } = require('./bench/util');
const { rng } = require('./shared');

function parseOptions(argv) {
  const options = { batch: 4, steps: 256, vocab: 32000, topP: 0.9, topK: 50, seed: 1 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (!(key in options) || !Number.isFinite(value)) {
      console.error(
        `usage: node scripts/demo.js [--batch N] [--steps N] [--vocab N] [--topP p] [--topK k] [--seed s]\nbad option: ${argv[i]} ${argv[i + 1] ?? ''}`,
      );
      process.exit(2);
    }
    options[key] = value;
  }
  return options;
}

// The policy: at each step the vocabulary is ranked by a permutation that
// drifts with the context, and logit = -1.5 ln(1 + rank) + noise: a Zipf law,
// heavy-headed like next-token distributions (the top 50 ids hold about 90%).
function policyLogits(batch, steps, vocab, next) {
  const logits = new Float32Array(batch * steps * vocab);
  const zipf = Float32Array.from({ length: vocab }, (_, rank) => -1.5 * Math.log1p(rank));
  const noise = Float32Array.from({ length: 1 << 16 }, () => 0.3 * (next() - 0.5));
  for (let b = 0; b < batch; b++) {
    const order = Int32Array.from({ length: vocab }, (_, i) => i);
    for (let i = vocab - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let s = 0; s < steps; s++) {
      // The context moves: a few ranks trade places every step.
      for (let k = 0; k < 64; k++) {
        const i = Math.floor(next() * Math.min(vocab, 200));
        const j = Math.floor(next() * vocab);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const row = logits.subarray((b * steps + s) * vocab, (b * steps + s + 1) * vocab);
      const shift = Math.floor(next() * noise.length);
      for (let rank = 0; rank < vocab; rank++) row[order[rank]] = zipf[rank] + noise[(shift + rank) & 0xffff];
    }
  }
  return logits;
}

function ratioStats(samplerLogprobs, trainerLogprobs) {
  const n = samplerLogprobs.length;
  let sum = 0;
  let sumSquares = 0;
  let min = Infinity;
  let max = -Infinity;
  let logGap = 0;
  for (let i = 0; i < n; i++) {
    const ratio = Math.exp(trainerLogprobs[i] - samplerLogprobs[i]);
    sum += ratio;
    sumSquares += ratio * ratio;
    min = Math.min(min, ratio);
    max = Math.max(max, ratio);
    logGap += samplerLogprobs[i] - trainerLogprobs[i];
  }
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, sumSquares / n - mean * mean)), min, max, meanLogGap: logGap / n };
}

function timed(fn) {
  const start = process.hrtime.bigint();
  const value = fn();
  return { value, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

function main() {
  const { batch, steps, vocab, topP, topK, seed } = parseOptions(process.argv.slice(2));
  const next = rng(seed);
  const rows = batch * steps;
  console.log(`sampling-mask demo: ${batch} requests x ${steps} decode steps over a ${vocab}-token vocabulary`);
  const info = sm.backendInfo();
  console.log(
    `sampler: temperature 1, topP ${topP}, topK ${topK}; backend ${info.backend} (${info.binary} binary, CPU ${info.cpuIsa} x ${info.threads})\n`,
  );

  const policy = timed(() => policyLogits(batch, steps, vocab, next));
  const logits = policy.value;

  // Sampler side, one decode step at a time: sample() draws every request's
  // token from its kept ids, keyed by (seed, request id, step), and returns
  // the step's masks and log-probs; the recorder files them per request.
  const requestIds = Array.from({ length: batch }, (_, b) => b);
  const recorder = new sm.MaskRecorder({ vocab });
  const stepRows = new Float32Array(batch * vocab);
  const samplerLogprobs = new Float64Array(rows);
  const sampling = timed(() => {
    for (let s = 0; s < steps; s++) {
      for (let b = 0; b < batch; b++) stepRows.set(logits.subarray((b * steps + s) * vocab, (b * steps + s + 1) * vocab), b * vocab);
      const sampled = sm.sample(stepRows, { vocab, temperature: 1, topP, topK, seed, stream: requestIds, step: s });
      recorder.record(requestIds, sampled);
      for (let b = 0; b < batch; b++) samplerLogprobs[b * steps + s] = sampled.logprobs[b];
    }
  });
  // Token (b, s) is row b * steps + s of the trainer's [B, T, V] logits.
  const perRequest = requestIds.map((id) => recorder.take(id));
  const recorded = sm.SamplingMask.concat(perRequest.map((r) => r.mask));
  const tokens = new Int32Array(rows);
  perRequest.forEach((r, b) => tokens.set(r.tokens, b * steps));
  const indices = recorded.indices;

  // Trainer side: the same logits as a [B, T, V] tensor.
  const tensor = { data: logits, shape: [batch, steps, vocab], dtype: 'float32' };
  const targets = { data: tokens, shape: [batch, steps] };
  const full = timed(() => sm.maskedLogprobs(tensor, null, targets, { temperature: 1 }));
  const masked = timed(() => sm.maskedLogprobs(tensor, recorded, targets, { temperature: 1, entropy: true }));
  const backward = timed(() => sm.maskedLogprobsBackward(tensor, recorded, targets, 1, { temperature: 1 }));

  const rowsOut = [
    { 'trainer log-probs over': 'full vocabulary', ...ratioStats(samplerLogprobs, full.value.logprobs), ms: full.ms },
    { 'trainer log-probs over': 'recorded masks', ...ratioStats(samplerLogprobs, masked.value.logprobs), ms: masked.ms },
  ].map((r) => ({
    'trainer log-probs over': r['trainer log-probs over'],
    'mean ratio': r.mean.toFixed(6),
    'std ratio': r.std.toExponential(2),
    'min ratio': r.min.toFixed(6),
    'max ratio': r.max.toFixed(6),
    'mean (sampler - trainer) log-prob': r.meanLogGap.toExponential(3),
    ms: r.ms.toFixed(2),
  }));
  console.log('importance ratio pi_trainer / pi_sampler of the drawn tokens (on-policy: ideal 1):');
  console.log(table(rowsOut));

  let entropy = 0;
  for (const h of masked.value.entropy) entropy += h;
  console.log(
    `\n${rows} tokens, ${(indices.length / rows).toFixed(1)} kept ids per token on average, mean kept-set entropy ${(entropy / rows).toFixed(3)} nats`,
  );
  console.log(`targets outside their recorded mask: ${masked.value.targetsOutsideMask}`);
  console.log(
    table([
      { step: 'policy logits (JS, synthetic)', ms: policy.ms.toFixed(1) },
      { step: `sampler: sample() + record per decode step (${steps} calls of [${batch}, ${vocab}])`, ms: sampling.ms.toFixed(1) },
      { step: 'trainer: maskedLogprobs over the full vocabulary', ms: full.ms.toFixed(2) },
      { step: 'trainer: maskedLogprobs over the recorded masks (+ entropy)', ms: masked.ms.toFixed(2) },
      { step: 'trainer: maskedLogprobsBackward over the recorded masks', ms: backward.ms.toFixed(2) },
    ]),
  );
  console.log(
    `\nrecorded masks: ${(recorded.indices.byteLength / 1024).toFixed(0)} KiB of CSR ids vs ${((rows * Math.ceil(vocab / 8)) / 1024).toFixed(0)} KiB as a bitmask`,
  );
}

main();
