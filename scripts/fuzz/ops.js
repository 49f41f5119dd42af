// Every export of the package as fuzzable calls. Each op builds one call
// from a context { rng, pkg, arena, bend, rows, vocab }: valid inputs from
// inputs.js, passed through bend() (identity when racing threads do the
// damage, a random corruption in the hostile-values class), and a check of
// the result. run() returns the result or a promise of it.
'use strict';
const { Writable } = require('stream');
const inputs = require('./inputs');
const { checkMask, checkFloats } = require('./outcome');

const hasMask = (ctx, rows) => (result) => checkMask(result, ctx.pkg.SamplingMask, rows);

function logitsArgs(ctx) {
  const { rng, arena, rows, vocab, bend } = ctx;
  const { tensor, plainVocab } = inputs.logits(rng, arena, rows, vocab);
  const bentTensor = tensor.data ? bend({ ...tensor, data: bend(tensor.data), shape: bend(tensor.shape) }) : bend(tensor);
  return { logits: bentTensor, vocabOption: plainVocab };
}

function maskOf(ctx) {
  const { rng, arena, rows, vocab, pkg } = ctx;
  const { offsets, indices } = inputs.csr(rng, arena, rows, vocab);
  return new pkg.SamplingMask(offsets, indices, vocab);
}

function withVocab(options, vocab) {
  return vocab === undefined ? options : { ...options, vocab };
}

const ops = {
  mask(ctx, async) {
    const { rng, arena, rows, bend, pkg } = ctx;
    const { logits, vocabOption } = logitsArgs(ctx);
    const fields = withVocab(inputs.samplingOptions(rng, arena, rows), vocabOption);
    for (const key of ['temperature', 'topK', 'topP', 'minP']) if (key in fields) fields[key] = bend(fields[key]);
    const options = bend(fields);
    return { run: () => (async ? pkg.maskAsync(logits, options) : pkg.mask(logits, options)), check: hasMask(ctx) };
  },

  sample(ctx, async) {
    const { rng, arena, rows, bend, pkg } = ctx;
    const { logits, vocabOption } = logitsArgs(ctx);
    const fields = withVocab(inputs.samplingOptions(rng, arena, rows), vocabOption);
    delete fields.fillLogits;
    delete fields.onInvalidRow;
    fields.seed = bend(rng.pick([0, 1, 2 ** 53 - 1, 2n ** 64n - 1n]));
    fields.step = bend(rng.chance(0.5) ? rng.int(0, 100) : Array.from({ length: rows }, (_, r) => r));
    if (rng.chance(0.5)) fields.stream = bend(rng.int(0, 7));
    if (rng.chance(0.3)) fields.mask = rng.chance(0.5);
    if (rng.chance(0.3)) fields.fullLogprobs = true;
    const options = bend(fields);
    return {
      run: () => (async ? pkg.sampleAsync(logits, options) : pkg.sample(logits, options)),
      check: (result) => {
        if (result.mask === undefined) return checkFloats(result, 'logprobs');
        const problem = hasMask(ctx)(result.mask);
        if (problem) return problem;
        // Every token is one of its row's kept ids.
        const { offsets, indices } = result.mask;
        for (let r = 0; r < result.tokens.length; r++) {
          const kept = indices.subarray(offsets[r], offsets[r + 1]);
          if (!kept.includes(result.tokens[r])) return `row ${r}: token ${result.tokens[r]} is not among its kept ids`;
        }
        return null;
      },
    };
  },

  applyMask(ctx, async) {
    const { rng, bend, pkg } = ctx;
    const { logits, vocabOption } = logitsArgs(ctx);
    const mask = bend(maskOf(ctx));
    const options = bend(withVocab(rng.chance(0.5) ? { inPlace: true } : {}, vocabOption));
    return { run: () => (async ? pkg.applyMaskAsync(logits, mask, options) : pkg.applyMask(logits, mask, options)) };
  },

  maskedLogprobs(ctx, async) {
    const { rng, arena, rows, vocab, bend, pkg } = ctx;
    const { logits, vocabOption } = logitsArgs(ctx);
    const mask = rng.chance(0.4) ? null : maskOf(ctx);
    const targets = bend(inputs.targets(rng, arena, rows, vocab, mask?.toLists()));
    const options = bend(withVocab({ temperature: inputs.trainerTemperature(rng, arena, rows), entropy: rng.chance(0.5) }, vocabOption));
    const m = bend(mask);
    return {
      run: () => (async ? pkg.maskedLogprobsAsync(logits, m, targets, options) : pkg.maskedLogprobs(logits, m, targets, options)),
      check: (result) => checkFloats(result, 'logprobs', rows),
    };
  },

  maskedLogprobsBackward(ctx, async) {
    const { rng, arena, rows, vocab, bend, pkg } = ctx;
    const { logits, vocabOption } = logitsArgs(ctx);
    const mask = rng.chance(0.4) ? null : maskOf(ctx);
    const targets = bend(inputs.targets(rng, arena, rows, vocab, mask?.toLists()));
    const grad = bend(inputs.gradOutput(rng, arena, rows));
    const options = bend(withVocab({ temperature: inputs.trainerTemperature(rng, arena, rows), dense: rng.chance(0.3) }, vocabOption));
    const m = bend(mask);
    const run = async
      ? () => pkg.maskedLogprobsBackwardAsync(logits, m, targets, grad, options)
      : () => pkg.maskedLogprobsBackward(logits, m, targets, grad, options);
    return { run, check: (result) => checkFloats(result, 'values') };
  },

  serialize(ctx) {
    const mask = ctx.bend(maskOf(ctx));
    return { run: () => ctx.pkg.serialize(mask), check: (bytes) => (bytes instanceof Uint8Array ? null : 'not bytes') };
  },

  deserialize(ctx) {
    const { pkg, arena, bend } = ctx;
    const bytes = pkg.serialize(maskOf(ctx));
    const held = arena.alloc(Uint8Array, bytes.length);
    held.set(bytes);
    const arg = bend(held);
    return { run: () => pkg.deserialize(arg), check: hasMask(ctx) };
  },

  crc32c(ctx) {
    const { rng, arena, bend, pkg } = ctx;
    const bytes = arena.alloc(Uint8Array, rng.int(0, 64));
    const seed = bend(rng.int(0, 2 ** 32 - 1));
    const arg = bend(bytes);
    return { run: () => pkg.crc32c(arg, seed) };
  },

  samplingMask(ctx) {
    const { rng, arena, rows, vocab, bend, pkg } = ctx;
    const { offsets, indices } = inputs.csr(rng, arena, rows, vocab);
    const [o, i, v] = [bend(offsets), bend(indices), bend(vocab)];
    // A SamplingMask wraps its arrays: over memory that other threads write, its contents are theirs
    // after the constructor's check (every use checks them again), so only an unshared one is checked here.
    return { run: () => new pkg.SamplingMask(o, i, v), check: arena.shared ? undefined : hasMask(ctx) };
  },

  fromLists(ctx) {
    const { rng, rows, vocab, bend, pkg } = ctx;
    const unsorted = rng.chance(0.2);
    const lists = inputs
      .keptLists(rng, rows, vocab)
      .map((list) => (unsorted ? list.reverse() : list))
      .map((list) => bend(rng.chance(0.5) ? Int32Array.from(list) : list));
    const [l, v, options] = [bend(lists), bend(vocab), bend(rng.chance(0.5) ? { order: rng.pick(['sort', 'reject']) } : undefined)];
    return { run: () => pkg.SamplingMask.fromLists(l, v, options), check: hasMask(ctx) };
  },

  concat(ctx) {
    const { rng, rows, bend, pkg } = ctx;
    const masks = Array.from({ length: rng.int(1, 3) }, () => bend(maskOf(ctx)));
    const options = bend(rng.chance(0.5) ? { padTo: rows + rng.int(0, 2), padId: 0, padSide: rng.pick(['left', 'right']) } : {});
    const m = bend(masks);
    return { run: () => pkg.SamplingMask.concat(m, options), check: hasMask(ctx) };
  },

  fromPadded(ctx) {
    const { rng, rows, vocab, bend, arena, pkg } = ctx;
    const padded = maskOf(ctx).toPadded();
    const ids = arena.alloc(Int32Array, padded.ids.length);
    ids.set(padded.ids);
    const args = [bend(ids), bend(rows), bend(padded.width), bend(vocab + (rng.chance(0.1) ? -1 : 0))];
    return { run: () => pkg.SamplingMask.fromPadded(...args), check: hasMask(ctx) };
  },

  fromBitmask(ctx) {
    const { rows, vocab, bend, arena, pkg } = ctx;
    const bits = maskOf(ctx).toBitmask();
    const bytes = arena.alloc(Uint8Array, bits.length);
    bytes.set(bits);
    const args = [bend(bytes), bend(rows), bend(vocab)];
    return { run: () => pkg.SamplingMask.fromBitmask(...args), check: hasMask(ctx) };
  },

  maskMethods(ctx) {
    const { rng, bend, vocab } = ctx;
    const mask = maskOf(ctx);
    const method = rng.pick(['row', 'count', 'toLists', 'toPadded', 'toBitmask', 'slice']);
    const arg = bend(method === 'toPadded' ? rng.pick([undefined, vocab, 2 ** 31, 8]) : rng.int(0, mask.rows));
    const end = bend(mask.rows);
    return { run: () => (method === 'slice' ? mask.slice(arg, end) : mask[method](arg)) };
  },

  recorder(ctx) {
    const { rng, rows, vocab, bend, pkg } = ctx;
    const recorderOptions = bend(rng.chance(0.5) ? { vocab, onTokenOutsideMask: rng.pick(['throw', 'count']) } : undefined);
    const mask = maskOf(ctx);
    const ids = Array.from({ length: rows }, (_, i) => (rng.chance(0.5) ? `r${i}` : i));
    const tokens = rng.chance(0.5) ? undefined : Array.from(inputs.targets(rng, ctx.arena, rows, vocab, mask.toLists()));
    const [i, m, t] = [bend(ids), bend(mask), bend(tokens)];
    const viaResponse = rng.chance(0.3);
    const responseLists = mask.toLists();
    return {
      run: () => {
        const recorder = new pkg.MaskRecorder(recorderOptions);
        // A step recorded before, so that a later error has something to leave untouched.
        if (rng.chance(0.5)) recorder.record(ids, mask);
        const steps = () => new Map(recorder.ids().map((id) => [id, recorder.steps(id)]));
        const before = steps();
        let threw;
        try {
          if (viaResponse) recorder.recordResponse(bend(ids[0]), bend(rng.chance(0.5) ? responseLists : mask), t);
          else recorder.record(i, m, t);
        } catch (e) {
          threw = e;
        }
        // Whole or nothing: after an error no id has a new step; a step adds at most one row per id.
        for (const [id, n] of steps()) {
          const added = n - (before.get(id) ?? 0);
          if (threw ? added !== 0 : !viaResponse && added > 1) {
            return { atomicity: `request ${String(id)} got ${added} rows${threw ? ' from a call that threw' : ' from one step'}` };
          }
        }
        for (const id of recorder.ids()) {
          const problem = hasMask(ctx)(recorder.peek(id).mask);
          if (problem) return { atomicity: `request ${String(id)}: ${problem}` };
        }
        if (threw) throw threw;
        return recorder;
      },
      check: (result) => (result && result.atomicity) || null,
    };
  },

  recorderQueries(ctx) {
    const { rng, bend, pkg } = ctx;
    const recorder = new pkg.MaskRecorder();
    recorder.record(['a', 1], pkg.SamplingMask.fromLists([[1], [2]], 4));
    const method = rng.pick(['take', 'peek', 'discard', 'has', 'steps', 'ids', 'bytes']);
    const arg = bend(rng.pick(['a', 1, 'b']));
    return { run: () => recorder[method](arg) };
  },

  records(ctx) {
    const { rng, rows, vocab, bend, pkg } = ctx;
    const mask = maskOf(ctx);
    const record = bend({
      id: bend(rng.chance(0.5) ? rng.int(0, 1000) : `req-${rng.int(0, 9)}`),
      mask: bend(mask),
      tokens: bend(rng.chance(0.5) ? Int32Array.from(inputs.targets(rng, ctx.arena, rows, vocab, mask.toLists())) : undefined),
      outsideSteps: bend(rng.chance(0.3) ? [0] : undefined),
    });
    const options = bend(rng.chance(0.5) ? { onCorrupt: rng.pick(['throw', 'skip']), maxRecordBytes: 1 << 20 } : undefined);
    return {
      run: () => {
        const bytes = pkg.encodeRecord(record);
        const { records } = pkg.decodeRecords(bytes, options);
        return records;
      },
      check: (records) => (Array.isArray(records) && records.length === 1 ? hasMask(ctx)(records[0].mask) : 'not one record back'),
    };
  },

  recordStreams(ctx, async) {
    const { rng, bend, pkg } = ctx;
    const bytes = pkg.encodeRecord({ id: 1, mask: maskOf(ctx) });
    const chunks = [bytes.subarray(0, 7), bytes.subarray(7)].map((chunk) => bend(chunk));
    const source = bend({
      async *[Symbol.asyncIterator]() {
        yield* chunks;
      },
    });
    const options = bend(rng.chance(0.5) ? { onCorrupt: 'skip' } : undefined);
    // A real stream: what the writer does with odd destinations is the constructor's check alone.
    const destination = rng.chance(0.8) ? new Writable({ write: (chunk, encoding, done) => done() }) : bend({ write() {} });
    const record = bend({ id: 2, mask: maskOf(ctx) });
    return {
      run: async () => {
        const reader = new pkg.MaskRecordReader(source, options);
        const out = [];
        for await (const r of reader) out.push(r);
        if (async) {
          const writer = new pkg.MaskRecordWriter(destination);
          await writer.write(record);
          await writer.end();
        }
        return out;
      },
    };
  },

  trainerBatch(ctx) {
    const { rng, vocab, bend, pkg } = ctx;
    const requests = Array.from({ length: rng.int(1, 3) }, () => {
      const mask = maskOf({ ...ctx, rows: rng.int(1, ctx.rows || 1) });
      return bend({ mask: bend(mask), tokens: bend(mask.toLists().map((ids) => rng.pick(ids))) });
    });
    const options = bend(rng.chance(0.5) ? { padSide: rng.pick(['left', 'right']), padId: rng.int(0, vocab - 1) } : undefined);
    const list = bend(requests);
    return { run: () => pkg.trainerBatch(list, options), check: (batch) => hasMask(ctx)(batch.mask) };
  },

  maskFromServer(ctx) {
    const { rng, rows, vocab, bend, pkg } = ctx;
    const mask = maskOf(ctx);
    const lists = mask.toLists();
    const form = rng.pick(['lists', 'csr', 'padded', 'bitmask', 'mask']);
    let value;
    if (form === 'lists') value = lists.map((ids) => bend(ids));
    else if (form === 'csr')
      value = {
        token_ids: bend(rng.chance(0.5) ? Int32Array.from(mask.indices) : Array.from(mask.indices)),
        offsets: bend(Array.from(mask.offsets)),
      };
    else if (form === 'padded') value = { ...mask.toPadded(), rows: bend(rows) };
    else if (form === 'bitmask') value = { bitmask: bend(mask.toBitmask()), rows: bend(rows) };
    else value = mask;
    const [v, n, options] = [bend(value), bend(vocab), bend(rng.chance(0.3) ? { order: 'sort' } : undefined)];
    // A SamplingMask comes back as it was given (the caller's object, hostile or not).
    return { run: () => pkg.maskFromServer(v, n, options), check: (m) => (m === v ? null : hasMask(ctx)(m)) };
  },

  rollouts(ctx) {
    const { rng, vocab, bend, pkg } = ctx;
    const stringIds = rng.chance(0.5);
    const withTokens = rng.chance(0.5);
    const records = Array.from({ length: rng.int(0, 3) }, (_, i) => {
      const mask = maskOf({ ...ctx, rows: rng.int(1, 4) });
      const record = { id: stringIds ? `r${i}` : i, mask: bend(mask) };
      if (withTokens) record.tokens = bend(mask.toLists().map((ids) => rng.pick(ids)));
      if (rng.chance(0.3)) record.logprobs = bend(Array.from({ length: mask.rows }, () => -rng.next()));
      if (rng.chance(0.3)) record.columns = bend({ reward: rng.next() });
      return bend(record);
    });
    const format = rng.pick(['arrow', 'arrow-file', 'parquet', 'safetensors']);
    const options = bend(rng.chance(0.5) ? { vocab, metadata: bend({ run: 'fuzz' }) } : records.length === 0 ? { vocab } : undefined);
    const list = bend(records);
    return {
      run: () => {
        if (format === 'safetensors') return pkg.readRolloutsSafetensors(pkg.writeRolloutsSafetensors(list, options));
        if (format === 'parquet') return pkg.readRolloutsParquet(pkg.writeRolloutsParquet(list, options), { vocab });
        return pkg.readRolloutsArrow(pkg.writeRolloutsArrow(list, { ...options, format: format === 'arrow' ? 'stream' : 'file' }), {
          vocab,
        });
      },
      check: (file) => {
        for (const record of file.records) {
          const problem = hasMask(ctx)(record.mask);
          if (problem) return problem;
        }
        return null;
      },
    };
  },

  maskFiles(ctx) {
    const { rng, bend, pkg } = ctx;
    const mask = bend(maskOf(ctx));
    const form = rng.pick(['arrow', 'safetensors']);
    const options = bend(rng.chance(0.5) ? { padded: rng.pick([true, 3, 2 ** 31]) } : undefined);
    return {
      run: () =>
        form === 'arrow'
          ? pkg.maskFromArrow(pkg.maskToArrow(mask), ctx.vocab)
          : pkg.maskFromSafetensors(pkg.maskToSafetensors(mask, options)),
      check: hasMask(ctx),
    };
  },

  backend(ctx) {
    const { rng, bend, pkg } = ctx;
    const which = rng.int(0, 3);
    if (which === 0) return { run: () => pkg.backendInfo() };
    if (which === 1) return { run: () => pkg.getBackend() };
    if (which === 2) {
      const args = [bend(rng.pick(['auto', 'cpu', 'cuda'])), bend(rng.chance(0.5) ? { device: 0 } : undefined)];
      return { run: () => pkg.setBackend(...args), after: () => pkg.setBackend('auto') };
    }
    // Thread counts the machine can afford: the hostile values supply the odd ones.
    const threads = bend(rng.int(0, 4));
    return { run: () => pkg.setThreads(threads), after: () => pkg.setThreads(2) };
  },

  device(ctx, async) {
    const { rng, bend, pkg, vocab } = ctx;
    const { logits, vocabOption } = logitsArgs(ctx);
    const options = bend(withVocab(rng.chance(0.5) ? { device: 0 } : {}, vocabOption));
    if (rng.chance(0.5)) return { run: () => (async ? pkg.toDeviceAsync(logits, options) : pkg.toDevice(logits, options)) };
    // A DeviceTensor forged around a handle that is not one.
    const forged = new pkg.DeviceTensor(bend({}), 2, vocab, 'float32', 0);
    const use = rng.pick(['mask', 'download', 'free', 'applyMask']);
    return {
      run: () => {
        if (use === 'mask') return pkg.mask(forged, {});
        if (use === 'applyMask') return pkg.applyMask(forged, maskOf({ ...ctx, rows: 2 }), { inPlace: true });
        return forged[use]();
      },
    };
  },
};

/** Operations that have a sync and an async form (the flag picks one). */
const kAsyncForms = new Set(['mask', 'sample', 'applyMask', 'maskedLogprobs', 'maskedLogprobsBackward', 'recordStreams', 'device']);
/** Operations on shared logits: what racing threads and terminated workers exercise. */
const kNativeOps = ['mask', 'sample', 'applyMask', 'maskedLogprobs', 'maskedLogprobsBackward', 'serialize', 'deserialize', 'crc32c'];
/** JS-side operations that read shared arrays too. */
const kSharedJsOps = ['samplingMask', 'fromPadded', 'fromBitmask', 'concat', 'recorder', 'records'];

module.exports = { ops, kAsyncForms, kNativeOps, kSharedJsOps };
