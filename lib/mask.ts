// mask(): the kept ids of each logits row under temperature, min-p, top-k and
// top-p (README, "The rule").
import { addon, type NativeCsr, type PerRowInput } from './native';
import { SamplingMask } from './sampling-mask';
import { asRows, type LogitsInput } from './tensor';

/** A value for every row, or one per row (typed array or plain array). */
export type PerRow = PerRowInput | readonly number[];

export interface MaskOptions {
  /** 0 = greedy; default 1. */
  temperature?: PerRow;
  /** 0 = off (default). */
  minP?: PerRow;
  /** 0 or -1 = off (default); ties at the k-th value are all kept. */
  topK?: PerRow;
  /** 1 = off (default). */
  topP?: PerRow;
  /** Write -inf over every entry not kept, in place, in the input's own format. */
  fillLogits?: boolean;
  /** Row length, required when logits is a plain Float32Array. */
  vocab?: number;
}

export function perRow(value: PerRow | undefined): PerRowInput | undefined {
  return Array.isArray(value) ? Float64Array.from(value as readonly number[]) : (value as PerRowInput | undefined);
}

function nativeArgs(logits: LogitsInput, options: MaskOptions) {
  const rows = asRows(logits, options.vocab);
  const params = {
    temperature: perRow(options.temperature),
    minP: perRow(options.minP),
    topK: perRow(options.topK),
    topP: perRow(options.topP),
  };
  return [rows.data, rows.dtype, rows.rows, rows.vocab, params, options.fillLogits === true] as const;
}

function toMask(csr: NativeCsr, vocab: number): SamplingMask {
  return new SamplingMask(csr.offsets, csr.indices, vocab);
}

/** Computes the sampling mask of a batch of logits rows, synchronously and without copying them. */
export function mask(logits: LogitsInput, options: MaskOptions = {}): SamplingMask {
  const args = nativeArgs(logits, options);
  return toMask(addon.mask(...args), args[3]);
}

/**
 * Like mask(), off the event loop. Logits over a SharedArrayBuffer are read in
 * place; over an ordinary ArrayBuffer they are copied first, so transferring
 * or detaching the buffer meanwhile is safe (fillLogits then rejects).
 */
export async function maskAsync(logits: LogitsInput, options: MaskOptions = {}): Promise<SamplingMask> {
  const args = nativeArgs(logits, options);
  return toMask(await addon.maskAsync(...args), args[3]);
}
