// Rollouts for the file-format tests: recorder output of a simulated
// continuous-batching run (requests join, finish, are preempted and resume;
// empty rows, rows keeping most of V) checked against the plain reference
// recorder, masks straight from mask(), and a plain form to compare records by.
import { MaskRecorder, SamplingMask, mask, type RolloutRecord, type RequestId } from '../lib';
import { ReferenceRecorder } from './carry-reference';
import { firstDifference, randomIds, rng } from './helpers';

export interface PlainRecord {
  id: RequestId;
  vocab: number;
  rows: number;
  tokens?: number[];
  promptIds?: number[];
  logprobs?: number[];
  outsideSteps?: number[];
  columns?: Record<string, unknown>;
}

/** A record as plain data for toEqual, its mask only by size (masks are compared by sameMask). */
export function plain(record: RolloutRecord): PlainRecord {
  const out: PlainRecord = { id: record.id, vocab: record.mask.vocab, rows: record.mask.rows };
  if (record.tokens !== undefined) out.tokens = Array.from(record.tokens);
  if (record.promptIds !== undefined) out.promptIds = Array.from(record.promptIds);
  if (record.logprobs !== undefined) out.logprobs = Array.from(record.logprobs, Math.fround);
  if (record.outsideSteps !== undefined && record.outsideSteps.length > 0) out.outsideSteps = record.outsideSteps.slice();
  if (record.columns !== undefined) out.columns = { ...record.columns };
  return out;
}

const bytesOf = (a: Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** null when the masks are equal, else where they first differ (jest's toEqual is far too slow for millions of ids). */
export function sameMask(actual: SamplingMask, expected: SamplingMask): string | null {
  if (actual.vocab !== expected.vocab) return `vocab ${actual.vocab}, expected ${expected.vocab}`;
  if (bytesOf(actual.offsets).equals(bytesOf(expected.offsets)) && bytesOf(actual.indices).equals(bytesOf(expected.indices))) return null;
  return firstDifference(actual, expected.toLists()) ?? 'offsets or indices differ';
}

/** Records equal field by field, masks id for id. */
export function expectSameRecords(actual: readonly RolloutRecord[], expected: readonly RolloutRecord[]): void {
  expect(actual.map(plain)).toEqual(expected.map(plain));
  actual.forEach((record, i) => expect(sameMask(record.mask, expected[i].mask)).toBeNull());
}

// All ids but up to 20 random ones: a row keeping most of the vocabulary.
function mostOf(random: () => number, vocab: number): number[] {
  const dropped = new Set(Array.from({ length: 1 + Math.floor(random() * 20) }, () => Math.floor(random() * vocab)));
  const row: number[] = [];
  for (let id = 0; id < vocab; id++) if (!dropped.has(id)) row.push(id);
  return row;
}

/**
 * The finished requests of a simulated rollout, taken from a MaskRecorder
 * (and checked against the reference recorder), with prompts, log-probs and a
 * reward column added as a pipeline would. Without tokens, 5% of the rows
 * are empty; 3% keep all of the vocabulary but a few ids.
 */
export function simulatedRollout(seed: number, vocab: number, withTokens: boolean): RolloutRecord[] {
  const random = rng(seed);
  const recorder = new MaskRecorder({ vocab });
  const reference = new ReferenceRecorder();
  const running: RequestId[] = [];
  const preempted = new Map<RequestId, number>();
  let next = 0;
  for (let step = 0; step < 40; step++) {
    for (let joins = Math.floor(random() * 3); joins > 0; joins--, next++) running.push(seed % 2 === 0 ? `req-${next}` : next);
    for (const [id, resume] of preempted) {
      if (resume > step) continue;
      preempted.delete(id);
      running.push(id);
    }
    for (let i = running.length - 1; i >= 0; i--) {
      const u = random();
      if (u < 0.06) preempted.set(running.splice(i, 1)[0], step + 1 + Math.floor(random() * 6));
      else if (u < 0.14 && recorder.steps(running[i]) > 0) running.splice(i, 1); // finished: its rows stay until taken
    }
    if (running.length === 0) continue;
    const batch = running.slice().sort(() => random() - 0.5);
    const lists = batch.map(() => {
      const u = random();
      if (u < 0.03) return mostOf(random, vocab);
      return randomIds(random, vocab, u < 0.08 && !withTokens ? 0 : u < 0.5 ? 1 : 2 + Math.floor(random() * 40));
    });
    const tokens = withTokens ? lists.map((row) => row[Math.floor(random() * row.length)]) : undefined;
    recorder.record(batch, SamplingMask.fromLists(lists, vocab), tokens);
    reference.record(batch, lists, tokens);
  }
  const records = recorder.takeRecords();
  for (const record of records) {
    const difference = firstDifference(record.mask, reference.take(record.id)?.rows ?? []);
    if (difference !== null) throw new Error(`fixture: request ${String(record.id)} differs from the reference: ${difference}`);
  }
  return records.map((record, i) => ({
    ...record,
    promptIds: randomIds(random, vocab, 1 + (i % 7)),
    logprobs: Float32Array.from({ length: record.mask.rows }, () => -5 * random()),
    columns: { reward: i % 5 === 3 ? null : random(), env: `env-${i % 3}`, done: i % 2 === 0 },
  }));
}

/** 'read' when read() returns, else the error's code ('untyped: ...' for an error without one). */
export function outcome(read: () => unknown): string {
  try {
    read();
    return 'read';
  } catch (e) {
    return (e as { code?: string }).code ?? `untyped: ${(e as Error).message}`;
  }
}

/** The outcomes of reading `trials` copies of bytes, each with 1 to 3 random bits flipped. */
export function flippedOutcomes(bytes: Uint8Array, read: (bytes: Uint8Array) => unknown, seed: number, trials: number): Set<string> {
  const random = rng(seed);
  const outcomes = new Set<string>();
  for (let trial = 0; trial < trials; trial++) {
    const copy = bytes.slice();
    for (let k = 0; k < 1 + (trial % 3); k++) copy[Math.floor(random() * copy.length)] ^= 1 << Math.floor(random() * 8);
    outcomes.add(outcome(() => read(copy)));
  }
  return outcomes;
}

/** Outcomes other than a read or a typed error. */
export const untyped = (outcomes: Iterable<string>) => [...outcomes].filter((c) => !/^(read|ERR_SM_[A-Z_]+)$/.test(c));

/** Requests whose masks come straight from mask(): B rows of V logits each split into per-request steps. */
export function maskedRecords(seed: number, vocab: number, requests: number, steps: number): RolloutRecord[] {
  // Logits in [-3, 3) from a multiplicative hash: a seeded PRNG call per
  // logit is slow at V = 262144.
  const data = new Float32Array(requests * steps * vocab);
  for (let i = 0; i < data.length; i++) data[i] = ((Math.imul(i + seed * 7919, 0x9e3779b1) >>> 8) / 2 ** 24) * 6 - 3;
  // topP = 1 with a tiny minP keeps most of V in every row; topK = 3 few ids.
  const wide = mask({ data, shape: [requests * steps, vocab], dtype: 'float32' }, { minP: 0.01, temperature: 1 });
  const narrow = mask({ data, shape: [requests * steps, vocab], dtype: 'float32' }, { topK: 3, topP: 0.9 });
  return Array.from({ length: requests }, (_, r) => {
    const source = r % 2 === 0 ? narrow : wide;
    const m = source.slice(r * steps, (r + 1) * steps);
    return { id: `m${r}`, mask: m, tokens: Int32Array.from({ length: steps }, (_, s) => m.row(s)[0]) };
  });
}

/** Two one-row records whose request ids mix a string with a number (`second`): no writer takes them. */
export function mixedIdRecords(second: number): RolloutRecord[] {
  const m = SamplingMask.fromLists([[1]], 10);
  return [
    { id: 'a', mask: m },
    { id: second, mask: m },
  ];
}
