'use strict';
// Shared timing and table helpers for the benchmark modules.

/** The middle value (the upper one of an even count); xs is left as it was. */
function median(xs) {
  const sorted = xs.slice().sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Median wall time in ms of fn() over `repeats` runs after `warmup` runs. */
async function timeIt(fn, { repeats = 7, warmup = 2 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

/** Resolves after the event loop has turned once (finalizers of freed results run). */
const turnOfEventLoop = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Median ms of each of fns, timed alternately (one call of each per round,
 * after `warmup` rounds): on a shared machine the load drifts, and a ratio of
 * two of them is what a target is about. Each round ends with a turn of the
 * event loop, as an orchestrator's steps do: Node frees the external buffers
 * of results only then, and a loop that never yields writes every result to
 * pages fresh from the OS (mask() at 64 rows, top_p 0.9, took 1.8x as long).
 */
async function timeAlternately(fns, { repeats = 15, warmup = 2 } = {}) {
  const times = fns.map(() => []);
  for (let i = 0; i < warmup + repeats; i++) {
    fns.forEach((fn, k) => {
      const start = process.hrtime.bigint();
      fn();
      if (i >= warmup) times[k].push(Number(process.hrtime.bigint() - start) / 1e6);
    });
    await turnOfEventLoop();
  }
  return times.map(median);
}

/** A markdown table of an array of flat objects. */
function table(rows) {
  if (rows.length === 0) return '(no rows)';
  const keys = Object.keys(rows[0]);
  const fmt = (v) =>
    v === undefined || v === null ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);
  const lines = [`| ${keys.join(' | ')} |`, `| ${keys.map(() => '---').join(' | ')} |`];
  for (const r of rows) lines.push(`| ${keys.map((k) => fmt(r[k])).join(' | ')} |`);
  return lines.join('\n');
}

/** A bench row's target and met columns: a ratio to `baseline` of at most `target` (none: both empty). */
function targetColumns(ratio, target, baseline) {
  if (!target) return { target: '', met: '' };
  return { target: `<= ${target}x ${baseline}`, met: ratio <= target ? 'yes' : 'NO' };
}

/** A GPU-check row's target column: its kernel time (kernelUs) against a target in µs. */
function kernelTarget({ kernelUs, target }) {
  if (!target) return '';
  const met = kernelUs === undefined ? 'not measured' : kernelUs <= target ? 'met' : 'missed';
  return `≤ ${target} µs: ${met}`;
}

module.exports = { median, timeIt, timeAlternately, turnOfEventLoop, table, targetColumns, kernelTarget };
