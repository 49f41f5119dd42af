// Plain references for the carry tests, written for clarity, not speed: a
// CRC-32C computed bit by bit, the serialized mask format written straight
// from its description, and a recorder that keeps per-request lists.

export function referenceCrc32c(bytes: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

export function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function u16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}
function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
function u64(v: number): number[] {
  return [...u32(v % 2 ** 32), ...u32(Math.floor(v / 2 ** 32))];
}

/** A row as the format stores it: varint ids or a bitmap, whichever is smaller (varint on a tie). */
export function referenceRow(ids: readonly number[], vocab: number): number[] {
  const gaps: number[] = [];
  let previous = -1;
  for (const id of ids) {
    gaps.push(...varint(id - previous - 1));
    previous = id;
  }
  const bitmap = new Array<number>(Math.ceil(vocab / 8)).fill(0);
  for (const id of ids) bitmap[id >> 3] |= 1 << (id & 7);
  const asBitmap = gaps.length > bitmap.length;
  return [...varint(ids.length * 2 + (asBitmap ? 1 : 0)), ...(asBitmap ? bitmap : gaps)];
}

/** A serialized mask with the given fields; payload and header may be made inconsistent on purpose. */
export function referenceBytes(fields: {
  rows: number;
  vocab: number;
  ids: number;
  payload: number[];
  version?: number;
  encoding?: number;
  payloadBytes?: number;
}): Uint8Array {
  const body = [
    ...[0x53, 0x4d, 0x53, 0x4b],
    ...u16(fields.version ?? 1),
    ...u16(fields.encoding ?? 1),
    ...u32(fields.rows),
    ...u32(fields.vocab),
    ...u64(fields.ids),
    ...u64(fields.payloadBytes ?? fields.payload.length),
    ...fields.payload,
  ];
  const bytes = new Uint8Array(body.length + 4);
  bytes.set(body);
  bytes.set(u32(referenceCrc32c(bytes.subarray(0, body.length))), body.length);
  return bytes;
}

export function referenceSerialize(lists: readonly (readonly number[])[], vocab: number): Uint8Array {
  const payload: number[] = [];
  let ids = 0;
  for (const row of lists) {
    payload.push(...referenceRow(row, vocab));
    ids += row.length;
  }
  return referenceBytes({ rows: lists.length, vocab, ids, payload });
}

/** What a recorder must hold: per request, its rows and tokens in order. */
export class ReferenceRecorder {
  readonly requests = new Map<string | number, { rows: number[][]; tokens: number[] }>();

  record(ids: readonly (string | number)[], lists: readonly (readonly number[])[], tokens?: readonly number[]): void {
    ids.forEach((id, i) => {
      const entry = this.requests.get(id) ?? { rows: [], tokens: [] };
      entry.rows.push([...lists[i]]);
      if (tokens) entry.tokens.push(tokens[i]);
      this.requests.set(id, entry);
    });
  }

  take(id: string | number): { rows: number[][]; tokens: number[] } | undefined {
    const entry = this.requests.get(id);
    this.requests.delete(id);
    return entry;
  }
}
