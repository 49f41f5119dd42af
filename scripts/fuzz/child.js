// One fuzz batch in its own process, so that a crash takes only the batch
// down and the parent (index.js) can report it with its seed. Runs one
// class of calls for a seed, bounded by --calls and --seconds, and writes
// JSON lines on stdout: progress, findings, done. Before each call on the
// main thread it writes the call's label to fd 3 synchronously, so that the
// parent knows which call a crash interrupted.
//
//   node scripts/fuzz/child.js --class values|race|terminate|bytes --seed S [--calls N] [--seconds T]
//                              [--threads W] [--from I]
'use strict';
const fs = require('fs');
const { classes, loadPackage } = require('./classes');

function parseArgs(argv) {
  const args = { class: 'values', seed: 1, calls: Infinity, seconds: Infinity, threads: 2, from: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in args)) throw new Error(`unknown option ${argv[i]}`);
    args[key] = key === 'class' ? argv[i + 1] : Number(argv[i + 1]);
  }
  return args;
}

function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const run = classes[args.class];
  if (!run) throw new Error(`unknown class ${args.class}; one of ${Object.keys(classes).join(', ')}`);
  // The parent listens on fd 3; run by hand, there is no one to tell.
  const labelFd = process.env.SAMPLING_MASK_FUZZ_LABEL_FD ? Number(process.env.SAMPLING_MASK_FUZZ_LABEL_FD) : null;
  const stats = { calls: 0, threads: 1, terminated: 0, findings: 0 };
  const ctx = {
    pkg: loadPackage(),
    args,
    deadline: Date.now() + args.seconds * 1000,
    stats,
    label(text) {
      if (labelFd !== null) fs.writeSync(labelFd, `${text}\n`);
    },
    finding(finding) {
      stats.findings++;
      emit({ type: 'finding', class: args.class, seed: args.seed, ...finding });
    },
    progress() {
      emit({
        type: 'progress',
        calls: stats.calls,
        threads: stats.threads,
        terminated: stats.terminated,
        maxRssKb: process.resourceUsage().maxRSS,
      });
    },
  };
  const timer = setInterval(() => ctx.progress(), 1000);
  try {
    await run(ctx);
  } finally {
    clearInterval(timer);
  }
  emit({
    type: 'done',
    calls: stats.calls,
    threads: stats.threads,
    terminated: stats.terminated,
    maxRssKb: process.resourceUsage().maxRSS,
    findings: stats.findings,
  });
}

main().then(
  () => process.exit(0),
  (e) => {
    // A failure of the harness itself, not of the package: exit code 2.
    console.error(e);
    process.exit(2);
  },
);
