// The fuzzer's classes of calls, each run in a child process (child.js):
//   values     every export with hostile JS values (valid inputs, randomly corrupted)
//   race       native and JS operations on SharedArrayBuffers that worker threads overwrite during the call,
//              from the main thread and from a worker calling concurrently (sync and async)
//   terminate  worker threads terminated while inside a sync or an async call
//   bytes      random and mutated bytes for deserialize, decodeRecords and MaskRecordReader
'use strict';
const path = require('path');
const { Worker } = require('worker_threads');
const { Rng, maybeCorrupt } = require('./hostile');
const { Arena } = require('./inputs');
const { ops, kAsyncForms, kNativeOps, kSharedJsOps } = require('./ops');
const { checkError, checkMask } = require('./outcome');
const { mutatedBytes } = require('./bytes');

/** The seed of call i of a batch: calls are reproducible one by one (--from i --calls 1). */
function callSeed(seed, i) {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

async function* callIndices(ctx) {
  const { from, calls } = ctx.args;
  for (let i = from; i < from + calls && Date.now() < ctx.deadline; i++) {
    // Calls that settle at once never leave the microtask queue: let timers (progress reports) run.
    if (i % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
    yield i;
  }
}

/** What is wrong with an outcome, or null: a thrown error must be coded, a result well formed. */
function problemOf(call, outcome, codes, shape) {
  if ('error' in outcome) return checkError(outcome.error, codes, shape);
  try {
    return call.check ? call.check(outcome.result) : null;
  } catch (e) {
    return `checking the result threw: ${e && e.message}`;
  }
}

async function settle(run) {
  try {
    return { result: await run() };
  } catch (error) {
    return { error };
  }
}

function stackOf(outcome) {
  const stack = outcome.error && outcome.error.stack;
  return typeof stack === 'string' ? stack.split('\n').slice(0, 6).join('\n') : undefined;
}

/**
 * Builds and runs one call; a finding when its outcome is not acceptable.
 * Racing threads may spoil the inputs while they are built (the package
 * then refuses them with a coded error): with buildMayFail such a call is
 * skipped; any other failure to build is a bug of the harness. A call may
 * run several times in a row (repeat, each after rewind(): what racing
 * threads meet is the package's time, not the fuzzer's input building) and
 * several times at once (concurrent: async forms).
 */
async function runCall(ctx, label, build, { concurrent = 1, repeat = 1, rewind, buildMayFail = false, shape } = {}) {
  let call;
  try {
    call = build();
  } catch (e) {
    if (buildMayFail && checkError(e, ctx.pkg.ERROR_CODES) === null) return;
    throw new Error(`${label}: building the call failed: ${e && e.stack}`);
  }
  const restore = rewind && rewind();
  for (let k = 0; k < repeat; k++) {
    if (restore) restore();
    ctx.stats.calls += concurrent;
    const outcomes = await Promise.all(Array.from({ length: concurrent }, () => settle(call.run)));
    for (const outcome of outcomes) {
      const problem = problemOf(call, outcome, ctx.pkg.ERROR_CODES, shape);
      if (problem) ctx.finding({ kind: 'error' in outcome ? 'error' : 'result', label, problem, stack: stackOf(outcome) });
    }
  }
  if (call.after) call.after();
}

async function values(ctx) {
  const names = Object.keys(ops);
  for await (const i of callIndices(ctx)) {
    const rng = new Rng(callSeed(ctx.args.seed, i));
    const name = rng.pick(names);
    const async = kAsyncForms.has(name) && rng.chance(0.5);
    const p = rng.chance(0.2) ? 0 : rng.pick([0.05, 0.15, 0.4]);
    const rows = rng.chance(0.05) ? 0 : rng.int(1, 6);
    const vocab = rng.pick([1, 2, 5, 17, 64, 300]);
    const callCtx = { rng, pkg: ctx.pkg, arena: new Arena(null), rows, vocab, bend: (v) => maybeCorrupt(v, rng, p) };
    const label = `values seed ${ctx.args.seed} call ${i}: ${name}${async ? ' (async)' : ''}`;
    ctx.label(label);
    await runCall(ctx, label, () => ops[name](callCtx, async), { shape: rows > 0 ? { rows, vocab } : undefined });
  }
}

// Words of the shared region, per calling thread (slot): [start, count] of
// what its current call uses, so that writers hit live inputs.
const kControlStop = 0;
const kControlPause = 1;
const kSlotBase = 8;
const kSlotBytes = 4 << 20;

/** Race calls in one slot of the shared region, until told to stop (main thread or a caller worker). */
async function raceCalls(ctx, slot, shared, control, shouldStop, seed, indices) {
  const names = [...kNativeOps, ...kSharedJsOps];
  const slotStart = slot * kSlotBytes;
  for await (const i of indices) {
    if (shouldStop()) return;
    const rng = new Rng(callSeed(seed, i));
    const name = rng.pick(names);
    const async = kAsyncForms.has(name) && rng.chance(0.5);
    const rows = rng.int(1, 16);
    const vocab = rng.pick([8, 100, 1000, 5000, 32000]);
    const arena = new Arena({ buffer: shared, at: slotStart, end: slotStart + kSlotBytes });
    const callCtx = { rng, pkg: ctx.pkg, arena, rows, vocab, bend: (v) => v };
    // Some calls run with the writers paused: they must then succeed or fail cleanly like any call.
    Atomics.store(control, kControlPause, slot === 0 && rng.chance(0.1) ? 1 : 0);
    const label = `race seed ${seed} slot ${slot} call ${i}: ${name}${async ? ' (async)' : ''}`;
    ctx.label(label);
    // Writers leave the slot alone while its inputs are built, then overwrite them during the call.
    Atomics.store(control, kSlotBase + 2 * slot + 1, 0);
    const build = () => {
      const call = ops[name](callCtx, async);
      Atomics.store(control, kSlotBase + 2 * slot, slotStart / 4);
      Atomics.store(control, kSlotBase + 2 * slot + 1, Math.ceil((arena.shared.at - slotStart) / 4));
      return call;
    };
    // The inputs as built, put back before each repetition (the writers' damage accumulates otherwise).
    const rewind = () => {
      const words = new Int32Array(shared, slotStart, Math.ceil((arena.shared.at - slotStart) / 4));
      const pristine = words.slice();
      return () => words.set(pristine);
    };
    await runCall(ctx, label, build, {
      concurrent: async ? rng.int(1, 3) : 1,
      repeat: rng.int(1, 20),
      rewind,
      buildMayFail: true,
      shape: { rows, vocab },
    });
  }
}

function startWorker(workerData) {
  const worker = new Worker(path.join(__dirname, 'worker.js'), { workerData });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  return { worker, exited };
}

async function race(ctx) {
  const writers = Math.max(1, ctx.args.threads);
  const callers = 1;
  const shared = new SharedArrayBuffer(kSlotBytes * (1 + callers));
  const control = new Int32Array(new SharedArrayBuffer(4 * (kSlotBase + 2 * (1 + callers))));
  const workers = [];
  for (let k = 0; k < writers; k++) {
    workers.push(startWorker({ mode: 'writer', seed: callSeed(ctx.args.seed, -1 - k), shared, control: control.buffer }));
  }
  for (let k = 0; k < callers; k++) {
    const w = startWorker({ mode: 'caller', slot: 1 + k, seed: callSeed(ctx.args.seed, 1000 + k), shared, control: control.buffer });
    w.worker.on('message', (message) => {
      if (message.type === 'finding') ctx.finding(message.finding);
      if (message.type === 'calls') ctx.stats.calls += message.calls;
    });
    workers.push(w);
  }
  ctx.stats.threads = 1 + workers.length;
  try {
    await raceCalls(ctx, 0, shared, control, () => false, ctx.args.seed, callIndices(ctx));
  } finally {
    Atomics.store(control, kControlStop, 1);
    Atomics.notify(control, kControlPause);
    await Promise.all(workers.map((w) => w.exited));
  }
}

async function terminate(ctx) {
  const names = [...kNativeOps, 'samplingMask', 'concat', 'recorder', 'records', 'fromLists'];
  for await (const i of callIndices(ctx)) {
    const rng = new Rng(callSeed(ctx.args.seed, i));
    const name = rng.pick(names);
    const async = kAsyncForms.has(name) && rng.chance(0.5);
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const label = `terminate seed ${ctx.args.seed} call ${i}: ${name}${async ? ' (async)' : ''}`;
    ctx.label(label);
    const { worker, exited } = startWorker({ mode: 'victim', op: name, async, seed: callSeed(ctx.args.seed, i), flag: flag.buffer });
    worker.on('message', (message) => message.type === 'finding' && ctx.finding(message.finding));
    worker.on('error', (e) => ctx.finding({ kind: 'error', label, problem: `the worker failed: ${e && e.message}` }));
    ctx.stats.threads = 2;
    const started = Atomics.waitAsync(flag, 0, 0, 20000);
    if ((started.async ? await started.value : started.value) === 'timed-out') {
      ctx.finding({ kind: 'hang', label, problem: 'the worker did not start calling within 20 s' });
    }
    const delay = rng.pick([0, 0, 0.2, 1, 3, 10]);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    await worker.terminate();
    await exited;
    ctx.stats.terminated++;
    ctx.stats.calls += Atomics.load(flag, 1);
  }
}

async function bytes(ctx) {
  for await (const i of callIndices(ctx)) {
    const rng = new Rng(callSeed(ctx.args.seed, i));
    const { input, original, consumer, mutation } = mutatedBytes(rng, ctx.pkg);
    const label = `bytes seed ${ctx.args.seed} call ${i}: ${consumer} of ${mutation}`;
    ctx.label(label);
    await runCall(ctx, label, () => ({
      run: () => consume(ctx.pkg, consumer, input, rng),
      check: (result) => checkDecoded(ctx.pkg, result, original, mutation),
    }));
  }
}

async function consume(pkg, consumer, input, rng) {
  if (consumer === 'deserialize') return pkg.deserialize(input);
  if (consumer === 'maskFromSafetensors') return pkg.maskFromSafetensors(input);
  if (consumer === 'decodeSafetensors') return pkg.decodeSafetensors(input);
  if (consumer.startsWith('readRollouts')) return pkg[consumer](input).records;
  if (consumer === 'crc32c') return pkg.crc32c(input, rng.int(0, 2 ** 32 - 1));
  if (consumer === 'decodeRecords') return pkg.decodeRecords(input, rng.chance(0.5) ? { onCorrupt: 'skip' } : undefined).records;
  const cuts = Array.from({ length: rng.int(0, 4) }, () => rng.int(0, input.length)).sort((a, b) => a - b);
  const reader = new pkg.MaskRecordReader(
    (async function* chunks() {
      let at = 0;
      for (const cut of [...cuts, input.length]) {
        yield input.subarray(at, cut);
        at = cut;
      }
    })(),
    rng.chance(0.5) ? { onCorrupt: 'skip' } : undefined,
  );
  const records = [];
  for await (const record of reader) records.push(record);
  return records;
}

// Decoded masks are well formed; unmutated bytes decode to what was encoded.
function checkDecoded(pkg, result, original, mutation) {
  const masks = result instanceof pkg.SamplingMask ? [result] : Array.isArray(result) ? result.map((r) => r.mask) : [];
  for (const m of masks) {
    const problem = checkMask(m, pkg.SamplingMask);
    if (problem) return problem;
  }
  if (mutation !== 'intact' || original === undefined) return null;
  const decoded = masks.map((m) => Array.from(pkg.serialize(m)).join());
  const expected = original.map((m) => Array.from(pkg.serialize(m)).join());
  return decoded.join('|') === expected.join('|') ? null : 'intact bytes decoded to other masks';
}

/** The package under test: dist/ (the compiled facade), or SAMPLING_MASK_FUZZ_PACKAGE. */
function loadPackage() {
  return require(process.env.SAMPLING_MASK_FUZZ_PACKAGE || path.join(__dirname, '..', '..', 'dist'));
}

const classes = { values, race, terminate, bytes };
module.exports = { classes, raceCalls, callSeed, loadPackage, kControlStop, kControlPause, kSlotBase };
