// The fuzzer's worker threads (classes.js starts them):
//   writer  overwrites the live inputs of the calling threads in the shared region, in bursts, until told to stop
//   caller  makes race calls of its own, concurrently with the main thread's, in its slot of the region
//   victim  calls one operation in a loop (sync, or several async calls in flight) until it is terminated
'use strict';
const { workerData, parentPort } = require('worker_threads');
const { Rng } = require('./hostile');
const { Arena } = require('./inputs');
const { ops } = require('./ops');
const { raceCalls, loadPackage, kControlStop, kControlPause, kSlotBase } = require('./classes');

// Words a writer puts into live inputs: logits bits (NaN, infinities, large
// and ordinary values), ids and offsets around the valid range, garbage.
function writerWord(rng) {
  switch (rng.int(0, 7)) {
    case 0:
      return 0x7fc00000; // NaN
    case 1:
      return rng.chance(0.5) ? 0x7f800000 : 0xff800000; // +inf, -inf
    case 2:
      return rng.int(-2, 5000); // an id or an offset
    case 3:
      return rng.pick([-1, 0x7fffffff, 0x80000000 | 0, 1 << 23]);
    case 4:
      return 0x7f7fffff; // the largest f32
    case 5:
      return (rng.int(0, 0xffff) << 16) | rng.int(0, 0xffff); // two random 16-bit logits
    default: {
      const f = new Float32Array([(rng.next() - 0.5) * 40]);
      return new Int32Array(f.buffer)[0];
    }
  }
}

function writer() {
  const rng = new Rng(workerData.seed);
  const words = new Int32Array(workerData.shared);
  const control = new Int32Array(workerData.control);
  const slots = (control.length - kSlotBase) / 2;
  while (Atomics.load(control, kControlStop) === 0) {
    if (Atomics.load(control, kControlPause) === 1) {
      Atomics.wait(control, kControlPause, 1, 2);
      continue;
    }
    const slot = rng.int(0, slots - 1);
    const start = Atomics.load(control, kSlotBase + 2 * slot);
    const count = Atomics.load(control, kSlotBase + 2 * slot + 1);
    if (count === 0) continue;
    if (rng.chance(0.5)) {
      // A flicker: a bad value that is gone again a moment later (a check that looks twice sees two stories).
      const at = start + rng.int(0, count - 1);
      const before = words[at];
      words[at] = writerWord(rng);
      for (let spin = rng.pick([0, 50, 500, 5000]); spin > 0; spin--);
      words[at] = before;
    } else {
      for (let k = rng.int(1, 16); k > 0; k--) words[start + rng.int(0, count - 1)] = writerWord(rng);
    }
    // Bursts apart: most calls see a few writes, some none, some many.
    for (let spin = rng.pick([0, 100, 2000, 20000]); spin > 0; spin--);
  }
}

async function caller() {
  const pkg = loadPackage();
  const control = new Int32Array(workerData.control);
  const stats = { calls: 0 };
  const ctx = {
    pkg,
    stats,
    label() {},
    finding(finding) {
      parentPort.postMessage({ type: 'finding', finding });
    },
  };
  function* forever() {
    for (let i = 0; ; i++) yield i;
  }
  await raceCalls(
    ctx,
    workerData.slot,
    workerData.shared,
    control,
    () => Atomics.load(control, kControlStop) === 1,
    workerData.seed,
    forever(),
  );
  parentPort.postMessage({ type: 'calls', calls: stats.calls });
}

// Large enough inputs that a call takes milliseconds: terminate() then lands inside one.
async function victim() {
  const pkg = loadPackage();
  const flag = new Int32Array(workerData.flag);
  const rng = new Rng(workerData.seed);
  const ctx = { rng, pkg, arena: new Arena(null), rows: rng.pick([16, 64]), vocab: rng.pick([4096, 32000]), bend: (v) => v };
  const call = ops[workerData.op](ctx, workerData.async);
  const once = async () => {
    Atomics.add(flag, 1, 1);
    try {
      await call.run();
    } catch (e) {
      // Errors are checked by the other classes; here only the process must survive.
      if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
    }
  };
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  for (;;) {
    if (workerData.async) await Promise.all([once(), once(), once()]);
    else await once();
  }
}

const modes = { writer, caller, victim };
Promise.resolve(modes[workerData.mode]()).catch((e) => {
  parentPort.postMessage({
    type: 'finding',
    finding: { kind: 'error', label: `${workerData.mode} worker`, problem: String(e && e.stack) },
  });
});
