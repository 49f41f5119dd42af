// Collects the mask rows of each request across decode steps, keyed by
// request id: under continuous batching a request's batch position changes
// every step, and requests join, finish, are preempted and resume.
import { describe, readList, readOptions } from './args';
import { rangeError, typeError } from './errors';
import { checkVocab, readListOrder, type ListOrder } from './lists';
import type { MaskRecord } from './records';
import { readMask, SamplingMask, wrapNativeCsr, type MaskSnapshot } from './sampling-mask';
import { maskFromServer, type ServerMask } from './server-forms';

/** A request id as the inference server names it; 7 and '7' are different ids. */
export type RequestId = string | number;

export interface RecorderOptions {
  /** The vocabulary size; taken from the first mask recorded when omitted. */
  vocab?: number;
  /**
   * A sampled token that is not in its row's kept set means the mask and the
   * token disagree upstream. 'throw' (default): the step is rejected with an
   * error naming the row and request, nothing of it is stored. 'count': the
   * step is stored and the request's outsideSteps lists where it happened.
   */
  onTokenOutsideMask?: 'throw' | 'count';
  /**
   * How recordResponse treats id lists that are not strictly ascending, unless
   * a call says otherwise: 'reject' (default) or 'sort' (sort, keep repeated
   * ids once). One recorder per server: SGLang's lists may come in
   * probability order and repeat the sampled token, so use 'sort' there.
   */
  order?: ListOrder;
}

export interface RecordedRequest {
  /** One row per recorded step, in order. */
  mask: SamplingMask;
  /** The sampled token of each step, when tokens were recorded. */
  tokens?: Int32Array;
  /** Steps (row numbers in mask) whose token was outside its row ('count' mode). */
  outsideSteps: number[];
}

const kMinChunk = 64;
const kMaxChunk = 1 << 20;

// An append-only Int32 sequence in chunks: appending never copies what is
// stored, and chunk sizes grow with the total (up to kMaxChunk), so a request
// holds O(log n) chunks and at most max(n, kMaxChunk) ids of slack.
class Int32Log {
  private readonly chunks: Int32Array[] = [];
  private last: Int32Array = new Int32Array(0);
  private used = 0;
  length = 0;

  private grow(needed: number): void {
    if (this.used > 0) this.chunks.push(this.last.subarray(0, this.used));
    const size = Math.max(needed, Math.min(Math.max(this.length, kMinChunk), kMaxChunk));
    this.last = new Int32Array(size);
    this.used = 0;
  }

  push(value: number): void {
    if (this.used === this.last.length) this.grow(1);
    this.last[this.used++] = value;
    this.length++;
  }

  append(values: Int32Array): void {
    let from = 0;
    while (from < values.length) {
      if (this.used === this.last.length) this.grow(values.length - from);
      const n = Math.min(values.length - from, this.last.length - this.used);
      this.last.set(from === 0 && n === values.length ? values : values.subarray(from, from + n), this.used);
      this.used += n;
      from += n;
    }
    this.length += values.length;
  }

  /** Everything appended, in one new array. */
  toInt32Array(): Int32Array {
    const out = new Int32Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    out.set(this.last.subarray(0, this.used), at);
    return out;
  }

  /** Bytes held, slack included. */
  bytes(): number {
    let total = this.last.byteLength;
    for (const chunk of this.chunks) total += chunk.byteLength;
    return total;
  }
}

class RequestLog {
  readonly ids = new Int32Log();
  readonly counts = new Int32Log();
  readonly tokens: Int32Log | null;
  readonly outsideSteps: number[] = [];

  constructor(withTokens: boolean) {
    this.tokens = withTokens ? new Int32Log() : null;
  }

  bytes(): number {
    return this.ids.bytes() + this.counts.bytes() + (this.tokens?.bytes() ?? 0);
  }

  toRecorded(vocab: number): RecordedRequest {
    const counts = this.counts.toInt32Array();
    const offsets = new Int32Array(counts.length + 1);
    for (let r = 0; r < counts.length; r++) offsets[r + 1] = offsets[r] + counts[r];
    const recorded: RecordedRequest = {
      mask: wrapNativeCsr(offsets, this.ids.toInt32Array(), vocab),
      outsideSteps: this.outsideSteps.slice(),
    };
    if (this.tokens) recorded.tokens = this.tokens.toInt32Array();
    return recorded;
  }
}

function checkId(id: unknown, argument: string, row?: number): RequestId {
  if (typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id))) return id;
  throw typeError(argument, `expected a string or a safe integer, got ${describe(id)}`, row === undefined ? undefined : { row });
}

/** What record() takes from sample()'s result: its mask and tokens. */
export interface SampledStep {
  mask?: SamplingMask;
  tokens: Int32Array;
}

// A step's mask and tokens, given as a mask (tokens apart) or as sample()'s result.
function stepParts(step: SamplingMask | SampledStep, tokens: ArrayLike<number> | undefined) {
  if (step instanceof SamplingMask || step === null || typeof step !== 'object' || !('tokens' in step)) {
    return { mask: step, tokens };
  }
  if (tokens !== undefined) {
    throw typeError('tokens', "sample()'s result already carries its tokens: pass it alone");
  }
  const { mask, tokens: sampled } = step;
  if (mask === undefined) {
    throw typeError('mask', "sample()'s result has no mask (it was called with mask: false)");
  }
  return { mask, tokens: sampled };
}

// Whether sorted ids[start, end) contains token (binary search).
function keeps(ids: Int32Array, start: number, end: number, token: number): boolean {
  let lo = start;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid] < token) lo = mid + 1;
    else hi = mid;
  }
  return lo < end && ids[lo] === token;
}

export class MaskRecorder {
  private readonly logs = new Map<RequestId, RequestLog>();
  private readonly onOutside: 'throw' | 'count';
  private readonly order: ListOrder;
  private vocabSize: number | undefined;

  constructor(options?: RecorderOptions) {
    const fields = readOptions(options, ['vocab', 'onTokenOutsideMask', 'order']);
    const { vocab, onTokenOutsideMask: onOutside = 'throw', order = 'reject' } = fields;
    if (vocab !== undefined) this.vocabSize = checkVocab(vocab, 'options.vocab');
    if (onOutside !== 'throw' && onOutside !== 'count') {
      throw typeError('options.onTokenOutsideMask', `expected 'throw' or 'count', got ${describe(onOutside)}`);
    }
    this.onOutside = onOutside;
    this.order = readListOrder(order);
  }

  /** The vocabulary size, once known. */
  get vocab(): number | undefined {
    return this.vocabSize;
  }

  /**
   * Records one decode step: row i of mask is the next step of request
   * requestIds[i], and tokens[i] (optional) the token sampled there; or
   * sample()'s result, which carries both. Every
   * argument is read once into private values, and the step is checked whole
   * on them before anything is stored: it is recorded entirely or not at all.
   * Costs O(rows + kept ids).
   */
  record(requestIds: ArrayLike<RequestId>, sampled: SamplingMask | SampledStep, sampledTokens?: ArrayLike<number>): void {
    const { mask, tokens } = stepParts(sampled, sampledTokens);
    const step = this.readStep(mask, 'mask');
    const ids = readList(requestIds, 'requestIds', 'an array of request ids');
    if (ids.length !== step.rows) {
      throw rangeError('ERR_SM_OUT_OF_RANGE', 'requestIds', `has ${ids.length} ids for ${step.rows} mask rows`);
    }
    const rowOf = new Map<RequestId, number>();
    for (let i = 0; i < ids.length; i++) {
      const id = checkId(ids[i], 'requestIds', i);
      const first = rowOf.get(id);
      if (first !== undefined) {
        throw rangeError(
          'ERR_SM_DUPLICATE_REQUEST',
          'requestIds',
          `request ${describe(id)} appears twice in one step (rows ${first} and ${i})`,
          { row: i, requestId: id },
        );
      }
      rowOf.set(id, i);
    }
    const requests = ids as RequestId[];
    const tokenIds = this.readTokens(step, tokens, (i) => requests[i]);
    for (const id of requests) this.checkTokenPresence(id, tokenIds !== undefined);
    const outside = this.checkTokens(step, tokenIds, (i) => requests[i]);
    if (step.rows > 0) this.vocabSize ??= step.vocab;
    for (let i = 0; i < step.rows; i++) {
      this.appendRow(this.logFor(requests[i], tokenIds !== undefined), step, i, tokenIds?.[i], outside?.has(i) === true);
    }
  }

  /**
   * Appends a whole response of one request at once: one row per generated
   * token, in any server form (see server-forms.ts: id lists as vLLM's
   * `sampling_mask` and SGLang's `meta_info.output_token_sampling_mask`,
   * vLLM's CSR { token_ids, offsets }, -1 padded ids { ids, rows, width },
   * a bitmask { bitmask, rows }, or a SamplingMask), with the generated tokens
   * checked against their rows. Calls for the same request append (one per
   * streamed chunk). `order` overrides the recorder's for this call. Recorded
   * entirely or not at all.
   */
  recordResponse(requestId: RequestId, masks: ServerMask, tokens?: ArrayLike<number>, options?: { order?: ListOrder }): void {
    const id = checkId(requestId, 'requestId');
    const { order = this.order } = readOptions(options, ['order']);
    const isMask = masks instanceof SamplingMask;
    if (this.vocabSize === undefined && !isMask) {
      throw rangeError(
        'ERR_SM_OUT_OF_RANGE',
        'options.vocab',
        'server masks need the vocabulary size: pass it to new MaskRecorder({ vocab })',
      );
    }
    // A SamplingMask is read once, by readStep; the other forms are converted (and read) by maskFromServer.
    const step = this.readStep(isMask ? masks : maskFromServer(masks, this.vocabSize as number, { order: order as ListOrder }), 'masks');
    const tokenIds = this.readTokens(step, tokens, () => id);
    this.checkTokenPresence(id, tokenIds !== undefined);
    const outside = this.checkTokens(step, tokenIds, () => id);
    // Known from here on even when the response has no rows: a request's log is a mask over it.
    this.vocabSize ??= step.vocab;
    const log = this.logFor(id, tokenIds !== undefined);
    for (let i = 0; i < step.rows; i++) this.appendRow(log, step, i, tokenIds?.[i], outside?.has(i) === true);
  }

  /** The request's rows and tokens, removed from the recorder (memory returned). */
  take(requestId: RequestId): RecordedRequest {
    const recorded = this.peek(requestId);
    this.logs.delete(requestId);
    return recorded;
  }

  /**
   * The requests (default: all, in first-seen order) as records for a file
   * writer (writeRolloutsArrow, writeRolloutsParquet, ...), removed from the
   * recorder. An unknown id is an error and then nothing is taken.
   */
  takeRecords(requestIds?: readonly RequestId[]): MaskRecord[] {
    const ids = requestIds === undefined ? this.ids() : (readList(requestIds, 'requestIds', 'an array of request ids') as RequestId[]);
    for (const id of ids) this.peekLog(id);
    return ids.map((id) => ({ id, ...this.take(id) }));
  }

  /** Like take(), without removing anything. */
  peek(requestId: RequestId): RecordedRequest {
    return this.peekLog(requestId).toRecorded(this.vocabSize as number);
  }

  private peekLog(requestId: RequestId): RequestLog {
    const log = this.logs.get(requestId);
    if (log === undefined) {
      throw rangeError('ERR_SM_UNKNOWN_REQUEST', 'requestId', `no steps recorded for request ${describe(requestId)}`, { requestId });
    }
    return log;
  }

  /** Drops a request's rows (e.g. an aborted request restarted from scratch); false if it had none. */
  discard(requestId: RequestId): boolean {
    return this.logs.delete(requestId);
  }

  has(requestId: RequestId): boolean {
    return this.logs.has(requestId);
  }

  /** The ids with recorded steps, in the order they first appeared. */
  ids(): RequestId[] {
    return Array.from(this.logs.keys());
  }

  /** The number of steps recorded for a request (0 when none). */
  steps(requestId: RequestId): number {
    return this.logs.get(requestId)?.counts.length ?? 0;
  }

  /** Bytes of storage held for all requests, growth slack included. */
  bytes(): number {
    let total = 0;
    for (const log of this.logs.values()) total += log.bytes();
    return total;
  }

  // The mask of a step, read once into checked arrays of the package's own (readMask), over the recorder's vocab.
  private readStep(mask: unknown, argument: string): MaskSnapshot {
    const step = readMask(mask, argument);
    if (this.vocabSize !== undefined && step.vocab !== this.vocabSize) {
      throw rangeError('ERR_SM_OUT_OF_RANGE', argument, `vocab ${step.vocab} differs from the recorder's ${this.vocabSize}`);
    }
    return step;
  }

  // The tokens of a step, each read once: token ids in [0, vocab), one per row.
  private readTokens(step: MaskSnapshot, tokens: unknown, requestOf: (row: number) => RequestId): Int32Array | undefined {
    if (tokens === undefined) return undefined;
    const list = readList(tokens, 'tokens', 'an array of token ids');
    if (list.length !== step.rows) {
      throw rangeError('ERR_SM_OUT_OF_RANGE', 'tokens', `has ${list.length} tokens for ${step.rows} mask rows`);
    }
    const ids = new Int32Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const token = list[i];
      if (typeof token !== 'number' || (token | 0) !== token || token < 0 || token >= step.vocab) {
        throw rangeError('ERR_SM_OUT_OF_RANGE', 'tokens', `row ${i}: ${describe(token)} is not a token id in [0, ${step.vocab})`, {
          row: i,
          requestId: requestOf(i),
        });
      }
      ids[i] = token;
    }
    return ids;
  }

  // Checks tokens against their rows; returns the rows outside ('count'
  // mode), throws on the first in 'throw' mode. Stores nothing.
  private checkTokens(step: MaskSnapshot, tokens: Int32Array | undefined, requestOf: (row: number) => RequestId): Set<number> | undefined {
    if (tokens === undefined) return undefined;
    let outside: Set<number> | undefined;
    const { offsets, indices } = step;
    for (let i = 0; i < step.rows; i++) {
      const token = tokens[i];
      if (!keeps(indices, offsets[i], offsets[i + 1], token)) {
        if (this.onOutside === 'throw') {
          throw rangeError(
            'ERR_SM_TOKEN_OUTSIDE_MASK',
            'tokens',
            `row ${i} (request ${describe(requestOf(i))}): token ${token} is not in the row's kept set`,
            { row: i, requestId: requestOf(i) },
          );
        }
        (outside ??= new Set()).add(i);
      }
    }
    return outside;
  }

  // A request's steps either all have tokens or none do.
  private checkTokenPresence(id: RequestId, withTokens: boolean): void {
    const log = this.logs.get(id);
    if (log !== undefined && (log.tokens !== null) !== withTokens) {
      throw rangeError(
        'ERR_SM_TOKENS_MISMATCH',
        'tokens',
        `request ${describe(id)} was recorded ${withTokens ? 'without' : 'with'} tokens before; every step of a request needs them or none does`,
        { requestId: id },
      );
    }
  }

  private logFor(id: RequestId, withTokens: boolean): RequestLog {
    let log = this.logs.get(id);
    if (log === undefined) {
      log = new RequestLog(withTokens);
      this.logs.set(id, log);
    }
    return log;
  }

  private appendRow(log: RequestLog, step: MaskSnapshot, row: number, token: number | undefined, outside: boolean): void {
    if (outside) log.outsideSteps.push(log.counts.length);
    log.ids.append(step.indices.subarray(step.offsets[row], step.offsets[row + 1]));
    log.counts.push(step.offsets[row + 1] - step.offsets[row]);
    if (token !== undefined) log.tokens?.push(token);
  }
}
