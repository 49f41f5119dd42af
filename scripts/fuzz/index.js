#!/usr/bin/env node
// `npm run fuzz`: runs the fuzzer's classes (classes.js) in batches, each
// batch a child process (child.js) with its own seed, until --seconds or
// --calls is used up. A child that dies by a signal, exits abnormally or
// hangs is a finding, reported with its seed, the call it was in and the
// command that reruns it; so is every uncoded error or malformed result the
// children report. Prints the figures (calls, threads, peak RSS of the
// children) and exits 1 if there was any finding.
//
//   node scripts/fuzz/index.js [--seconds N | --calls N] [--seed S] [--classes values,race,terminate,bytes]
//                              [--threads W] [--batch-seconds B] [--json FILE] [--quiet]
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const kClasses = ['values', 'race', 'terminate', 'bytes'];

function parseArgs(argv) {
  const args = {
    seconds: undefined,
    calls: undefined,
    seed: 1,
    classes: kClasses.join(','),
    threads: 2,
    'batch-seconds': 10,
    json: '',
    quiet: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in args)) throw new Error(`unknown option ${argv[i]}`);
    if (key === 'quiet') args.quiet = true;
    else args[key] = typeof args[key] === 'string' ? argv[++i] : Number(argv[++i]);
  }
  if (args.seconds === undefined && args.calls === undefined) args.seconds = 60;
  args.classes = args.classes.split(',').filter(Boolean);
  for (const c of args.classes) if (!kClasses.includes(c)) throw new Error(`unknown class ${c}; one of ${kClasses.join(', ')}`);
  return args;
}

const kDeathLine = /runtime error:|ERROR: AddressSanitizer|terminate called|FATAL ERROR|Fatal error|Segmentation fault/;

// Calls per batch when the run is bounded by calls: terminate calls start a worker each.
const kBatchCalls = { values: 4000, race: 1500, terminate: 40, bytes: 3000 };

function runChild(args, batch) {
  const childArgs = ['--class', batch.class, '--seed', String(batch.seed), '--threads', String(args.threads)];
  if (batch.calls !== undefined) childArgs.push('--calls', String(batch.calls));
  if (batch.seconds !== undefined) childArgs.push('--seconds', String(batch.seconds));
  const child = spawn(process.execPath, [path.join(__dirname, 'child.js'), ...childArgs], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, SAMPLING_MASK_FUZZ_LABEL_FD: '3' },
  });
  const result = {
    ...batch,
    calls: 0,
    threads: 1,
    terminated: 0,
    maxRssKb: 0,
    findings: [],
    lastLabel: '',
    stderr: '',
    headline: '',
    done: false,
  };
  const lines = (stream, onLine) => {
    let pending = '';
    stream.on('data', (chunk) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop();
      parts.forEach(onLine);
    });
  };
  lines(child.stdout, (line) => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    if (message.type === 'finding') result.findings.push(message);
    if (message.type === 'progress' || message.type === 'done') {
      result.calls = message.calls;
      result.terminated = message.terminated;
      result.threads = Math.max(result.threads, message.threads);
      result.maxRssKb = Math.max(result.maxRssKb, message.maxRssKb);
      result.done ||= message.type === 'done';
    }
  });
  lines(child.stdio[3], (line) => {
    result.lastLabel = line;
  });
  // The last of stderr, and its first line that says what killed the process (a sanitizer, V8, C++).
  let stderrHead = '';
  child.stderr.on('data', (chunk) => {
    result.stderr = (result.stderr + chunk).slice(-4000);
    if (!result.headline && stderrHead.length < 1 << 16) {
      stderrHead += chunk;
      result.headline = stderrHead.split('\n').find((line) => kDeathLine.test(line)) ?? '';
    }
  });
  // A batch that overruns its time by far is hung.
  const limit = ((batch.seconds ?? 120) + 60) * 1000;
  const watchdog = setTimeout(() => {
    result.hung = true;
    child.kill('SIGKILL');
  }, limit);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      result.code = code;
      result.signal = signal;
      resolve(result);
    });
  });
}

function rerunCommand(batch) {
  const bound = batch.calls !== undefined ? `--calls ${batch.calls}` : `--seconds ${batch.seconds}`;
  return `node scripts/fuzz/child.js --class ${batch.class} --seed ${batch.seed} ${bound}`;
}

// A crash, an abnormal exit or a hang of the child is a finding of its own.
function processFinding(result) {
  if (result.hung) return { kind: 'hang', problem: `no end after ${(result.seconds ?? 120) + 60} s` };
  if (result.signal) return { kind: 'crash', problem: `killed by ${result.signal}` };
  if (result.code !== 0) return { kind: 'crash', problem: `exit code ${result.code}` };
  if (!result.done) return { kind: 'crash', problem: 'ended without reporting' };
  return null;
}

function signature(finding) {
  const what = String(finding.problem).replace(/\d+/g, 'N').slice(0, 160);
  const op = String(finding.label ?? '').replace(/^.*: /, '');
  return `${finding.class}|${finding.kind}|${op}|${what}`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const deadline = args.seconds !== undefined ? started + args.seconds * 1000 : Infinity;
  const totals = { batches: 0, calls: 0, terminated: 0, maxThreads: 1, maxRssKb: 0, perClass: {} };
  const findings = new Map();
  const record = (finding, batch) => {
    const key = signature(finding);
    const entry = findings.get(key) ?? { ...finding, count: 0, rerun: rerunCommand(batch) };
    entry.count++;
    findings.set(key, entry);
  };
  for (let k = 0; ; k++) {
    const remainingMs = deadline - Date.now();
    if (remainingMs < 1000 || (args.calls !== undefined && totals.calls >= args.calls)) break;
    const cls = args.classes[k % args.classes.length];
    const batch = { class: cls, seed: args.seed * 100003 + k };
    if (args.calls !== undefined) batch.calls = Math.min(kBatchCalls[cls], Math.max(1, args.calls - totals.calls));
    if (args.seconds !== undefined) batch.seconds = Math.max(1, Math.min(args['batch-seconds'], Math.floor(remainingMs / 1000)));
    const result = await runChild(args, batch);
    totals.batches++;
    totals.calls += result.calls;
    totals.terminated += result.terminated;
    totals.maxThreads = Math.max(totals.maxThreads, result.threads);
    totals.maxRssKb = Math.max(totals.maxRssKb, result.maxRssKb);
    const perClass = (totals.perClass[cls] ??= { batches: 0, calls: 0, terminated: 0, maxThreads: 1, maxRssKb: 0 });
    perClass.batches++;
    perClass.calls += result.calls;
    perClass.terminated += result.terminated;
    perClass.maxThreads = Math.max(perClass.maxThreads, result.threads);
    perClass.maxRssKb = Math.max(perClass.maxRssKb, result.maxRssKb);
    const crash = processFinding(result);
    if (crash) {
      const problem = result.headline ? `${crash.problem}: ${result.headline.trim()}` : crash.problem;
      record({ class: cls, seed: batch.seed, label: result.lastLabel, ...crash, problem, stderr: result.stderr.slice(-1500) }, batch);
    }
    for (const f of result.findings) record(f, batch);
    if (!args.quiet) {
      const mark = crash ? ` ${crash.kind.toUpperCase()}: ${crash.problem} in ${result.lastLabel}` : '';
      console.log(
        `batch ${k} ${cls} seed ${batch.seed}: ${result.calls} calls, ${result.threads} threads, ` +
          `${Math.round(result.maxRssKb / 1024)} MiB, ${result.findings.length} findings${mark}`,
      );
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const summary = { seed: args.seed, seconds, ...totals, findings: [...findings.values()] };
  console.log(
    `\nfuzz: seed ${args.seed}, ${seconds.toFixed(0)} s, ${totals.batches} child processes, ${totals.calls} calls, ` +
      `up to ${totals.maxThreads} threads per child, peak child RSS ${Math.round(totals.maxRssKb / 1024)} MiB`,
  );
  for (const [cls, c] of Object.entries(totals.perClass)) {
    const workers = c.terminated > 0 ? ` (${c.terminated} workers terminated inside them)` : '';
    console.log(
      `  ${cls}: ${c.calls} calls${workers} in ${c.batches} children, up to ${c.maxThreads} threads, peak RSS ${Math.round(c.maxRssKb / 1024)} MiB`,
    );
  }
  console.log(`findings: ${findings.size} distinct`);
  for (const f of findings.values()) {
    console.log(`\n[${f.kind}] ${f.class} x${f.count}: ${f.problem}\n  in: ${f.label}\n  rerun: ${f.rerun}`);
    if (f.stack) console.log(`  stack: ${f.stack.replace(/\n/g, '\n    ')}`);
    if (f.stderr) console.log(`  stderr: ${f.stderr.trim().split('\n').slice(-12).join('\n    ')}`);
  }
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(summary, null, 2));
  process.exit(findings.size > 0 ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
