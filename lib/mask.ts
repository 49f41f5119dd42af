// mask(): the kept ids of each logits row under temperature, min-p, top-k and
// top-p (README, "The rule").
import { type ExecOptions } from './backend';
import { DeviceTensor } from './device';
import { addon, type NativeCsr, type NativeMaskCall, type PerRowInput } from './native';
import { SamplingMask, wrapNativeCsr } from './sampling-mask';
import { nativeLogits, type LogitsInput } from './tensor';

/** A value for every row, or one per row (typed array or plain array of numbers). */
export type PerRow = PerRowInput;

/** README "Filter order". */
export type FilterOrder = 'sequential' | 'joint';

/** Host logits, or logits already on a CUDA device (then the mask runs there). */
export type MaskInput = LogitsInput | DeviceTensor;

export interface MaskOptions extends ExecOptions {
  /** 0 = greedy; default 1. */
  temperature?: PerRow;
  /** 0 = off (default). */
  minP?: PerRow;
  /** 0 or -1 = off (default); ties at the k-th value are all kept. */
  topK?: PerRow;
  /** 1 = off (default). */
  topP?: PerRow;
  /**
   * Which distribution top-p judges: 'sequential' (default, vLLM's order) the survivors of min-p and top-k,
   * renormalized; 'joint' (SGLang, FlashInfer's filter_apply_order='joint') the whole row, the kept set then being
   * the intersection of the filters. README "Filter order".
   */
  filterOrder?: FilterOrder;
  /** Write -inf over every entry not kept, in place, in the input's own format. */
  fillLogits?: boolean;
  /** Row length, required when logits is a plain Float32Array. */
  vocab?: number;
  /** Attach timings to the result (mask.profile). */
  profile?: boolean;
  /**
   * A row that has no mask (NaN or +inf logits, no finite logit, a maximum /
   * temperature that overflows, an out-of-range per-row parameter): 'throw'
   * (default) fails the call; 'skip' keeps no ids for it, marks it 0 in
   * mask.valid with its error in mask.errors, and masks every other row
   * exactly as it would be masked alone.
   */
  onInvalidRow?: 'throw' | 'skip';
}

/** The native call: the logits' fields and the caller's options, untouched. */
export function nativeCall(logits: MaskInput, options: unknown): NativeMaskCall {
  const rows = DeviceTensor.isDeviceTensor(logits) ? logits.native() : nativeLogits(logits, options);
  return { ...rows, options };
}

export function toMask(csr: NativeCsr, vocab: number): SamplingMask {
  const result = wrapNativeCsr(csr.offsets, csr.indices, vocab);
  if (csr.profile) result.profile = csr.profile;
  if (csr.valid) result.valid = csr.valid;
  if (csr.errors) result.errors = csr.errors;
  return result;
}

export function vocabOf(logits: MaskInput, call: NativeMaskCall): number {
  return DeviceTensor.isDeviceTensor(logits) ? logits.vocab : (call.vocab as number);
}

/**
 * Computes the sampling mask of a batch of logits rows, synchronously. Host
 * logits are read without copying on the CPU backend (CUDA uploads them);
 * a DeviceTensor is masked on its device, and fillLogits writes into it.
 */
export function mask(logits: MaskInput, options?: MaskOptions): SamplingMask {
  const call = nativeCall(logits, options);
  return toMask(addon.mask(call), vocabOf(logits, call));
}

/**
 * Like mask(), off the event loop. Logits over a SharedArrayBuffer are read in
 * place; over an ordinary ArrayBuffer they are copied first, so transferring
 * or detaching the buffer meanwhile is safe (fillLogits then rejects).
 */
export async function maskAsync(logits: MaskInput, options?: MaskOptions): Promise<SamplingMask> {
  const call = nativeCall(logits, options);
  return toMask(await addon.maskAsync(call), vocabOf(logits, call));
}
