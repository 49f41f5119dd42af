// `sampling-mask inspect FILE`: what a serialized mask (serialize(), "SMSK")
// or a record stream (MaskRecordWriter, "SMRS" records) holds.
import * as fs from 'fs';
import { deserialize } from '../codec';
import { decodeRecords } from '../records';
import type { SamplingMask } from '../sampling-mask';
import { formatBytes } from './io';

export interface MaskSummary {
  rows: number;
  vocab: number;
  keptIds: number;
  perRow: { min: number; median: number; mean: number; p99: number; max: number };
  singleIdRows: number;
}

function summarize(mask: SamplingMask): MaskSummary {
  const counts = Array.from({ length: mask.rows }, (_, r) => mask.count(r)).sort((a, b) => a - b);
  const at = (q: number) => (counts.length ? counts[Math.min(counts.length - 1, Math.floor(q * counts.length))] : 0);
  return {
    rows: mask.rows,
    vocab: mask.vocab,
    keptIds: mask.indices.length,
    perRow: {
      min: counts[0] ?? 0,
      median: at(0.5),
      mean: counts.length ? mask.indices.length / counts.length : 0,
      p99: at(0.99),
      max: counts.at(-1) ?? 0,
    },
    singleIdRows: counts.filter((c) => c === 1).length,
  };
}

function describeMask(s: MaskSummary): string {
  const p = s.perRow;
  return (
    `${s.rows} rows over vocab ${s.vocab}, ${s.keptIds} kept ids; per row min ${p.min}, median ${p.median}, ` +
    `mean ${p.mean.toFixed(2)}, p99 ${p.p99}, max ${p.max}; ${s.singleIdRows} rows keep a single id`
  );
}

export function inspectFile(file: string): { text: string; json: unknown } {
  const bytes = fs.readFileSync(file);
  const magic = bytes.subarray(0, 4).toString('latin1');
  if (magic === 'SMSK') {
    const summary = summarize(deserialize(bytes));
    const perId = summary.keptIds ? ` (${(bytes.length / summary.keptIds).toFixed(2)} bytes per kept id)` : '';
    return {
      text: `${file}: serialized mask, ${formatBytes(bytes.length)}${perId}, checksum ok\n  ${describeMask(summary)}`,
      json: { kind: 'mask', bytes: bytes.length, ...summary },
    };
  }
  if (magic === 'SMRS') {
    const { records, skipped } = decodeRecords(bytes, { onCorrupt: 'skip' });
    const lines = [
      `${file}: record stream, ${formatBytes(bytes.length)}, ${records.length} records, ${skipped.length} damaged ranges skipped`,
    ];
    for (const s of skipped) lines.push(`  skipped ${s.length} bytes at offset ${s.offset}: ${s.code} (${s.reason})`);
    const summaries = records.map((r) => ({
      id: r.id,
      tokens: r.tokens !== undefined,
      outsideSteps: r.outsideSteps?.length ?? 0,
      ...summarize(r.mask),
    }));
    for (const s of summaries) {
      lines.push(
        `  ${JSON.stringify(s.id)}: ${describeMask(s)}${s.tokens ? ', with tokens' : ''}${s.outsideSteps ? `, ${s.outsideSteps} steps outside the mask` : ''}`,
      );
    }
    return { text: lines.join('\n'), json: { kind: 'records', bytes: bytes.length, records: summaries, skipped } };
  }
  throw new Error(`${file}: neither a serialized mask ("SMSK") nor a record stream ("SMRS"): starts with ${JSON.stringify(magic)}`);
}
