// Runs the README's "On the PyTorch side" code on files the package wrote
// and checks it against maskedLogprobs / maskedLogprobsBackward: the numpy
// part always (Debian's python3-numpy; SAMPLING_MASK_SKIP_PYTHON=1 opts
// out), the PyTorch and pyarrow parts where those import.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { mask, maskedLogprobs, maskedLogprobsBackward, writeRolloutsParquet, writeRolloutsSafetensors, type RolloutRecord } from '../lib';
import { rng } from './helpers';

const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
const section = readme.slice(
  readme.indexOf('## On the PyTorch side'),
  readme.indexOf('\n## ', readme.indexOf('## On the PyTorch side') + 1),
);
const blocks = [...section.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1]);
const numpyBlock = blocks.find((b) => !b.includes('import torch') && !b.includes('pyarrow'));
const torchBlock = blocks.find((b) => b.includes('import torch'));
const pyarrowBlock = blocks.find((b) => b.includes('pyarrow'));

// The system python first: `python3` on PATH may be a pyenv shim without numpy.
function pythonWith(module: string, candidates = ['/usr/bin/python3', 'python3']): string | undefined {
  return candidates.find((python) => spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0);
}

const skip = process.env.SAMPLING_MASK_SKIP_PYTHON === '1';
const V = 1000;
const T = 0.7;

(skip ? describe.skip : describe)("the README's PyTorch-side recipe reproduces the package", () => {
  test('the section has its numpy, PyTorch and pyarrow code', () => {
    expect(blocks.length).toBe(3);
    expect([numpyBlock, torchBlock, pyarrowBlock].every((b) => b !== undefined)).toBe(true);
  });

  test('log-probs within 1e-6 of maskedLogprobs (numpy; PyTorch with its gradient; pyarrow arrays)', () => {
    const python = pythonWith('numpy');
    if (python === undefined) {
      throw new Error('no python3 with numpy: apt-get install -y python3-numpy (or SAMPLING_MASK_SKIP_PYTHON=1 to skip)');
    }
    const withTorch = pythonWith('torch', [python]) !== undefined;
    const withPyarrow = pythonWith('pyarrow', [python]) !== undefined;
    if (!withTorch)
      console.log('formats-python: torch does not import here; the PyTorch part is not run (apt-get install -y python3-torch runs it)');
    if (!withPyarrow)
      console.log('formats-python: pyarrow does not import here (Debian 12 does not package it); the pyarrow part is not run');

    // Three requests' rows, masks from mask() over their logits; most targets
    // sampled from the kept ids, three outside (-inf on both sides).
    const random = rng(51);
    const lengths = [20, 35, 25];
    const rows = lengths.reduce((a, b) => a + b, 0);
    const logits = Float32Array.from({ length: rows * V }, (_, i) => 4 * Math.sin(i * 0.37 + random()) + (i % V === 0 ? 3 : 0));
    const tensor = { data: logits, shape: [rows, V], dtype: 'float32' } as const;
    const all = mask(tensor, { temperature: T, topK: 40, topP: 0.9 });
    const targets = Int32Array.from({ length: rows }, (_, r) =>
      r % 29 === 7 ? (all.row(r)[0] + 1) % V : all.row(r)[Math.floor(random() * all.count(r))],
    );
    let at = 0;
    const records: RolloutRecord[] = lengths.map((n, i) => {
      const record = { id: `req-${i}`, mask: all.slice(at, at + n), tokens: targets.slice(at, at + n) };
      at += n;
      return record;
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sm-python-'));
    fs.writeFileSync(path.join(dir, 'rollout.safetensors'), writeRolloutsSafetensors(records));
    fs.writeFileSync(path.join(dir, 'rollout.parquet'), writeRolloutsParquet(records));
    fs.writeFileSync(path.join(dir, 'logits.f32'), logits);

    const script = [
      'import numpy as np',
      `logits = np.fromfile("logits.f32", "<f4").reshape(-1, ${V})`,
      `temperature = ${T}`,
      numpyBlock,
      'np.asarray(logprobs, "<f8").tofile("numpy.f64")',
      withTorch ? torchBlock : '',
      withTorch
        ? 'logprobs_t.detach().numpy().astype("<f8").tofile("torch.f64")\nlogits_t.grad.numpy().astype("<f4").tofile("torch_grad.f32")'
        : '',
      withPyarrow ? `safetensors_arrays = [a.copy() for a in (offsets, indices, tokens, request_offsets)]\n${pyarrowBlock}` : '',
      withPyarrow
        ? 'assert all(np.array_equal(a, b) for a, b in zip(safetensors_arrays, (offsets, indices, tokens, request_offsets)))\nassert request_ids == ["req-0", "req-1", "req-2"]'
        : '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'recipe.py'), script);
    const run = spawnSync(python, ['-W', 'ignore', 'recipe.py'], { cwd: dir, encoding: 'utf8', timeout: 120000 });
    expect(run.status === 0 ? '' : `status ${run.status}: ${run.stderr}`).toBe('');

    const expected = maskedLogprobs(tensor, all, targets, { temperature: T });
    expect(expected.targetsOutsideMask).toBe(3);
    const read = (file: string, Ctor: Float64ArrayConstructor | Float32ArrayConstructor) => {
      const bytes = fs.readFileSync(path.join(dir, file));
      return new Ctor(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    };
    const worst = (values: ArrayLike<number>) => {
      let max = 0;
      for (let r = 0; r < rows; r++) {
        const want = expected.logprobs[r];
        if (want === -Infinity) expect(values[r]).toBe(-Infinity);
        else max = Math.max(max, Math.abs(values[r] - want));
      }
      return max;
    };
    expect(worst(read('numpy.f64', Float64Array))).toBeLessThanOrEqual(1e-6);
    if (withTorch) {
      expect(worst(read('torch.f64', Float64Array))).toBeLessThanOrEqual(1e-6);
      // d(sum of the finite log-probs) / d logits: gradOutput 1 where finite, 0 where the target was outside
      const gradOutput = Float32Array.from(expected.logprobs, (lp) => (lp === -Infinity ? 0 : 1));
      const { dense } = maskedLogprobsBackward(tensor, all, targets, gradOutput, { temperature: T, dense: true });
      const grad = read('torch_grad.f32', Float32Array);
      let max = 0;
      for (let i = 0; i < grad.length; i++) max = Math.max(max, Math.abs(grad[i] - dense![i]));
      expect(max).toBeLessThanOrEqual(1e-6);
    }
  }, 180000);
});
