// `sampling-mask bench`: runs the benchmark modules shipped in scripts/bench/
// (the ones `npm run bench` runs), each reporting its speed as ratios against
// baselines measured in the same run, and prints a table, JSON, or an SVG
// chart of every operation's time beside its baselines.
import * as fs from 'fs';
import * as path from 'path';
import { clearProgress, progress } from './io';

type Row = Record<string, string | number>;
interface BenchModule {
  name: string;
  run(context: { timeIt: unknown }): Promise<Row[]>;
}

const benchDir = path.join(__dirname, '..', '..', 'scripts', 'bench');

export async function runBench(only: string[]): Promise<Record<string, Row[]>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { timeIt } = require(path.join(benchDir, 'util.js')) as { timeIt: unknown };
  const modules = fs
    .readdirSync(benchDir)
    .filter((file) => file.endsWith('.js') && file !== 'util.js')
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    .map((file) => require(path.join(benchDir, file)) as BenchModule)
    .filter((m) => only.length === 0 || only.includes(m.name));
  const results: Record<string, Row[]> = {};
  for (const [i, m] of modules.entries()) {
    progress(`bench: ${m.name} (${i + 1}/${modules.length})`);
    results[m.name] = await m.run({ timeIt });
  }
  clearProgress();
  return results;
}

export function benchTable(rows: Row[]): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { table } = require(path.join(benchDir, 'util.js')) as { table: (rows: Row[]) => string };
  return table(rows);
}

/** Timing columns: `ms` is the operation, other `...Ms` / `..._ms` columns its baselines. */
function timings(row: Row): [string, number][] {
  return Object.entries(row).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] > 0 && /^ms$|Ms$|_ms$/.test(e[0]));
}

const seriesNames: Record<string, string> = {
  ms: 'sampling-mask',
  readMs: 'one read of the logits (roofline)',
  sortMs: 'sort-based baseline',
  baseline_ms: 'baseline',
};
const palette = ['#1f77b4', '#9e9e9e', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd'];

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

function rowLabel(row: Row): string {
  const named = ['case', 'dtype', 'dist'].filter((k) => typeof row[k] === 'string' && row[k] !== '').map((k) => row[k]);
  return (named.length ? named : [Object.values(row)[0]]).join(', ');
}

/**
 * A horizontal bar chart per module, on a log time axis: each row's
 * operation beside its baselines; the read roofline (one pass over the
 * logits, the least any exact mask can cost) as a grey bar.
 */
export function benchSvg(results: Record<string, Row[]>, title: string): string {
  const width = 960;
  const labelWidth = 330;
  const barHeight = 9;
  const plotWidth = width - labelWidth - 30;
  const parts: string[] = [];
  let y = 40;
  const series = new Map<string, string>();
  for (const [name, rows] of Object.entries(results)) {
    const charted = rows.filter((row) => timings(row).length > 0);
    if (charted.length === 0) continue;
    const values = charted.flatMap((row) => timings(row).map(([, v]) => v));
    const lo = Math.log10(Math.min(...values)) - 0.1;
    const hi = Math.log10(Math.max(...values)) + 0.1;
    const x = (ms: number) => labelWidth + ((Math.log10(ms) - lo) / (hi - lo)) * plotWidth;
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escapeXml(name)}</text>`);
    y += 10;
    const top = y;
    for (const row of charted) {
      const bars = timings(row);
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + (bars.length * barHeight) / 2 + 4}" text-anchor="end">${escapeXml(rowLabel(row))}</text>`,
      );
      for (const [key, ms] of bars) {
        if (!series.has(key)) series.set(key, palette[series.size % palette.length]);
        parts.push(
          `<rect x="${labelWidth}" y="${y}" width="${(x(ms) - labelWidth).toFixed(1)}" height="${barHeight - 1}" fill="${series.get(key)}"><title>${escapeXml(`${seriesNames[key] ?? key}: ${ms.toPrecision(3)} ms`)}</title></rect>`,
          `<text x="${(x(ms) + 3).toFixed(1)}" y="${y + barHeight - 1}" font-size="8">${ms.toPrecision(3)}</text>`,
        );
        y += barHeight;
      }
      y += 6;
    }
    for (let decade = Math.ceil(lo); decade <= Math.floor(hi); decade++) {
      const at = x(10 ** decade).toFixed(1);
      parts.push(
        `<line x1="${at}" y1="${top}" x2="${at}" y2="${y}" stroke="#ddd"/>`,
        `<text x="${at}" y="${y + 10}" font-size="9" text-anchor="middle">${10 ** decade} ms</text>`,
      );
    }
    y += 30;
  }
  const legend = [...series].map(
    ([key, color], i) =>
      `<rect x="${10 + i * 230}" y="${y}" width="10" height="10" fill="${color}"/><text x="${24 + i * 230}" y="${y + 9}">${escapeXml(seriesNames[key] ?? key)}</text>`,
  );
  y += 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...parts,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
