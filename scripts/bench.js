#!/usr/bin/env node
// `npm run bench`: runs every benchmark module in scripts/bench/ (or those
// named on the command line), prints each table and writes all results as
// JSON under bench-results/. Each module exports { name, run(ctx) } and
// reports speed as ratios against a baseline measured in the same run.
'use strict';
const fs = require('fs');
const path = require('path');
const { table, timeIt } = require('./bench/util');

async function main() {
  const dir = path.join(__dirname, 'bench');
  const only = process.argv.slice(2);
  const modules = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => require(path.join(dir, f)))
    // Helper modules (digests, addon-at) run nothing themselves.
    .filter((m) => typeof m.run === 'function' && (only.length === 0 || only.includes(m.name)));
  const outDir = path.join(__dirname, '..', 'bench-results');
  fs.mkdirSync(outDir, { recursive: true });
  const results = {};
  for (const m of modules) {
    console.log(`\n## ${m.name}`);
    const rows = await m.run({ timeIt });
    console.log(table(rows));
    results[m.name] = rows;
  }
  const file = path.join(outDir, `bench-${Date.now()}.json`);
  const sm = require('..');
  fs.writeFileSync(file, JSON.stringify({ backend: sm.backendInfo(), results }, null, 2));
  console.log(`\nwrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
