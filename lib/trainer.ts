// The trainer side (README "Trainer side"): log-probs, entropies and
// gradients over exactly the ids the sampler kept, given the sampling masks
// recorded at rollout time.
import { type ExecOptions } from './backend';
import { DeviceTensor } from './device';
import { rangeError, typeError } from './errors';
import { type PerRow } from './mask';
import { describe, readList } from './args';
import { addon, type LogitsData, type NativeApplied, type NativeKeptRows, type NativeLogits, type NativeProfile } from './native';
import { SamplingMask } from './sampling-mask';
import { isTypedArrayOf, nativeLogits, type DType, type LogitsInput, type OrtLikeTensor, type Rows } from './tensor';

/**
 * Where a trainer operation runs (backend, device, as for mask()) and
 * whether to report its timings. A DeviceTensor runs on its own device.
 */
export interface TrainerExecOptions extends ExecOptions {
  /** Attach timings to the result (result.profile). */
  profile?: boolean;
}

/**
 * applyMask's result: the input's own kind, except that a new tensor made
 * from an onnxruntime / transformers.js one is a plain { data, dims, type }
 * (`new ort.Tensor(type, data, dims)` wraps it); its timings attached as
 * `profile` when asked for.
 */
export type Profiled<L> = (L extends OrtLikeTensor ? OrtLikeTensor : L) & { profile?: NativeProfile };

/** Host logits, or logits already on a CUDA device (then the operation runs there, nothing re-uploaded). */
export type TrainerInput = LogitsInput | DeviceTensor;

export interface ApplyMaskOptions extends TrainerExecOptions {
  /** Overwrite the input's masked entries instead of returning a new tensor (required for a DeviceTensor). */
  inPlace?: boolean;
  /** Row length, required when logits is a plain Float32Array. */
  vocab?: number;
}

export interface TrainerOptions extends TrainerExecOptions {
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
  /** Timings, with profile: true. */
  profile?: NativeProfile;
}

export interface MaskedLogprobsGradient {
  /** d loss / d logit for every kept id, aligned with mask.indices ([N, V] when mask is null). */
  values: Float32Array;
  /** The same values in a dense [N, V] Float32Array, when asked for. */
  dense?: Float32Array;
  /** Rows whose target is not in their kept set (their one-hot term falls outside and is dropped). */
  targetsOutsideMask: number;
  /** Timings, with profile: true. */
  profile?: NativeProfile;
}

/** Target ids: an Int32Array of N = B*T ids, or a tensor { data, shape } matching the logits' leading dims. */
export type Targets = Int32Array | { data: Int32Array; shape: readonly number[] };

function maskArrays(mask: SamplingMask | null, vocab: number, everyIdAllowed: boolean): Pick<NativeKeptRows, 'offsets' | 'indices'> {
  if (mask === null && everyIdAllowed) return { offsets: null, indices: null };
  if (!(mask instanceof SamplingMask)) {
    throw typeError('mask', everyIdAllowed ? 'expected a SamplingMask or null (every id)' : 'expected a SamplingMask');
  }
  // One read of each field; the addon checks the CSR (on a snapshot when it is shared).
  const { offsets, indices, vocab: maskVocab } = mask;
  if (maskVocab !== vocab) {
    throw rangeError('ERR_SM_INVALID_MASK', 'mask', `is over vocab ${describe(maskVocab)}, logits rows have ${describe(vocab)}`);
  }
  return { offsets, indices };
}

// The target ids; a tensor's shape must be the logits' leading dims (none
// known for a plain Float32Array, whose row count the addon checks).
function targetIds(targets: Targets, leading: readonly number[] | undefined): Int32Array {
  if (isTypedArrayOf(targets, 'Int32Array')) return targets;
  if (targets === null || typeof targets !== 'object') {
    throw typeError('targets', 'expected an Int32Array or a tensor { data: Int32Array, shape }');
  }
  const { data, shape } = targets;
  if (!isTypedArrayOf(data, 'Int32Array') || !Array.isArray(shape)) {
    throw typeError('targets', 'expected an Int32Array or a tensor { data: Int32Array, shape }');
  }
  const dims = readList(shape, 'targets.shape', 'an array of dimensions');
  if (leading && (leading.length !== dims.length || leading.some((d, i) => d !== dims[i]))) {
    throw rangeError(
      'ERR_SM_OUT_OF_RANGE',
      'targets',
      `shape [${dims.map(describe).join(', ')}] must be the logits' leading dims [${leading.join(', ')}]`,
    );
  }
  return data;
}

/** With the logits' shape as read (see Rows); a DeviceTensor's leading dims are [rows], a plain Float32Array has none. */
type KeptRowsCall = NativeKeptRows & Pick<Rows, 'dims' | 'leading' | 'ortType'>;

/**
 * The fields every native trainer operation starts with: logits rows and
 * the ids each keeps. Where it runs is read natively from options: on host
 * logits 'auto' means the CPU, which reads only the kept entries (or writes
 * each row once), while CUDA would first upload every logit.
 */
function keptRows(logits: TrainerInput, mask: SamplingMask | null, options: unknown, everyIdAllowed: boolean): KeptRowsCall {
  const rows: Rows | (NativeLogits & { vocab: number; leading: number[] }) = DeviceTensor.isDeviceTensor(logits)
    ? { ...logits.native(), vocab: logits.vocab, leading: [logits.rows] }
    : nativeLogits(logits, options);
  return { ...rows, ...maskArrays(mask, rows.vocab, everyIdAllowed) };
}

function logprobsCall(logits: TrainerInput, mask: SamplingMask | null, targets: Targets, options: LogprobsOptions | undefined) {
  const rows = keptRows(logits, mask, options, true);
  return { ...rows, targets: targetIds(targets, rows.leading), options };
}

function backwardCall(
  logits: TrainerInput,
  mask: SamplingMask | null,
  targets: Targets,
  gradOutput: PerRow,
  options: BackwardOptions | undefined,
) {
  return { ...logprobsCall(logits, mask, targets, options), gradOutput };
}

/**
 * The result in the input's own form: a Float32Array for a Float32Array, a
 * tensor of the form, shape and dtype that were read (and used) for a tensor.
 */
function sameForm(logits: LogitsInput, call: KeptRowsCall, data: LogitsData): LogitsInput {
  if (isTypedArrayOf(logits, 'Float32Array')) return data as Float32Array;
  const dims = [...(call.dims as number[])];
  if (call.ortType !== undefined) return { data, dims, type: call.ortType, location: 'cpu' };
  return { data, shape: dims, dtype: call.dtype as DType };
}

/** applyMask's result: the input itself when masked in place (always for a DeviceTensor), else a new one; with its profile when asked for. */
function applied<L extends TrainerInput>(logits: L, call: KeptRowsCall, result: NativeApplied): Profiled<L> {
  const inPlace = result.data === undefined || result.data === call.data;
  const out = (inPlace ? logits : sameForm(logits as LogitsInput, call, result.data as LogitsData)) as Profiled<L>;
  return result.profile ? Object.assign(out, { profile: result.profile }) : out;
}

/**
 * Logits with -inf at every id a row does not keep, in their own format
 * (f32, bf16 or f16); kept entries are untouched, bit for bit. Returns a new
 * tensor, or with inPlace the input itself, overwritten. A DeviceTensor is
 * masked in place on its device (inPlace: true required). With profile: true
 * the result carries the timings as `profile`.
 */
export function applyMask<L extends TrainerInput>(logits: L, mask: SamplingMask, options?: ApplyMaskOptions): Profiled<L> {
  const call = keptRows(logits, mask, options, false);
  return applied(logits, call, addon.applyMask({ ...call, options }));
}

/** applyMask off the event loop (ordinary ArrayBuffers are copied first; SharedArrayBuffers are used in place). */
export async function applyMaskAsync<L extends TrainerInput>(
  logits: L,
  mask: SamplingMask,
  options?: ApplyMaskOptions,
): Promise<Profiled<L>> {
  const call = keptRows(logits, mask, options, false);
  return applied(logits, call, await addon.applyMaskAsync({ ...call, options }));
}

/**
 * log q(target) for each row, q the softmax of z = x / T over the row's kept
 * ids only, reading just those entries and the target. mask null: over every
 * id (the unmasked log-softmax). Optionally the entropy of q per row.
 */
export function maskedLogprobs(
  logits: TrainerInput,
  mask: SamplingMask | null,
  targets: Targets,
  options?: LogprobsOptions,
): MaskedLogprobs {
  return addon.maskedLogprobs(logprobsCall(logits, mask, targets, options));
}

export async function maskedLogprobsAsync(
  logits: TrainerInput,
  mask: SamplingMask | null,
  targets: Targets,
  options?: LogprobsOptions,
): Promise<MaskedLogprobs> {
  return addon.maskedLogprobsAsync(logprobsCall(logits, mask, targets, options));
}

/**
 * The gradient of sum over rows of gradOutput[r] * logprob[r] with respect to
 * the logits: (onehot(target) - q) / T * gradOutput on each kept id, zero
 * elsewhere. Values are aligned with mask.indices (no [N, V] allocation);
 * dense: true adds them scattered into [N, V].
 */
export function maskedLogprobsBackward(
  logits: TrainerInput,
  mask: SamplingMask | null,
  targets: Targets,
  gradOutput: PerRow,
  options?: BackwardOptions,
): MaskedLogprobsGradient {
  return addon.maskedLogprobsBackward(backwardCall(logits, mask, targets, gradOutput, options));
}

export async function maskedLogprobsBackwardAsync(
  logits: TrainerInput,
  mask: SamplingMask | null,
  targets: Targets,
  gradOutput: PerRow,
  options?: BackwardOptions,
): Promise<MaskedLogprobsGradient> {
  return addon.maskedLogprobsBackwardAsync(backwardCall(logits, mask, targets, gradOutput, options));
}
