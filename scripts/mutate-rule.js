#!/usr/bin/env node
// Mutation check of the rule's boundary tests (README "How the rule is
// pinned"): each mutation below changes one comparison or constant of the
// native rule; the CPU-only addon is rebuilt with it, in a scratch copy of
// native/ (build-mutate/, the working tree is never touched), and
// test/rule-boundaries.test.ts must then fail. A mutation whose tests still
// pass "survived": a comparison or constant that no test pins.
//
//   npm run mutate                    every mutation (about a minute each: headers rebuild most of the addon)
//   npm run mutate -- --only FLOOR    those whose name contains FLOOR (--only may be repeated)
//   npm run mutate -- --list          the mutations and the documented equivalent ones
//
// Exits non-zero if a mutation survives, does not apply or does not compile,
// or if the tests fail without any mutation.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const work = path.join(root, 'build-mutate');
const source = path.join(work, 'src'); // the scratch copy that gets mutated
const build = path.join(work, 'build');
const addonFile = path.join(build, 'Release', 'sampling_mask.node');
const testFile = 'test/rule-boundaries.test.ts';

const RULE = 'native/core/rule.h';
const PORTABLE = 'native/core/portable.h';
const TRAINER = 'native/core/trainer.h';
const MASK_CPU = 'native/cpu/mask_cpu.cpp';
const ROW_KERNELS = 'native/cpu/row_kernels_impl.inc';
const SIMD = 'native/cpu/simd.h';

// name: what changes; from: the exact original text (once in file); to: its replacement.
const mutations = [
  // Constants of rule.h.
  { name: 'kMaxFinite one f32 lower', file: RULE, from: 'kMaxFinite = 3.40282347e38f', to: 'kMaxFinite = 3.40282326e38f' },
  { name: 'kWeightFractionBits 40 -> 39', file: RULE, from: 'kWeightFractionBits = 40', to: 'kWeightFractionBits = 39' },
  { name: 'kWeightFractionBits 40 -> 41', file: RULE, from: 'kWeightFractionBits = 40', to: 'kWeightFractionBits = 41' },
  { name: 'kWeightFloor -28 -> -27', file: RULE, from: 'kWeightFloor = -28.0f', to: 'kWeightFloor = -27.0f' },
  { name: 'kWeightFloor -28 -> -27.7 (just above ln 2^-40)', file: RULE, from: 'kWeightFloor = -28.0f', to: 'kWeightFloor = -27.7f' },
  { name: 'kMaxVocab 2^23 -> 2^23 - 1', file: RULE, from: 'kMaxVocab = int64_t{1} << 23', to: 'kMaxVocab = (int64_t{1} << 23) - 1' },
  // Parameter ranges (invalid_param).
  { name: 'temperature >= 0 -> > 0', file: RULE, from: 'p.temperature >= 0.0f', to: 'p.temperature > 0.0f' },
  { name: 'temperature <= kMaxFinite -> <', file: RULE, from: 'p.temperature <= kMaxFinite', to: 'p.temperature < kMaxFinite' },
  { name: 'min_p >= 0 -> > 0', file: RULE, from: 'p.min_p >= 0.0f', to: 'p.min_p > 0.0f' },
  { name: 'min_p <= 1 -> < 1', file: RULE, from: 'p.min_p <= 1.0f', to: 'p.min_p < 1.0f' },
  { name: 'top_k < -1 -> <= -1', file: RULE, from: 'p.top_k < -1', to: 'p.top_k <= -1' },
  { name: 'top_p > 0 -> >= 0', file: RULE, from: 'p.top_p > 0.0f', to: 'p.top_p >= 0.0f' },
  { name: 'top_p <= 1 -> < 1', file: RULE, from: 'p.top_p <= 1.0f', to: 'p.top_p < 1.0f' },
  // The row maximum / T must be finite.
  { name: 'scaled max >= -kMaxFinite -> >', file: RULE, from: 'z_max >= -kMaxFinite', to: 'z_max > -kMaxFinite' },
  { name: 'scaled max <= kMaxFinite -> <', file: RULE, from: 'z_max <= kMaxFinite', to: 'z_max < kMaxFinite' },
  // Which filters are on.
  { name: 'min-p on at min_p > 0 -> >= 0', file: RULE, from: 'return p.min_p > 0.0f;', to: 'return p.min_p >= 0.0f;' },
  { name: 'top-p on at top_p < 1 -> <= 1', file: RULE, from: 'return p.top_p < 1.0f;', to: 'return p.top_p <= 1.0f;' },
  {
    name: 'top-k on at top_k > 0 -> >= 0 (CPU)',
    file: MASK_CPU,
    from: 'p.top_k > 0 && p.top_k < vocab_',
    to: 'p.top_k >= 0 && p.top_k < vocab_',
  },
  // Cuts.
  {
    name: 'x / T >= z_min -> > (threshold to cut)',
    file: RULE,
    from: 'scaled_logit(x, temperature) >= z_min',
    to: 'scaled_logit(x, temperature) > z_min',
  },
  // Min-p and the package's log.
  {
    name: 'min-p z - z_max >= ln(minP) -> >',
    file: RULE,
    from: 'static_cast<double>(z_max)) >= log_min_p',
    to: 'static_cast<double>(z_max)) > log_min_p',
  },
  {
    name: 'min-p difference in f32, not double',
    file: RULE,
    from: 'dsub_rn(static_cast<double>(z), static_cast<double>(z_max))',
    to: 'static_cast<double>(sub_rn(z, z_max))',
  },
  { name: 'log: exponent bias 1023 -> 1022', file: RULE, from: '& 0x7ff) - 1023', to: '& 0x7ff) - 1022' },
  { name: 'log: mantissa halved above 1.5, not sqrt(2)', file: RULE, from: 'if (m > 1.4142135623730951)', to: 'if (m > 1.5)' },
  {
    name: 'log: series one term short',
    file: RULE,
    from: 'double series = 1.0 / 25.0;\n  for (int odd = 23;',
    to: 'double series = 1.0 / 23.0;\n  for (int odd = 21;',
  },
  {
    name: 'log: ln 2 high part = all of ln 2',
    file: RULE,
    from: 'kLn2Hi = 6.93147180369123816490e-01',
    to: 'kLn2Hi = 6.93147180559945309417e-01',
  },
  { name: 'log: ln 2 low part to 6 digits', file: RULE, from: 'kLn2Lo = 1.90821492927058770002e-10', to: 'kLn2Lo = 1.90821e-10' },
  // Top-k.
  {
    name: 'top-k candidates x >= threshold -> > (CPU)',
    file: ROW_KERNELS,
    from: 'const Mask taken = v >= Lanes(threshold);',
    to: 'const Mask taken = v > Lanes(threshold);',
  },
  {
    name: 'keep x >= cut -> > (CPU compaction, vector)',
    file: ROW_KERNELS,
    from: '(v >= Lanes(lo)) & (v < Lanes(hi))',
    to: '(v > Lanes(lo)) & (v < Lanes(hi))',
  },
  {
    name: 'keep x < hi -> <= (CPU compaction, vector)',
    file: ROW_KERNELS,
    from: '(v >= Lanes(lo)) & (v < Lanes(hi))',
    to: '(v >= Lanes(lo)) & ~(v > Lanes(hi))',
  },
  { name: 'keep x >= cut -> > (CPU compaction, tail)', file: ROW_KERNELS, from: '(v >= lo && v < hi)', to: '(v > lo && v < hi)' },
  { name: 'keep x < hi -> <= (CPU compaction, tail)', file: ROW_KERNELS, from: '(v >= lo && v < hi)', to: '(v >= lo && v <= hi)' },
  {
    name: 'emit x >= cut -> > (CPU)',
    file: ROW_KERNELS,
    from: 'const Mask kept = v >= Lanes(cut);',
    to: 'const Mask kept = v > Lanes(cut);',
  },
  { name: 'fillLogits keeps x >= cut -> > (CPU)', file: MASK_CPU, from: 'S::load(x[i]) >= cut ?', to: 'S::load(x[i]) > cut ?' },
  // Top-p.
  {
    name: 'top-p budget floor(p total), not ceil',
    file: RULE,
    from: 'static_cast<uint64_t>(product >> shift) + ((product & low_mask) != 0 ? 1 : 0)',
    to: 'static_cast<uint64_t>(product >> shift)',
  },
  { name: 'top-p budget floor(p total) + 1', file: RULE, from: '((product & low_mask) != 0 ? 1 : 0)', to: '1' },
  {
    name: 'top-p budget: exponent bias 150 -> 151',
    file: RULE,
    from: '? 150 - static_cast<int>(biased)',
    to: '? 151 - static_cast<int>(biased)',
  },
  { name: 'top-p budget: shift >= 128 -> > 128', file: RULE, from: 'if (shift >= 128)', to: 'if (shift > 128)' },
  {
    name: 'top-p keeps weight above < budget -> <=',
    file: RULE,
    from: 'return weight_above < budget;',
    to: 'return weight_above <= budget;',
  },
  {
    name: 'top-p boundary bucket: above + bucket < budget -> <= (CPU)',
    file: MASK_CPU,
    from: 'above + buckets[boundary] < budget',
    to: 'above + buckets[boundary] <= budget',
  },
  {
    name: 'top-p weighs survivors x >= cut -> > (CPU)',
    file: ROW_KERNELS,
    from: 'const Mask survives = (v >= Lanes(floor)) & (d >= Lanes(kWeightFloor));\n    lane_sums.add',
    to: 'const Mask survives = (v > Lanes(floor)) & (d >= Lanes(kWeightFloor));\n    lane_sums.add',
  },
  // The package's exp (portable.h) and 2^n.
  { name: 'exp: log2(e) to 5 digits', file: PORTABLE, from: 'F(1.44269504088896341f)', to: 'F(1.4427f)' },
  {
    name: 'exp: round-to-integer constant 1.5 * 2^23 -> 2^23',
    file: PORTABLE,
    from: 'F(12582912.0f)), F(12582912.0f))',
    to: 'F(8388608.0f)), F(8388608.0f))',
  },
  { name: 'exp: ln 2 high part = ln 2 in f32', file: PORTABLE, from: 'F(0.693359375f)', to: 'F(0.693147182f)' },
  { name: 'exp: ln 2 low part to 3 digits', file: PORTABLE, from: 'F(-2.12194440e-4f)', to: 'F(-2.12e-4f)' },
  { name: 'exp: r^6 coefficient to 3 digits', file: PORTABLE, from: 'F(1.9875691500e-4f)', to: 'F(1.98e-4f)' },
  { name: 'exp: r^5 coefficient to 3 digits', file: PORTABLE, from: 'F(1.3981999507e-3f)', to: 'F(1.39e-3f)' },
  { name: 'exp: r^4 coefficient to 3 digits', file: PORTABLE, from: 'F(8.3334519073e-3f)', to: 'F(8.33e-3f)' },
  { name: 'exp: r^3 coefficient to 3 digits', file: PORTABLE, from: 'F(4.1665795894e-2f)', to: 'F(4.16e-2f)' },
  { name: 'exp: r^2 coefficient to 3 digits', file: PORTABLE, from: 'F(1.6666665459e-1f)', to: 'F(1.66e-1f)' },
  {
    name: 'exp: 2^n exponent bias 127 -> 126 (scalar)',
    file: PORTABLE,
    from: 'static_cast<int>(e) + 127',
    to: 'static_cast<int>(e) + 126',
  },
  { name: 'exp: 2^n exponent bias 127 -> 126 (vector lanes)', file: SIMD, from: 'IntVec) + 127) << 23', to: 'IntVec) + 126) << 23' },
  // Logits widening and validation.
  { name: 'f16: exponent 31 at magnitude >= 65536 -> >', file: PORTABLE, from: 'magnitude >= 65536.0f', to: 'magnitude > 65536.0f' },
  { name: 'f16: exponent 31 at magnitude >= 65504', file: PORTABLE, from: 'magnitude >= 65536.0f', to: 'magnitude >= 65504.0f' },
  { name: 'f16: scale 2^112 -> 2^111', file: PORTABLE, from: '5.192296858534828e33f', to: '2.596148429267414e33f' },
  {
    name: 'invalid logit !(x < +inf) -> !(x <= +inf) (first bad column)',
    file: PORTABLE,
    from: 'return !(f < kPosInf);',
    to: 'return !(f <= kPosInf);',
  },
  {
    name: 'invalid logit !(x < +inf) -> !(x <= +inf) (CPU scan)',
    file: ROW_KERNELS,
    from: '~(v < Lanes(kPosInf))',
    to: '~((v < Lanes(kPosInf)) | (v >= Lanes(kPosInf)))',
  },
  // Trainer (trainer.h).
  { name: 'trainer: T > 0 -> >= 0', file: TRAINER, from: 'return t > 0.0f &&', to: 'return t >= 0.0f &&' },
  { name: 'trainer: T <= kMaxFinite -> <', file: TRAINER, from: 't <= kMaxFinite;', to: 't < kMaxFinite;' },
  { name: 'trainer: kept id > previous -> >=', file: TRAINER, from: 'return id > previous &&', to: 'return id >= previous &&' },
  { name: 'trainer: kept id < vocab -> <=', file: TRAINER, from: 'id < vocab; }', to: 'id <= vocab; }' },
  { name: 'trainer: exp kept at d >= -87 -> >', file: TRAINER, from: 'd >= -87.0f;', to: 'd > -87.0f;' },
  { name: 'trainer: exp cut -87 -> -86', file: TRAINER, from: 'd >= -87.0f;', to: 'd >= -86.0f;' },
  { name: 'trainer: exp cut -87 -> -88', file: TRAINER, from: 'd >= -87.0f;', to: 'd >= -88.0f;' },
  { name: 'trainer: entropy term where e > 0 -> >= 0', file: TRAINER, from: 'select(e > 0.0f,', to: 'select(e >= 0.0f,' },
  {
    name: 'trainer: compensation taken from the wrong operand',
    file: TRAINER,
    from: 'abs_exact(sum) >= abs_exact(v), lost_from_v, lost_from_sum)',
    to: 'abs_exact(sum) >= abs_exact(v), lost_from_sum, lost_from_v)',
  },
  {
    name: 'trainer: lanes merged without their compensation',
    file: TRAINER,
    from: 'return add_rn(sums[0], compensations[0]);',
    to: 'return sums[0];',
  },
];

// Changes that cannot change any result, so no test can pin them (run none).
const equivalent = [
  {
    change:
      'rule.h kWeightFloor -28 -> -29 (or any floor below ln 2^-40 = -27.7259), and `d >= kWeightFloor` -> `>` ' +
      '(rule.h fixed_weight_before_truncation, row_kernels_impl.inc, weight_buckets.h weighs)',
    reason:
      'every d below -27.7259 weighs trunc(2^40 exp(d)) = 0 (2^40 e^-28 = 0.76), so where the floor sits below ' +
      'that, and whether d = -28 itself passes it, changes no weight, no total and no bucket that could be kept',
  },
  {
    change: 'rule.h x_cut_for_z: the clamp of the cut to -kMaxFinite removed (or `<` -> `<=`)',
    reason:
      'a min-p cut is never -inf (-inf - z_max fails any finite ln(minP)), and every other cut is the max of the ' +
      'cut so far, which starts at -kMaxFinite, and x_cut_for_z (mask_cpu.cpp, as in mask_kernels.cu): the clamp ' +
      'never decides. The row [-MAX, 1, -MAX, 0, -inf] at T = 0.5, top-k 3 (k-th z = -inf) checks the outcome',
  },
  {
    change: 'rule.h is_greedy `temperature == 0` -> `<= 0`',
    reason: 'temperatures below 0 are rejected before any row is masked (invalid_param)',
  },
  {
    change: 'mask_cpu.cpp `p.top_k < vocab_` -> `<=`, and `survivors.size() >= p.top_k` -> `>`',
    reason:
      'top-k with k equal to the number of survivors keeps every survivor (the k-th largest is the smallest), ' +
      'exactly as top-k off does; rule.h top_k_active is used only by the bench baseline',
  },
  {
    change: 'rule.h invalid_param `top_k < -1` -> `< -2`',
    reason: 'the binding rejects topK below -1 (and non-integers) while reading it, before invalid_param',
  },
  {
    change:
      'rule.h top_p_budget `product != 0 ? 1 : 0` -> `1` or `0`, the subnormal branch (`149`, the mantissa ' +
      'without its hidden bit), and the shift limit 128 -> anything from 87 up',
    reason:
      'product = mantissa * total is never 0 (total >= 2^40), and below 2^87, so every shift from 87 up gives a ' +
      'budget of 1; a budget of 0 and of 1 both keep exactly the maximum group (top_p_cut keeps the first group ' +
      'whatever the budget)',
  },
  {
    change: 'portable.h split_exp `5.0000001201e-1f` -> `0.5f`',
    reason: 'the literal is the f32 0.5 already (it is within half an ulp of 0.5)',
  },
  {
    change: 'rule.h deterministic_log `m > 1.4142135623730951` -> `>=`',
    reason: 'm is the mantissa of an f32 (min_p) or of an f32 mass, never the 53-bit double nearest sqrt(2)',
  },
  {
    change: 'trainer.h compensated_add `abs(sum) >= abs(v)` -> `>`',
    reason: 'when |sum| = |v|, sum + v is 0 or 2 sum, both exact, so both compensations are 0',
  },
  {
    change: 'row_kernels_impl.inc weight_histogram `v >= floor` -> `>`',
    reason:
      'the floor is the current cut, so the ids it drops are the lowest survivors: their weight is never above ' +
      'another survivor, and if the walk passes their bucket it only reaches empty buckets, where top_p_cut keeps ' +
      'the cut, which keeps them',
  },
  {
    change: 'portable.h order_key without `add_rn(f, 0.0f)` (-0 and +0 as two keys)',
    reason: 'the searches test floats, where -0 == +0, so the predicate stays monotone and a cut at -0 or +0 keeps ' + 'the same ids',
  },
  {
    change: 'weight_buckets.h kBucketsPerUnit, kWeightBuckets, the sampled guess of the member buckets',
    reason: 'not part of the rule: they only choose where the exact search looks (README: any bucketing gives the same cut)',
  },
  {
    change: 'trainer.h kSoftmaxLanes and the order of merge_lanes',
    reason:
      'the order of a compensated sum of a few terms changes no bit of it (each lane and merge carries its ' +
      'rounding error); long sums may differ in the last bit, within the documented error bounds, on every backend alike',
  },
];

/** The values given to a repeatable option. */
function optionValues(name) {
  return process.argv.flatMap((arg, i) => (arg === name && i + 1 < process.argv.length ? [process.argv[i + 1]] : []));
}

function run(command, args, { env = {}, timeout } = {}) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout, maxBuffer: 1 << 28 });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`, timedOut: result.error?.code === 'ETIMEDOUT' };
}

/** Copies path (relative to the root) into the scratch tree, writing only what differs (so rebuilds stay incremental). */
function sync(relative) {
  const from = path.join(root, relative);
  const to = path.join(source, relative);
  if (fs.statSync(from).isDirectory()) {
    fs.mkdirSync(to, { recursive: true });
    const names = new Set(fs.readdirSync(from));
    for (const name of fs.readdirSync(to)) if (!names.has(name)) fs.rmSync(path.join(to, name), { recursive: true, force: true });
    for (const name of names) sync(path.join(relative, name));
  } else if (!fs.existsSync(to) || !fs.readFileSync(to).equals(fs.readFileSync(from))) {
    fs.copyFileSync(from, to);
  }
}

function prepareScratch() {
  fs.mkdirSync(source, { recursive: true });
  for (const relative of ['native', 'CMakeLists.txt', 'package.json']) sync(relative);
  const modules = path.join(source, 'node_modules');
  if (!fs.existsSync(modules)) fs.symlinkSync(path.join(root, 'node_modules'), modules, 'dir');
}

function buildAddon() {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  return run(process.execPath, [cmakeJs, 'build', '--directory', source, '--out', build, '--CDSM_CUDA=OFF']);
}

/** Runs the boundary tests against the scratch addon; returns whether they pass and, if not, the first failing test. */
function boundaryTests() {
  const jest = require.resolve('jest/bin/jest', { paths: [root] });
  // A mutation that hangs the addon fails the tests too: the timeout counts as a failure.
  const result = run(process.execPath, [jest, testFile, '--bail'], { env: { SAMPLING_MASK_ADDON: addonFile }, timeout: 300_000 });
  const failing = result.output.split('\n').find((line) => line.trim().startsWith('●'));
  return { pass: result.ok, failing: result.timedOut ? 'timed out' : (failing?.trim().replace(/^● /, '') ?? result.output.slice(-500)) };
}

/** How often the mutation's original text occurs in the working tree's file (it must be exactly once). */
function occurrences(m) {
  return fs.readFileSync(path.join(root, m.file), 'utf8').split(m.from).length - 1;
}

function list() {
  for (const m of mutations) {
    const found = occurrences(m) === 1 ? '' : `  [occurs ${occurrences(m)} times: stale]`;
    console.log(`${m.name}\n    ${m.file}: ${JSON.stringify(m.from)} -> ${JSON.stringify(m.to)}${found}`);
  }
  console.log('\nEquivalent (not run):');
  for (const e of equivalent) console.log(`- ${e.change}\n    ${e.reason}`);
}

function main() {
  if (process.argv.includes('--list')) return list();
  const only = optionValues('--only').map((text) => text.toLowerCase());
  const selected = mutations.filter((m) => only.length === 0 || only.some((text) => m.name.toLowerCase().includes(text)));
  if (selected.length === 0) throw new Error(`no mutation matches ${only.join(', ')}`);

  // The child processes of the tests load the package from dist/.
  const tsc = run(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', 'tsconfig.json']);
  if (!tsc.ok) throw new Error(`tsc failed:\n${tsc.output}`);
  prepareScratch();
  console.log('building the unmutated addon in build-mutate/ ...');
  const baseline = buildAddon();
  if (!baseline.ok) throw new Error(`the unmutated build failed:\n${baseline.output.slice(-3000)}`);
  const clean = boundaryTests();
  if (!clean.pass) throw new Error(`the boundary tests fail without any mutation: ${clean.failing}`);

  const rows = [];
  for (const m of selected) {
    const file = path.join(source, m.file);
    const original = fs.readFileSync(path.join(root, m.file), 'utf8');
    if (occurrences(m) !== 1) {
      rows.push({ name: m.name, status: 'NOT APPLIED', detail: `${JSON.stringify(m.from)} occurs ${occurrences(m)} times in ${m.file}` });
      continue;
    }
    process.stdout.write(`${m.name} ... `);
    fs.writeFileSync(file, original.replace(m.from, m.to));
    try {
      const built = buildAddon();
      if (!built.ok) {
        rows.push({ name: m.name, status: 'BUILD FAILED', detail: built.output.split('\n').find((l) => l.includes('error')) ?? '' });
      } else {
        const tests = boundaryTests();
        rows.push({ name: m.name, status: tests.pass ? 'SURVIVED' : 'killed', detail: tests.pass ? '' : tests.failing });
      }
    } finally {
      fs.writeFileSync(file, original);
    }
    console.log(rows[rows.length - 1].status);
  }

  const width = Math.max(...rows.map((r) => r.name.length));
  console.log(`\n${'mutation'.padEnd(width)}  result\n${'-'.repeat(width)}  ------`);
  for (const r of rows) console.log(`${r.name.padEnd(width)}  ${r.status}${r.detail ? `  (${r.detail})` : ''}`);
  const bad = rows.filter((r) => r.status !== 'killed');
  console.log(`\n${rows.length - bad.length} of ${rows.length} killed; ${equivalent.length} equivalent changes documented (--list).`);
  if (bad.length > 0) process.exitCode = 1;
}

main();
