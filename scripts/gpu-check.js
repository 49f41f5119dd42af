#!/usr/bin/env node
'use strict';
// The GPU check: CUDA against the CPU backend on random and adversarial
// inputs (parity of kept sets, of filled logits and of errors), device
// tensors, and a benchmark table, written as JSON and markdown into --out
// as it goes. Needs only node, dist/ and the addon (SAMPLING_MASK_ADDON to
// name a carried one): no jest, no node_modules.
//
//   node scripts/gpu-check.js --out DIR [--quick] [--dry] [--budget SECONDS]
//
// --quick  small shapes covering every path (for compute-sanitizer)
// --dry    no GPU: the 'cuda' side runs on the CPU backend, to check the script
// --budget stop starting new work after this many seconds (default 200)
const fs = require('fs');
const path = require('path');

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const outDir = path.resolve(option('--out', 'gpu-check-out'));
const quick = flag('--quick');
const dry = flag('--dry');
const budgetS = Number(option('--budget', '200'));

const sm = require(path.join(__dirname, '..', 'dist'));
const { addon } = require(path.join(__dirname, '..', 'dist', 'native'));
const cases = require('./parity-cases');
const trainer = require('./gpu-check-trainer');
const { kernelTarget, median, table } = require('./bench/util');
const { errorFields } = require('./shared');

const started = Date.now();
const elapsedS = () => (Date.now() - started) / 1000;
const overBudget = () => elapsedS() > budgetS;
const GPU = dry ? 'cpu' : 'cuda';

const report = {
  mode: quick ? 'quick' : 'full',
  dry,
  started: new Date(started).toISOString(),
  backendInfo: sm.backendInfo(),
  copyBandwidthGBs: null,
  parity: [],
  deviceTensors: [],
  trainerParity: [],
  bench: [],
  trainerBench: [],
  problems: [],
  skipped: [],
  done: false,
};

function save() {
  report.elapsedS = elapsedS();
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'gpu-check.json'), JSON.stringify(report, null, 1));
  fs.writeFileSync(path.join(outDir, 'gpu-check.md'), markdown());
}

function markdown() {
  const info = report.backendInfo;
  const device = (info.cuda.devices || [])[0];
  const lines = [
    `# GPU check (${report.mode}${dry ? ', dry run on the CPU' : ''})`,
    '',
    `Device: ${device ? `${device.name} (cc ${device.computeCapability}, ${device.multiprocessors} SMs)` : 'none'}; ` +
      `driver ${info.cuda.driverVersion}, runtime ${info.cuda.runtimeVersion}; ` +
      `device-to-device copy ${report.copyBandwidthGBs ? report.copyBandwidthGBs.toFixed(0) + ' GB/s (read + write)' : 'not measured'}; ` +
      `${report.elapsedS.toFixed(1)} s${report.done ? '' : ' (incomplete)'}.`,
    '',
    `Problems: ${report.problems.length === 0 ? 'none' : ''}`,
    ...report.problems.map((p) => `- ${p}`),
    '',
    '## Parity (CUDA vs CPU)',
    '',
    table(
      report.parity.map((p) => ({
        case: p.name,
        rows: p.rows,
        V: p.V,
        dtype: p.dtype,
        'mismatched rows': p.mismatched,
        fill: p.fill,
        errors: p.errors,
        ms: p.ms,
      })),
    ),
    '',
    '## Device tensors',
    '',
    table(report.deviceTensors),
    '',
    '## Trainer parity (CUDA vs CPU, bit for bit)',
    '',
    table(report.trainerParity),
    '',
    '## Benchmark',
    '',
    'kernel: CUDA events around the kernels of one mask() on a DeviceTensor (median); device call: wall time of that mask() ' +
      'including the CSR copy back; end to end: mask() on host logits (upload, kernels, CSR back, JS result); ' +
      'one read: the logits bytes at the measured copy bandwidth.',
    '',
    table(report.bench.map(benchRow)),
    '',
    '## Trainer benchmark',
    '',
    'kernel: CUDA events around the kernels of one call on a DeviceTensor (median); device call: its wall time, ' +
      'including the mask CSR upload and the result copy back; read+write: the logits bytes read and written once at the ' +
      'measured copy bandwidth; CPU: one call on the CPU backend.',
    '',
    table(report.trainerBench.map(trainer.benchRow)),
    '',
  ];
  if (report.skipped.length) lines.push(`Skipped (time budget): ${report.skipped.join('; ')}`, '');
  return lines.join('\n');
}

function benchRow(b) {
  return {
    B: b.B,
    V: b.V,
    dtype: b.dtype,
    params: b.params,
    'kernel µs': b.kernelUs,
    'device call µs': b.deviceCallUs,
    'end to end ms': b.endToEndMs,
    'upload ms': b.uploadMs,
    'one read µs': b.oneReadUs,
    'kernel / read': b.ratio,
    target: kernelTarget(b),
    'CPU ms': b.cpuMs,
  };
}

function problem(text) {
  report.problems.push(text);
  console.log(`PROBLEM: ${text}`);
}

function run(fn) {
  try {
    return { value: fn(), error: null };
  } catch (error) {
    return { value: null, error };
  }
}

// ---- parity -------------------------------------------------------------------

function parityCase(c, seed) {
  const t0 = Date.now();
  const { logits, params } = cases.materialize(c, seed);
  const cpuLogits = cases.copyTensor(logits);
  const gpuLogits = cases.copyTensor(logits);
  const options = { ...params, fillLogits: c.fill === true };
  const cpu = run(() => sm.mask(cpuLogits, { ...options, backend: 'cpu' }));
  const gpu = run(() => sm.mask(gpuLogits, { ...options, backend: GPU }));
  const entry = { name: c.name, rows: c.B, V: c.V, dtype: c.dtype, mismatched: 0, fill: '', errors: '', ms: 0 };
  const cpuError = errorFields(cpu.error);
  const gpuError = errorFields(gpu.error);
  if (cpu.error || gpu.error) {
    const same = JSON.stringify(cpuError) === JSON.stringify(gpuError);
    entry.errors = same ? `same (${cpuError.code} row ${cpuError.row} col ${cpuError.column ?? '-'})` : 'DIFFER';
    if (!same)
      problem(
        `${c.name}: errors differ: cpu ${JSON.stringify(cpuError)} ${cpu.error && cpu.error.message} / cuda ${JSON.stringify(gpuError)} ${gpu.error && gpu.error.message}`,
      );
    if (!c.error) problem(`${c.name}: unexpected error ${cpu.error ? cpu.error.message : gpu.error.message}`);
    if (firstDiff(cpuLogits.data, logits.data) >= 0 || firstDiff(gpuLogits.data, logits.data) >= 0)
      problem(`${c.name}: a failed call changed the logits`);
  } else {
    if (c.error) problem(`${c.name}: expected an error, both backends returned a mask`);
    const cmp = cases.compareMasks(cpu.value, gpu.value);
    entry.mismatched = cmp.mismatched;
    if (cmp.mismatched) {
      entry.firstMismatches = cmp.first.map((m) => ({ ...m, params: rowParams(params, m.row) }));
      problem(`${c.name}: ${cmp.mismatched} of ${cmp.rows} rows differ, first: ${JSON.stringify(entry.firstMismatches.slice(0, 3))}`);
    }
    if (c.fill) {
      const d = firstDiff(cpuLogits.data, gpuLogits.data);
      entry.fill = d < 0 ? 'same' : `DIFFER at ${d}`;
      if (d >= 0) problem(`${c.name}: filled logits differ at element ${d}: cpu ${cpuLogits.data[d]} cuda ${gpuLogits.data[d]}`);
    }
  }
  entry.ms = Date.now() - t0;
  return entry;
}

function firstDiff(x, y) {
  return cases.firstDifference(x, y);
}

function rowParams(params, row) {
  const out = {};
  for (const [k, v] of Object.entries(params)) out[k] = typeof v === 'number' ? v : v && row >= 0 ? v[row] : undefined;
  return out;
}

// ---- device tensors --------------------------------------------------------------

function deviceTensorChecks() {
  const c = { name: 'device tensor', B: quick ? 4 : 64, V: quick ? 5000 : 65536, dtype: 'bfloat16', gen: cases.rows.peaked };
  const { logits } = cases.materialize(c, 5);
  const checks = [];
  const check = (name, ok, detail = '') => {
    checks.push({ check: name, result: ok ? 'ok' : `FAILED ${detail}` });
    if (!ok) problem(`device tensor: ${name} ${detail}`);
  };
  const params = { topK: 40, topP: 0.8, temperature: 0.9 };
  const reference = sm.mask(cases.copyTensor(logits), { ...params, backend: 'cpu' });
  const filled = cases.copyTensor(logits);
  sm.mask(filled, { ...params, backend: 'cpu', fillLogits: true });
  if (dry) {
    check('skipped in a dry run', true);
    return checks;
  }
  const dt = sm.toDevice(logits);
  const first = sm.mask(dt, params);
  check('mask on a DeviceTensor = CPU', cases.compareMasks(reference, first).mismatched === 0);
  const second = sm.mask(dt, { ...params, profile: true });
  check('a second mask without re-upload', cases.compareMasks(reference, second).mismatched === 0 && second.profile.uploadMs === 0);
  check('download() returns the logits', firstDiff(dt.download().data, logits.data) < 0);
  sm.mask(dt, { ...params, fillLogits: true });
  check('fillLogits writes into the device copy = CPU fill', firstDiff(dt.download().data, filled.data) < 0);
  // Top-p over a filled (truncated) row is legitimately stricter than over
  // the original, so the reference is the CPU's mask of the CPU-filled copy.
  const refilled = sm.mask(cases.copyTensor(filled), { ...params, backend: 'cpu' });
  check(
    'a mask of the filled copy = the CPU mask of the CPU-filled copy',
    cases.compareMasks(refilled, sm.mask(dt, params)).mismatched === 0,
  );
  const cpuOnDevice = run(() => sm.mask(dt, { backend: 'cpu' }));
  check("backend 'cpu' on a DeviceTensor is refused", cpuOnDevice.error && cpuOnDevice.error.argument === 'backend');
  dt.free();
  const afterFree = run(() => sm.mask(dt, params));
  check('use after free() is a TypeError', afterFree.error instanceof TypeError, afterFree.error && afterFree.error.message);
  const huge = run(() => sm.toDevice({ data: new Float32Array(16), shape: [1, 16], dtype: 'float32' }, { device: 999 }));
  check('a missing device ordinal is a clear error', huge.error && /device/.test(huge.error.message), huge.error && huge.error.message);
  // Out of memory: the call fails with the CUDA text, the next call works.
  const tooBig = run(() => addon.cudaCopyBandwidth({ bytes: 2 ** 38, options: { device: 0 } }));
  check(
    'out of device memory is a JS error',
    tooBig.error && tooBig.error.code === 'ERR_SM_CUDA_OUT_OF_MEMORY',
    tooBig.error && `${tooBig.error.code} ${tooBig.error.message}`,
  );
  check(
    'the next call works',
    cases.compareMasks(reference, sm.mask(cases.copyTensor(logits), { ...params, backend: 'cuda' })).mismatched === 0,
  );
  // onInvalidRow: 'skip' (CUDA runs sub-batches around each bad row) = the CPU's native skip.
  const poisoned = cases.copyTensor(logits);
  poisoned.data[c.V + 3] = 0x7fc0; // row 1: a bf16 NaN
  poisoned.data.fill(0xff80, 2 * c.V, 3 * c.V); // row 2: all bf16 -inf
  const skipping = { ...params, onInvalidRow: 'skip' };
  const cpuSkip = sm.mask(cases.copyTensor(poisoned), { ...skipping, backend: 'cpu' });
  const sameSkip = (m) => cases.compareMasks(cpuSkip, m).mismatched === 0 && String(m.valid) === String(cpuSkip.valid);
  check("onInvalidRow 'skip' on host logits = CPU", sameSkip(sm.mask(cases.copyTensor(poisoned), { ...skipping, backend: 'cuda' })));
  const poisonedOnDevice = sm.toDevice(poisoned);
  check("onInvalidRow 'skip' on a DeviceTensor = CPU", sameSkip(sm.mask(poisonedOnDevice, skipping)));
  poisonedOnDevice.free();
  return checks;
}

async function asyncChecks() {
  const c = { B: quick ? 4 : 32, V: quick ? 4096 : 32000, dtype: 'float32', gen: cases.rows.normal(3) };
  const { logits } = cases.materialize(c, 9);
  const shared = new Float32Array(new SharedArrayBuffer(logits.data.byteLength));
  shared.set(logits.data);
  const params = { topK: 20, topP: 0.9 };
  const reference = sm.mask(logits, { ...params, backend: 'cpu' });
  const results = await Promise.all([
    sm.maskAsync({ data: shared, shape: logits.shape, dtype: 'float32' }, { ...params, backend: GPU }),
    sm.maskAsync(cases.copyTensor(logits), { ...params, backend: GPU }),
    sm.maskAsync(cases.copyTensor(logits), { ...params, backend: GPU }),
  ]);
  const ok = results.every((m) => cases.compareMasks(reference, m).mismatched === 0);
  if (!ok) problem('maskAsync on CUDA differs from the CPU');
  return [{ check: 'three concurrent maskAsync calls (one on a SharedArrayBuffer) = CPU', result: ok ? 'ok' : 'FAILED' }];
}

// ---- benchmark ---------------------------------------------------------------

const BENCH = [
  { B: 128, V: 131072, dtype: 'float32', params: { topK: 50, topP: 0.9 }, target: 60 },
  { B: 128, V: 131072, dtype: 'float32', params: { topP: 0.9 }, target: 100 },
  { B: 1, V: 151936, dtype: 'float32', params: { topK: 50, topP: 0.9 }, target: 25 },
  { B: 128, V: 131072, dtype: 'float32', params: { topK: 50 } },
  { B: 128, V: 131072, dtype: 'float32', params: {} },
  { B: 128, V: 131072, dtype: 'float32', params: { temperature: 0 } },
  { B: 128, V: 131072, dtype: 'float32', params: { minP: 0.05, topP: 0.9 } },
  { B: 128, V: 131072, dtype: 'bfloat16', params: { topK: 50, topP: 0.9 } },
  { B: 128, V: 131072, dtype: 'bfloat16', params: { topP: 0.9 } },
  { B: 1, V: 151936, dtype: 'float32', params: { topP: 0.9 } },
  { B: 64, V: 128256, dtype: 'float32', params: { topK: 50, topP: 0.9, temperature: 0.7 } },
  { B: 1024, V: 32000, dtype: 'float32', params: { topK: 50, topP: 0.9 } },
  { B: 32, V: 262144, dtype: 'bfloat16', params: { topK: 50, topP: 0.9 } },
  { B: 128, V: 131072, dtype: 'float32', params: { topK: 50, topP: 0.9 }, gen: 'ties', note: 'integer ties' },
];

function paramsLabel(p) {
  const parts = Object.entries(p).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(' ') : 'all off';
}

function benchCase(b) {
  const gen = b.gen === 'ties' ? cases.rows.ties(1) : cases.rows.normal(3);
  // Dry and quick runs only exercise the code (quick runs under compute-sanitizer).
  const shape = dry || quick ? { B: Math.min(b.B, 8), V: Math.min(b.V, 8192) } : { B: b.B, V: b.V };
  const logits = [1, 2].map((seed) => cases.makeLogits(gen, shape.B, shape.V, b.dtype, seed));
  const bytes = logits[0].data.byteLength;
  const row = { B: shape.B, V: shape.V, dtype: b.dtype, params: paramsLabel(b.params) + (b.note ? ` (${b.note})` : ''), target: b.target };
  const kernel = [];
  const call = [];
  if (!dry) {
    const tensors = logits.map((t) => sm.toDevice(t));
    for (let i = 0; i < 3; i++) sm.mask(tensors[i % 2], b.params);
    for (let i = 0; i < (quick ? 5 : 30); i++) {
      const t0 = process.hrtime.bigint();
      const m = sm.mask(tensors[i % 2], { ...b.params, profile: true });
      call.push(Number(process.hrtime.bigint() - t0) / 1e3);
      kernel.push(m.profile.kernelMs * 1e3);
    }
    tensors.forEach((t) => t.free());
    row.kernelUs = median(kernel);
    row.deviceCallUs = median(call);
  }
  const e2e = [];
  const upload = [];
  for (let i = 0; i < (quick ? 2 : 6); i++) {
    const t0 = process.hrtime.bigint();
    const m = sm.mask(logits[i % 2], { ...b.params, backend: GPU, profile: true });
    if (i > 0) {
      e2e.push(Number(process.hrtime.bigint() - t0) / 1e6);
      upload.push(m.profile.uploadMs);
    }
  }
  row.endToEndMs = median(e2e);
  row.uploadMs = median(upload);
  if (report.copyBandwidthGBs) {
    row.oneReadUs = (bytes / (report.copyBandwidthGBs * 1e9)) * 1e6;
    if (row.kernelUs !== undefined) row.ratio = row.kernelUs / row.oneReadUs;
  }
  if (!quick) {
    const t0 = process.hrtime.bigint();
    sm.mask(logits[0], { ...b.params, backend: 'cpu' });
    row.cpuMs = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  return row;
}

// ---- main ----------------------------------------------------------------------

async function main() {
  const info = report.backendInfo;
  console.log(`gpu-check: ${report.mode}${dry ? ' (dry)' : ''}, backend info: ${JSON.stringify(info)}`);
  if (!dry && !info.cuda.available) {
    problem(`CUDA is not available: ${info.cuda.reason}`);
    save();
    process.exitCode = 2;
    return;
  }
  if (!dry) report.copyBandwidthGBs = addon.cudaCopyBandwidth({ bytes: quick ? 64 << 20 : 1 << 30, options: { device: 0 } });
  save();

  for (const c of cases.parityCases(quick ? 'quick' : 'full')) {
    if (overBudget()) {
      report.skipped.push(`parity ${c.name}`);
      continue;
    }
    for (const seed of quick ? [1] : [1, 2]) {
      const entry = parityCase(c, seed);
      entry.name = `${c.name} #${seed}`;
      report.parity.push(entry);
      console.log(
        `parity ${entry.name}: ${entry.mismatched} mismatched of ${entry.rows}${entry.fill ? `, fill ${entry.fill}` : ''}${entry.errors ? `, errors ${entry.errors}` : ''} (${entry.ms} ms)`,
      );
    }
    save();
  }

  report.deviceTensors.push(...deviceTensorChecks(), ...(await asyncChecks()));
  save();

  const small = dry || quick;
  for (const c of trainer.PARITY) {
    if (overBudget()) {
      report.skipped.push(`trainer parity ${c.name}`);
      continue;
    }
    for (const seed of quick ? [1] : [1, 2]) {
      const entry = trainer.parityCase(c, { gpu: GPU, small, seed, problem });
      report.trainerParity.push(entry);
      console.log(`trainer parity ${JSON.stringify(entry)}`);
    }
    save();
  }
  report.trainerParity.push(trainer.errorParity({ gpu: GPU, problem }));
  save();

  for (const b of quick ? BENCH.slice(0, 3) : BENCH) {
    if (overBudget()) {
      report.skipped.push(`bench ${b.B}x${b.V} ${b.dtype} ${paramsLabel(b.params)}`);
      continue;
    }
    const row = benchCase(b);
    report.bench.push(row);
    console.log(`bench ${JSON.stringify(benchRow(row))}`);
    save();
  }
  if (overBudget()) {
    report.skipped.push('trainer bench');
  } else {
    report.trainerBench.push(...trainer.bench({ small, dry, quick, bandwidthGBs: report.copyBandwidthGBs }));
    report.trainerBench.forEach((row) => console.log(`trainer bench ${JSON.stringify(trainer.benchRow(row))}`));
  }
  report.done = true;
  save();
  console.log(`\n${table(report.bench.map(benchRow))}`);
  console.log(`\n${table(report.trainerBench.map(trainer.benchRow))}`);
  console.log(`\ngpu-check: ${report.problems.length} problem(s), ${elapsedS().toFixed(1)} s; results in ${outDir}`);
  if (report.problems.length) process.exitCode = 1;
}

main().catch((error) => {
  problem(`crashed: ${error && error.stack}`);
  save();
  process.exitCode = 3;
});
