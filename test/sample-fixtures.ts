// Shared pieces of the sample() tests: the token-in-mask check every test
// draw goes through, and random keys.
import type { SamplingMask } from '../lib';
import { Rng } from './helpers';

/** null when every row's token is one of its kept ids; else the first row where it is not. */
export function tokenOutsideMask(result: { tokens: Int32Array; mask: SamplingMask }): string | null {
  const { tokens, mask } = result;
  if (tokens.length !== mask.rows) return `${tokens.length} tokens for ${mask.rows} rows`;
  for (let r = 0; r < mask.rows; r++) {
    if (!mask.row(r).includes(tokens[r])) return `row ${r}: token ${tokens[r]} not in [${Array.from(mask.row(r)).slice(0, 8)}]`;
  }
  return null;
}

/** Asserts that every drawn token is in its row's mask. */
export function expectTokensKept(result: { tokens: Int32Array; mask: SamplingMask }): void {
  expect(tokenOutsideMask(result)).toBeNull();
}

export interface Keys {
  seed: bigint;
  stream: bigint[];
  step: number[];
}

/** A random 64-bit integer as a bigint. */
export function random64(rng: Rng): bigint {
  return (BigInt(rng.int(0, 0xffffffff)) << 32n) | BigInt(rng.int(0, 0xffffffff));
}

/** Random keys for `rows` rows: a 64-bit seed, 64-bit streams, 32-bit steps. */
export function randomKeys(rng: Rng, rows: number): Keys {
  return {
    seed: random64(rng),
    stream: Array.from({ length: rows }, () => (rng.next() < 0.3 ? BigInt(rng.int(0, 1000)) : random64(rng))),
    step: Array.from({ length: rows }, () => rng.int(0, 0xffffffff)),
  };
}
