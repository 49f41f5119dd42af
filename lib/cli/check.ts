// `sampling-mask check`: the parity suite a user runs on a new host. It
// compares, on small seeded inputs of every dtype and several logit shapes
// and parameter sets:
// - mask() on the CPU with the test suite's own reference implementation of
//   the rule (test/reference.ts, compiled into dist/reference/: the same code
//   the tests use, not a copy), kept sets exactly;
// - log-probs and entropies with the test suite's float64 reference
//   (test/trainer-reference.ts), within the README's error bounds;
// - the CPU at one thread and at every thread, and each CPU kernel variant
//   this processor has, bit for bit (digests of every result);
// - CUDA with the CPU, bit for bit, when CUDA runs here.
// It is a smoke-sized version of what `npm test` checks, not a replacement.
import { createHash } from 'crypto';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { backendInfo, setThreads, type BackendName } from '../backend';
import { mask } from '../mask';
import { SamplingMask } from '../sampling-mask';
import { applyMask, maskedLogprobs, maskedLogprobsBackward } from '../trainer';
import type { DType, Tensor } from '../tensor';
import { clearProgress, progress } from './io';

type Storage = Float32Array | Uint16Array;
type ParamValue = number | number[];
interface Params {
  temperature?: ParamValue;
  minP?: ParamValue;
  topK?: ParamValue;
  topP?: ParamValue;
}

// The references are plain JavaScript compiled from test/; only what check calls is typed here.
interface RuleReference {
  referenceMask(data: Storage, dtype: DType, rows: number, vocab: number, options: Params): number[][];
}
interface TrainerReference {
  rowValues(data: Storage, dtype: DType, vocab: number, row: number): number[];
  referenceRow(row: number[], kept: number[], target: number, temperature: number): { logprob: number; entropy: number };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const rule = require(path.join(__dirname, '..', 'reference', 'reference.js')) as RuleReference;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const trainer = require(path.join(__dirname, '..', 'reference', 'trainer-reference.js')) as TrainerReference;

// The seeded PRNG of the tests, benchmarks and demo (scripts/shared.js, shipped with the CLI).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { rng: mulberry32 } = require(path.join(__dirname, '..', '..', 'scripts', 'shared.js')) as {
  rng(seed: number): () => number;
};

/** The README's bounds, u = 2^-24. */
const U = 2 ** -24;
const logprobBound = (reference: number, kept: number) => 8 * U * (1 + Math.abs(reference) + Math.log(kept));
const entropyBound = (reference: number) => 8 * U * (1 + reference);

interface Case {
  label: string;
  tensor: Tensor;
  rows: number;
  vocab: number;
  params: Params;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> 16-bit float bits, truncating (any valid bits will do: the references decode the same bits). */
function toHalfBits(value: number, dtype: 'bfloat16' | 'float16'): number {
  f32[0] = value;
  const bits = u32[0];
  if (dtype === 'bfloat16') return bits >>> 16;
  if (value === -Infinity) return 0xfc00;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7bff;
  return sign | (exponent << 10) | ((bits >>> 13) & 0x3ff);
}

const kinds = ['normal', 'zipf', 'ties', 'masked'] as const;

function logitsRow(next: () => number, vocab: number, kind: (typeof kinds)[number]): number[] {
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  switch (kind) {
    case 'normal':
      return Array.from({ length: vocab }, () => 3 * normal());
    case 'zipf': {
      const rank = Array.from({ length: vocab }, (_, i) => i + 1).sort(() => next() - 0.5);
      return rank.map((r) => 8 - 1.2 * Math.log(r) + 0.01 * normal());
    }
    case 'ties': {
      const values = Array.from({ length: 1 + Math.floor(next() * 5) }, () => Math.round(normal() * 8) / 4);
      return Array.from({ length: vocab }, () => values[Math.floor(next() * values.length)]);
    }
    case 'masked': // some entries already -inf (an upstream mask), at least one finite
      return Array.from({ length: vocab }, (_, i) => (i > 0 && next() < 0.5 ? -Infinity : 2 * normal()));
  }
}

function parameterSets(rows: number, next: () => number): { label: string; params: Params }[] {
  const perRow = (f: () => number) => Array.from({ length: rows }, f);
  return [
    { label: 'T=1', params: { temperature: 1 } },
    { label: 'T=0.7 topK=50 topP=0.9', params: { temperature: 0.7, topK: 50, topP: 0.9 } },
    { label: 'greedy', params: { temperature: 0 } },
    { label: 'T=1.3 minP=0.05 topP=0.95', params: { temperature: 1.3, minP: 0.05, topP: 0.95 } },
    {
      label: 'per-row topK, topP',
      params: { topK: perRow(() => Math.floor(next() * 20) - 1), topP: perRow(() => Math.fround(0.5 + next() / 2)) },
    },
  ];
}

export function checkCases(seed = 1): Case[] {
  const next = mulberry32(seed);
  const cases: Case[] = [];
  for (const dtype of ['float32', 'bfloat16', 'float16'] as const) {
    for (const kind of kinds) {
      const rows = 1 + Math.floor(next() * 8);
      const vocab = [1, 2, 7, 64, 1000, 2999][Math.floor(next() * 6)];
      const values = Array.from({ length: rows }, () => logitsRow(next, vocab, kind)).flat();
      const data = dtype === 'float32' ? Float32Array.from(values) : Uint16Array.from(values, (v) => toHalfBits(v, dtype));
      for (const { label, params } of parameterSets(rows, next)) {
        cases.push({
          label: `${dtype} ${kind} [${rows}, ${vocab}] ${label}`,
          tensor: { data, shape: [rows, vocab], dtype },
          rows,
          vocab,
          params,
        });
      }
    }
  }
  return cases;
}

/** Trainer temperatures: the case's own where it is one positive number, else 1. */
function trainerTemperature(params: Params): number {
  return typeof params.temperature === 'number' && params.temperature > 0 ? params.temperature : 1;
}

function targetsOf(kept: SamplingMask, next: () => number): Int32Array {
  return Int32Array.from({ length: kept.rows }, (_, r) => {
    const ids = kept.row(r);
    return ids[Math.floor(next() * ids.length)];
  });
}

interface Section {
  name: string;
  failures: string[];
  skipped?: string;
}

function checkRule(cases: Case[]): Section {
  const failures: string[] = [];
  let rows = 0;
  for (const c of cases) {
    const expected = rule.referenceMask(c.tensor.data, c.tensor.dtype, c.rows, c.vocab, c.params);
    const actual = mask(c.tensor, { ...c.params, backend: 'cpu' }).toLists();
    rows += c.rows;
    const row = expected.findIndex((ids, r) => ids.join() !== actual[r].join());
    if (row >= 0)
      failures.push(`${c.label}: row ${row} keeps [${actual[row].slice(0, 8)}...], the rule says [${expected[row].slice(0, 8)}...]`);
  }
  return { name: `mask() vs the reference rule: ${cases.length} cases, ${rows} rows, kept sets identical`, failures };
}

function checkLogprobs(cases: Case[]): Section {
  const failures: string[] = [];
  const next = mulberry32(7);
  let rows = 0;
  for (const c of cases) {
    const kept = mask(c.tensor, { ...c.params, backend: 'cpu' });
    const targets = targetsOf(kept, next);
    const temperature = trainerTemperature(c.params);
    const result = maskedLogprobs(c.tensor, kept, targets, { temperature, entropy: true, backend: 'cpu' });
    for (let r = 0; r < c.rows; r++, rows++) {
      const reference = trainer.referenceRow(
        trainer.rowValues(c.tensor.data, c.tensor.dtype, c.vocab, r),
        Array.from(kept.row(r)),
        targets[r],
        temperature,
      );
      const logprobError = Math.abs(result.logprobs[r] - reference.logprob);
      const entropyError = Math.abs(result.entropy![r] - reference.entropy);
      if (!(logprobError <= logprobBound(reference.logprob, kept.count(r))) || !(entropyError <= entropyBound(reference.entropy))) {
        failures.push(
          `${c.label}: row ${r}: log-prob ${result.logprobs[r]} (reference ${reference.logprob}), entropy ${result.entropy![r]} (reference ${reference.entropy})`,
        );
      }
    }
  }
  return {
    name: `log-probs and entropies vs the float64 reference, within 8u(1 + |logprob| + ln K) and 8u(1 + H): ${rows} rows`,
    failures,
  };
}

/** Every result of every case on one backend, as bytes: masks, masked logits, log-probs, entropies, gradients. */
function results(cases: Case[], backend: BackendName): Buffer[] {
  const next = mulberry32(11);
  const out: Buffer[] = [];
  const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  for (const c of cases) {
    const kept = mask(c.tensor, { ...c.params, backend });
    const targets = targetsOf(kept, next);
    const temperature = trainerTemperature(c.params);
    const logprobs = maskedLogprobs(c.tensor, kept, targets, { temperature, entropy: true, backend });
    const gradient = maskedLogprobsBackward(c.tensor, kept, targets, 1, { temperature, backend });
    const masked = applyMask(c.tensor, kept, { backend });
    out.push(Buffer.concat([kept.offsets, kept.indices, masked.data, logprobs.logprobs, logprobs.entropy!, gradient.values].map(bytes)));
  }
  return out;
}

export function digest(cases: Case[]): string {
  const hash = createHash('sha256');
  for (const part of results(cases, 'cpu')) hash.update(part);
  return hash.digest('hex');
}

function checkThreads(cases: Case[], reference: string): Section {
  const threads = backendInfo().threads;
  setThreads(1);
  const single = digest(cases);
  setThreads(threads);
  const failures =
    single === reference ? [] : [`1 thread gives digest ${single.slice(0, 16)}, ${threads} threads ${reference.slice(0, 16)}`];
  return { name: `CPU at 1 thread vs ${threads} threads: every result bit-identical`, failures };
}

function checkIsas(cases: Case[], reference: string, cli: string): Section {
  const isas = ['baseline', 'avx2', 'avx512'];
  const chosen = backendInfo().cpuIsa;
  const below = isas.slice(0, Math.max(0, isas.indexOf(chosen)));
  if (below.length === 0)
    return { name: 'CPU kernel variants', failures: [], skipped: `${chosen} is the only variant this processor runs` };
  const failures: string[] = [];
  for (const isa of below) {
    progress(`check: CPU kernels capped at ${isa}`);
    const child = spawnSync(process.execPath, [cli, 'check', '--digest'], {
      env: { ...process.env, SAMPLING_MASK_CPU_ISA: isa },
      encoding: 'utf8',
    });
    const theirs = child.stdout.trim();
    if (child.status !== 0) failures.push(`${isa}: the child process failed: ${child.stderr.trim().split('\n')[0]}`);
    else if (theirs !== reference) failures.push(`${isa} gives digest ${theirs.slice(0, 16)}, ${chosen} ${reference.slice(0, 16)}`);
  }
  return { name: `CPU kernels ${below.join(', ')} vs ${chosen}: every result bit-identical`, failures };
}

function checkCuda(cases: Case[]): Section {
  const cuda = backendInfo().cuda;
  if (!cuda.available) return { name: 'CUDA vs CPU', failures: [], skipped: cuda.reason };
  const cpu = results(cases, 'cpu');
  const gpu = results(cases, 'cuda');
  const failures = cases.flatMap((c, i) => (cpu[i].equals(gpu[i]) ? [] : [`${c.label}: CUDA and CPU results differ`]));
  const device = cuda.devices[0];
  return { name: `CUDA (${device.name}) vs CPU: masks, masked logits, log-probs, entropies, gradients bit-identical`, failures };
}

/** Runs the suite and prints it; the exit code: 0 all passed, 1 a mismatch, 2 CUDA required but not checked. */
export function runCheck(options: { requireCuda: boolean; cli: string }): number {
  const cases = checkCases();
  const info = backendInfo();
  console.log(
    `sampling-mask check: ${info.binary} binary, CPU ${info.cpuIsa} x ${info.threads} threads, CUDA ${info.cuda.available ? 'available' : 'not available'}`,
  );
  let cpuDigest: string | undefined;
  const reference = () => (cpuDigest ??= digest(cases));
  const sections: (() => Section)[] = [
    () => checkRule(cases),
    () => checkLogprobs(cases),
    () => checkThreads(cases, reference()),
    () => checkIsas(cases, reference(), options.cli),
    () => checkCuda(cases),
  ];
  let failed = 0;
  let cudaSkipped = false;
  for (const [i, run] of sections.entries()) {
    progress(`check: ${i + 1}/${sections.length}`);
    const section = run();
    clearProgress();
    if (section.skipped) {
      console.log(`  skip  ${section.name}: ${section.skipped}`);
      cudaSkipped ||= section.name.startsWith('CUDA');
    } else if (section.failures.length === 0) {
      console.log(`  ok    ${section.name}`);
    } else {
      failed++;
      console.log(`  FAIL  ${section.name}`);
      for (const failure of section.failures.slice(0, 5)) console.log(`        ${failure}`);
      if (section.failures.length > 5) console.log(`        ... and ${section.failures.length - 5} more`);
    }
  }
  if (failed > 0) {
    console.log(`FAILED: ${failed} of ${sections.length} checks (please report it with the output of \`sampling-mask info\`)`);
    return 1;
  }
  if (cudaSkipped && options.requireCuda) {
    console.log('FAILED: --require-cuda, but CUDA was not checked');
    return 2;
  }
  console.log('passed');
  return 0;
}
