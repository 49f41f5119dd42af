'use strict';
// Shared timing and table helpers for the benchmark modules.

/** Median wall time in ms of fn() over `repeats` runs after `warmup` runs. */
async function timeIt(fn, { repeats = 7, warmup = 2 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
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

/** A seeded PRNG (mulberry32) so benchmarks and demos are repeatable. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = { timeIt, table, rng };
