// sample(): per row the mask of mask() and one token drawn from exactly the
// ids it keeps, reproducible from (seed, stream, step) alone (README
// "Sampling").
import { addon, type NativeMaskCall, type NativeProfile, type NativeSampled } from './native';
import { nativeCall, toMask, vocabOf, type MaskInput, type MaskOptions } from './mask';
import { type SamplingMask } from './sampling-mask';

/** An integer key for every row, or one per row (numbers up to 2^53 - 1; bigints for more). */
export type PerRowKey =
  number | bigint | readonly (number | bigint)[] | BigUint64Array | BigInt64Array | Float64Array | Uint32Array | Int32Array;

export interface SampleOptions extends Omit<MaskOptions, 'fillLogits'> {
  /** The draws' seed: an integer in [0, 2^64). Required. */
  seed: number | bigint;
  /** The request's stream (e.g. a numeric request id), in [0, 2^64); default 0. */
  stream?: PerRowKey;
  /** The request's decode step, in [0, 2^32). Required. */
  step: PerRowKey;
  /** Return the mask (default true). */
  mask?: boolean;
  /** Also the token's log-prob under the untruncated temperature-scaled distribution. */
  fullLogprobs?: boolean;
}

export interface SampleResult {
  /** Per row, the drawn token: always one of the row's kept ids. */
  tokens: Int32Array;
  /** The kept ids of every row, exactly as mask() returns them. */
  mask: SamplingMask;
  /** log q(token) over the row's kept ids, bit for bit maskedLogprobs(logits, mask, tokens); 0 for greedy rows. */
  logprobs: Float32Array;
  /** log p(token) over every id (z = x / T), with fullLogprobs: true; 0 for greedy rows. */
  fullLogprobs?: Float32Array;
  /** Timings, with profile: true. */
  profile?: NativeProfile;
}

/** sample()'s result with mask: false. */
export type SampleResultWithoutMask = Omit<SampleResult, 'mask'> & { mask?: undefined };

function toResult(logits: MaskInput, call: NativeMaskCall, sampled: NativeSampled): SampleResult | SampleResultWithoutMask {
  const { offsets, indices, ...rest } = sampled;
  if (!offsets || !indices) return rest;
  return { ...rest, mask: toMask({ offsets, indices }, vocabOf(logits, call)) };
}

/**
 * Draws one token per row from the row's kept ids (the mask() rule, with the
 * same options), keyed by (seed, stream, step): a row's token depends only on
 * its logits, parameters and key, never on the batch. Runs on the CPU.
 */
export function sample(logits: MaskInput, options: SampleOptions & { mask: false }): SampleResultWithoutMask;
export function sample(logits: MaskInput, options: SampleOptions & { mask?: true }): SampleResult;
export function sample(logits: MaskInput, options: SampleOptions): SampleResult | SampleResultWithoutMask;
export function sample(logits: MaskInput, options: SampleOptions): SampleResult | SampleResultWithoutMask {
  const call = nativeCall(logits, options);
  return toResult(logits, call, addon.sample(call));
}

/** sample() off the event loop (ordinary ArrayBuffers are copied first; SharedArrayBuffers are read in place). */
export async function sampleAsync(logits: MaskInput, options: SampleOptions & { mask: false }): Promise<SampleResultWithoutMask>;
export async function sampleAsync(logits: MaskInput, options: SampleOptions & { mask?: true }): Promise<SampleResult>;
export async function sampleAsync(logits: MaskInput, options: SampleOptions): Promise<SampleResult | SampleResultWithoutMask>;
export async function sampleAsync(logits: MaskInput, options: SampleOptions): Promise<SampleResult | SampleResultWithoutMask> {
  const call = nativeCall(logits, options);
  return toResult(logits, call, await addon.sampleAsync(call));
}
