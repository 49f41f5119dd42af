// Every instruction-set variant of the CPU kernels (baseline, AVX2, AVX-512)
// against the reference. The variant is picked once per process, so each runs
// in a child process capped with SAMPLING_MASK_CPU_ISA; variants the machine
// lacks fall back to the best it has, which is then tested twice.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { DType, MaskOptions } from '../lib';
import { bitsOf, dtypes, encode, errorFields, logitsBatch, maskedBits, Rng, spawnPerIsa } from './helpers';
import { referenceMask } from './reference';

interface Case {
  file: string;
  dtype: DType;
  rows: number;
  vocab: number;
  options: MaskOptions;
}

interface ChildResult {
  offsets?: number[];
  indices?: number[];
  filled?: string;
  error?: Record<string, unknown>;
}

function buildCases(dir: string): { cases: Case[]; inputs: (Float32Array | Uint16Array)[] } {
  const rng = new Rng(0x15a);
  const cases: Case[] = [];
  const inputs: (Float32Array | Uint16Array)[] = [];
  const add = (dtype: DType, rows: number, vocab: number, options: MaskOptions, edit?: (values: Float32Array) => void) => {
    const values = logitsBatch(rng, rows, vocab);
    for (let i = rng.int(0, 40); i < values.length; i += rng.int(1, 97)) values[i] = -Infinity;
    for (let r = 0; r < rows; r++) values[r * vocab + rng.int(0, vocab - 1)] = 2; // no row all -inf
    edit?.(values);
    const data = encode(values, dtype);
    const file = path.join(dir, `case-${cases.length}.bin`);
    fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    cases.push({ file, dtype, rows, vocab, options });
    inputs.push(data);
  };
  for (const dtype of dtypes) {
    // Lengths around the vector widths and block sizes, short and long rows, both batch paths.
    for (const [rows, vocab] of [
      [3, 1],
      [5, 15],
      [4, 17],
      [6, 63],
      [3, 333],
      [40, 1000],
      [1, 20000],
      [2, 9001],
    ]) {
      for (const options of [
        { topK: 20 },
        { topP: 0.9, temperature: 0.7 },
        { minP: 0.05, topK: 200, topP: 0.95 },
        { temperature: 0, fillLogits: true },
        { topK: 7, topP: 0.8, fillLogits: true },
      ]) {
        add(dtype, rows, vocab, options);
      }
    }
    // Invalid entries, including in the tail after the last full vector.
    add(dtype, 4, 77, { topK: 3 }, (v) => (v[2 * 77 + 75] = NaN));
    add(dtype, 1, 20001, { topP: 0.5 }, (v) => (v[19999] = Infinity));
  }
  return { cases, inputs };
}

function filledBits(base64: string, dtype: DType): number[] {
  const bytes = Buffer.from(base64, 'base64');
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return dtype === 'float32' ? Array.from(new Uint32Array(buffer)) : Array.from(new Uint16Array(buffer));
}

test('baseline, AVX2 and AVX-512 kernels all keep what the reference keeps', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-isa-'));
  try {
    const { cases, inputs } = buildCases(dir);
    const manifest = path.join(dir, 'manifest.json');
    fs.writeFileSync(manifest, JSON.stringify({ cases }));
    const expected = cases.map((c, i) => {
      try {
        return { lists: referenceMask(inputs[i], c.dtype, c.rows, c.vocab, c.options) };
      } catch (error) {
        return { error: errorFields(error) };
      }
    });
    const script = path.join(__dirname, 'fixtures', 'isa-masks.js');
    const ran = new Set<string>();
    for (const { child } of spawnPerIsa(script, manifest)) {
      expect(child.stderr).toBe('');
      expect(child.status).toBe(0);
      const out = JSON.parse(child.stdout) as { isa: string; results: ChildResult[] };
      ran.add(out.isa);
      const mismatches = out.results.flatMap((result, i) => {
        const c = cases[i];
        const want = expected[i];
        const label = `${out.isa} case ${i} (${c.dtype} B=${c.rows} V=${c.vocab} ${JSON.stringify(c.options)})`;
        if (want.error)
          return JSON.stringify(result.error) === JSON.stringify(want.error) ? [] : [`${label}: error ${JSON.stringify(result.error)}`];
        const lists = want.lists!;
        const offsets = [0, ...lists.map((_, r) => lists.slice(0, r + 1).reduce((n, ids) => n + ids.length, 0))];
        if (JSON.stringify(result.offsets) !== JSON.stringify(offsets) || JSON.stringify(result.indices) !== JSON.stringify(lists.flat())) {
          return [`${label}: kept sets differ`];
        }
        if (!c.options.fillLogits) return [];
        const before = bitsOf(inputs[i]);
        const kept = new Set(lists.flatMap((ids, r) => ids.map((id) => r * c.vocab + id)));
        const after = filledBits(result.filled!, c.dtype);
        const wrong = after.findIndex((bits, j) => bits !== (kept.has(j) ? before[j] : maskedBits[c.dtype]));
        return wrong < 0 ? [] : [`${label}: filled element ${wrong} is ${after[wrong].toString(16)}`];
      });
      expect(mismatches).toEqual([]);
    }
    expect(ran.has('baseline')).toBe(true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
