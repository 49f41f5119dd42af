// The trainer side (README "Trainer side"): log-probs, entropies and
// gradients over exactly the ids the sampler kept, given the sampling masks
// recorded at rollout time.
import { rangeError, typeError } from './errors';
import { perRow, type PerRow } from './mask';
import { addon, type LogitsData } from './native';
import { SamplingMask } from './sampling-mask';
import { asRows, isTypedArrayOf, type LogitsInput, type Rows } from './tensor';

export interface ApplyMaskOptions {
  /** Overwrite the input's masked entries instead of returning a new tensor. */
  inPlace?: boolean;
  /** Row length, required when logits is a plain Float32Array. */
  vocab?: number;
}

export interface TrainerOptions {
  /** The sampler's temperature (> 0), for all rows or one per row; default 1. z = x / T as the sampler did. */
  temperature?: PerRow;
  /** Row length, required when logits is a plain Float32Array. */
  vocab?: number;
}

export interface LogprobsOptions extends TrainerOptions {
  /** Also return each row's entropy over its kept ids. */
  entropy?: boolean;
}

export interface BackwardOptions extends TrainerOptions {
  /** Also return the gradient scattered into a dense [N, V] Float32Array (zeros elsewhere). */
  dense?: boolean;
}

export interface MaskedLogprobs {
  /** log q(target) per row; -inf where the target is not kept. */
  logprobs: Float32Array;
  /** The entropy of each row's kept distribution, when asked for. */
  entropy?: Float32Array;
  /** Rows whose target is not in their kept set: a data error upstream. */
  targetsOutsideMask: number;
}

export interface MaskedLogprobsGradient {
  /** d loss / d logit for every kept id, aligned with mask.indices ([N, V] when mask is null). */
  values: Float32Array;
  /** The same values in a dense [N, V] Float32Array, when asked for. */
  dense?: Float32Array;
  /** Rows whose target is not in their kept set (their one-hot term falls outside and is dropped). */
  targetsOutsideMask: number;
}

/** Target ids: an Int32Array of N = B*T ids, or a tensor { data, shape } matching the logits' leading dims. */
export type Targets = Int32Array | { data: Int32Array; shape: readonly number[] };

function maskArrays(mask: SamplingMask | null, rows: Rows, everyIdAllowed: boolean): [Int32Array | null, Int32Array | null] {
  if (mask === null && everyIdAllowed) return [null, null];
  if (!(mask instanceof SamplingMask)) {
    throw typeError('mask', everyIdAllowed ? 'expected a SamplingMask or null (every id)' : 'expected a SamplingMask');
  }
  if (mask.vocab !== rows.vocab) {
    throw rangeError('ERR_SM_INVALID_MASK', 'mask', `is over vocab ${mask.vocab}, logits rows have ${rows.vocab}`);
  }
  return [mask.offsets, mask.indices];
}

function targetIds(targets: Targets, logits: LogitsInput): Int32Array {
  if (isTypedArrayOf(targets, 'Int32Array')) return targets;
  if (targets === null || typeof targets !== 'object' || !isTypedArrayOf(targets.data, 'Int32Array') || !Array.isArray(targets.shape)) {
    throw typeError('targets', 'expected an Int32Array or a tensor { data: Int32Array, shape }');
  }
  const leading = isTypedArrayOf(logits, 'Float32Array') ? undefined : logits.shape.slice(0, -1);
  if (leading && (leading.length !== targets.shape.length || leading.some((d, i) => d !== targets.shape[i]))) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'targets', `shape [${targets.shape}] must be the logits' leading dims [${leading}]`);
  }
  return targets.data;
}

function temperatureOf(options: TrainerOptions) {
  return perRow(options.temperature) ?? 1;
}

/** The arguments every native trainer operation starts with: logits rows and the ids each keeps. */
function keptRows(logits: LogitsInput, mask: SamplingMask | null, vocab: number | undefined, everyIdAllowed: boolean) {
  const rows = asRows(logits, vocab);
  return [rows.data, rows.dtype, rows.rows, rows.vocab, ...maskArrays(mask, rows, everyIdAllowed)] as const;
}

function applyArgs(logits: LogitsInput, mask: SamplingMask, options: ApplyMaskOptions) {
  return [...keptRows(logits, mask, options.vocab, false), options.inPlace === true] as const;
}

function logprobsArgs(logits: LogitsInput, mask: SamplingMask | null, targets: Targets, options: LogprobsOptions) {
  const rows = keptRows(logits, mask, options.vocab, true);
  return [...rows, targetIds(targets, logits), temperatureOf(options), options.entropy === true] as const;
}

function backwardArgs(logits: LogitsInput, mask: SamplingMask | null, targets: Targets, gradOutput: PerRow, options: BackwardOptions) {
  const rows = keptRows(logits, mask, options.vocab, true);
  const upstream = perRow(gradOutput);
  if (upstream === undefined) throw typeError('gradOutput', 'expected a number or one value per row');
  return [...rows, targetIds(targets, logits), upstream, temperatureOf(options), options.dense === true] as const;
}

/** The result in the input's own form: a tensor for a tensor, a Float32Array for a Float32Array. */
function sameForm<L extends LogitsInput>(logits: L, data: LogitsData): L {
  if (isTypedArrayOf(logits, 'Float32Array')) return data as L;
  return { ...logits, data } as L;
}

/**
 * Logits with -inf at every id a row does not keep, in their own format
 * (f32, bf16 or f16); kept entries are untouched, bit for bit. Returns a new
 * tensor, or with inPlace the input itself, overwritten.
 */
export function applyMask<L extends LogitsInput>(logits: L, mask: SamplingMask, options: ApplyMaskOptions = {}): L {
  const data = addon.applyMask(...applyArgs(logits, mask, options));
  return options.inPlace === true ? logits : sameForm(logits, data);
}

/** applyMask off the event loop (ordinary ArrayBuffers are copied first; SharedArrayBuffers are used in place). */
export async function applyMaskAsync<L extends LogitsInput>(logits: L, mask: SamplingMask, options: ApplyMaskOptions = {}): Promise<L> {
  const data = await addon.applyMaskAsync(...applyArgs(logits, mask, options));
  return options.inPlace === true ? logits : sameForm(logits, data);
}

/**
 * log q(target) for each row, q the softmax of z = x / T over the row's kept
 * ids only, reading just those entries and the target. mask null: over every
 * id (the unmasked log-softmax). Optionally the entropy of q per row.
 */
export function maskedLogprobs(
  logits: LogitsInput,
  mask: SamplingMask | null,
  targets: Targets,
  options: LogprobsOptions = {},
): MaskedLogprobs {
  return addon.maskedLogprobs(...logprobsArgs(logits, mask, targets, options));
}

export async function maskedLogprobsAsync(
  logits: LogitsInput,
  mask: SamplingMask | null,
  targets: Targets,
  options: LogprobsOptions = {},
): Promise<MaskedLogprobs> {
  return addon.maskedLogprobsAsync(...logprobsArgs(logits, mask, targets, options));
}

/**
 * The gradient of sum over rows of gradOutput[r] * logprob[r] with respect to
 * the logits: (onehot(target) - q) / T * gradOutput on each kept id, zero
 * elsewhere. Values are aligned with mask.indices (no [N, V] allocation);
 * dense: true adds them scattered into [N, V].
 */
export function maskedLogprobsBackward(
  logits: LogitsInput,
  mask: SamplingMask | null,
  targets: Targets,
  gradOutput: PerRow,
  options: BackwardOptions = {},
): MaskedLogprobsGradient {
  return addon.maskedLogprobsBackward(...backwardArgs(logits, mask, targets, gradOutput, options));
}

export async function maskedLogprobsBackwardAsync(
  logits: LogitsInput,
  mask: SamplingMask | null,
  targets: Targets,
  gradOutput: PerRow,
  options: BackwardOptions = {},
): Promise<MaskedLogprobsGradient> {
  return addon.maskedLogprobsBackwardAsync(...backwardArgs(logits, mask, targets, gradOutput, options));
}
