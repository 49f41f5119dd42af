// mask(): the kept ids of each logits row under temperature, min-p, top-k and
// top-p (README, "The rule").
import { deviceExec, hostExec, type ExecOptions } from './backend';
import { DeviceTensor } from './device';
import { addon, type NativeCsr, type NativeMaskArgs, type PerRowInput } from './native';
import { SamplingMask, wrapNativeCsr } from './sampling-mask';
import { asRows, type LogitsInput } from './tensor';
import { typeError } from './errors';

/** A value for every row, or one per row (typed array or plain array). */
export type PerRow = PerRowInput | readonly number[];

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
  /** Write -inf over every entry not kept, in place, in the input's own format. */
  fillLogits?: boolean;
  /** Row length, required when logits is a plain Float32Array. */
  vocab?: number;
  /** Attach timings to the result (mask.profile). */
  profile?: boolean;
}

export function perRow(value: PerRow | undefined): PerRowInput | undefined {
  return Array.isArray(value) ? Float64Array.from(value as readonly number[]) : (value as PerRowInput | undefined);
}

function nativeArgs(logits: MaskInput, options: MaskOptions): NativeMaskArgs {
  if (options === null || typeof options !== 'object') {
    throw typeError('options', 'expected an object');
  }
  const params = {
    temperature: perRow(options.temperature),
    minP: perRow(options.minP),
    topK: perRow(options.topK),
    topP: perRow(options.topP),
  };
  const fill = options.fillLogits === true;
  if (logits instanceof DeviceTensor) {
    const { handle, dtype, rows, vocab } = logits;
    return [handle, dtype, rows, vocab, params, fill, deviceExec(options)];
  }
  const rows = asRows(logits, options.vocab);
  return [rows.data, rows.dtype, rows.rows, rows.vocab, params, fill, hostExec(options)];
}

function toMask(csr: NativeCsr, vocab: number): SamplingMask {
  const result = wrapNativeCsr(csr.offsets, csr.indices, vocab);
  if (csr.profile) result.profile = csr.profile;
  return result;
}

/**
 * Computes the sampling mask of a batch of logits rows, synchronously. Host
 * logits are read without copying on the CPU backend (CUDA uploads them);
 * a DeviceTensor is masked on its device, and fillLogits writes into it.
 */
export function mask(logits: MaskInput, options: MaskOptions = {}): SamplingMask {
  const args = nativeArgs(logits, options);
  return toMask(addon.mask(...args), args[3]);
}

/**
 * Like mask(), off the event loop. Logits over a SharedArrayBuffer are read in
 * place; over an ordinary ArrayBuffer they are copied first, so transferring
 * or detaching the buffer meanwhile is safe (fillLogits then rejects).
 */
export async function maskAsync(logits: MaskInput, options: MaskOptions = {}): Promise<SamplingMask> {
  const args = nativeArgs(logits, options);
  return toMask(await addon.maskAsync(...args), args[3]);
}
