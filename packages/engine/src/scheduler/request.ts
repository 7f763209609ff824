/** Scheduler-side state of one request. */
import { SchedulerError } from './errors.ts';
import type { RequestParams, SchedFinishReason } from './types.ts';

export type RequestStatus = 'waiting' | 'running' | 'finished';

export class SchedRequest {
  readonly id: string;
  readonly promptLen: number;
  /**
   * Prompt followed by generated tokens: tokenBuf[0, numTokens). A typed array sized for the expected length up front
   * (grown by doubling past it): at batch 800 a number[] per request reallocated as it grew, and the young-generation
   * collector copied those arrays at every scavenge.
   */
  private tokenBuf: Int32Array;
  private len: number;
  readonly params: RequestParams;
  readonly arrivalTime: number;
  readonly seedLo: number;
  readonly seedHi: number;
  readonly stopIds: ReadonlySet<number>;
  /** Tokens whose KV is in the cache. */
  numComputed = 0;
  status: RequestStatus = 'waiting';
  numPreemptions = 0;
  /** The engine core's schedule() call that last gave this request a slice (its per-step "scheduled" mark). */
  scheduledIn = -1;
  /**
   * The request's block table in the KV cache manager (the array KvCacheManager.grow returned: it grows in place), or
   * null while it holds no blocks. The engine core sets it when it allocates and clears it whenever it frees them.
   */
  kvTable: readonly number[] | null = null;
  /** 'guaranteed-no-evict': the blocks of its whole length the engine core counts as taken while it holds blocks. */
  committedBlocks = 0;
  finishReason?: SchedFinishReason;
  error?: string;
  /**
   * Async scheduling: tokens sampled by submitted steps and not read yet. They are the request's last phCount
   * tokens, from position phStart, each -1 until its step finishes (oldest first); phSamples[(phHead + i) % length]
   * is the i-th one's index among its step's samples (the next step's NativeBatch.tokenSources). A ring of numbers
   * rather than an object per token: this runs for every request in every step.
   */
  private phStart = 0;
  private phCount = 0;
  private phHead = 0;
  private phSamples = new Int32Array(4);
  /** Async scheduling: a submitted step ends the request by length, so it is not scheduled again. */
  finishing = false;

  /** `maxLen`: the most tokens the request can reach (the engine's maxModelLen); sizes the token buffer. */
  constructor(id: string, promptIds: readonly number[], params: RequestParams, arrivalTime: number, seed: number, maxLen = Infinity) {
    this.id = id;
    this.promptLen = promptIds.length;
    // Room for its whole length up to 4096 outputs (more grows by doubling: a large max_tokens is not allocated up front).
    const room = Math.min(promptIds.length + Math.min(params.maxTokens, 4096), maxLen);
    this.tokenBuf = new Int32Array(Math.max(1, promptIds.length, room));
    this.tokenBuf.set(promptIds);
    this.len = promptIds.length;
    this.params = params;
    this.arrivalTime = arrivalTime;
    this.seedLo = seed % 0x100000000 >>> 0;
    this.seedHi = Math.floor(seed / 0x100000000) >>> 0;
    this.stopIds = new Set(params.stopTokenIds ?? []);
  }

  get numTokens(): number {
    return this.len;
  }

  get numOutput(): number {
    return this.len - this.promptLen;
  }

  /** Token i of prompt + output (-1: a placeholder, async scheduling). */
  tokenAt(i: number): number {
    return this.tokenBuf[i];
  }

  appendToken(token: number): void {
    if (this.len === this.tokenBuf.length) {
      const grown = new Int32Array(2 * this.tokenBuf.length);
      grown.set(this.tokenBuf);
      this.tokenBuf = grown;
    }
    this.tokenBuf[this.len++] = token;
  }

  /** Async scheduling: appends a -1 for the token that sample `sample` of the step being submitted will be. */
  addPlaceholder(sample: number): void {
    if (this.phCount === 0) this.phStart = this.len;
    else if (this.phStart + this.phCount !== this.len) {
      throw new SchedulerError('ASYNC_STATE', `request ${this.id}: a token was appended behind an unresolved placeholder`);
    }
    if (this.phCount === this.phSamples.length) {
      const grown = new Int32Array(2 * this.phSamples.length);
      for (let i = 0; i < this.phCount; i++) grown[i] = this.phSamples[(this.phHead + i) % this.phSamples.length];
      this.phSamples = grown;
      this.phHead = 0;
    }
    this.phSamples[(this.phHead + this.phCount) % this.phSamples.length] = sample;
    this.phCount++;
    this.appendToken(-1);
  }

  /** The step sample that fills the placeholder at position `at`, or -1 when no placeholder is there. */
  placeholderSample(at: number): number {
    const i = at - this.phStart;
    return i >= 0 && i < this.phCount ? this.phSamples[(this.phHead + i) % this.phSamples.length] : -1;
  }

  /** Fills the oldest placeholder with its step's sampled token. */
  resolvePlaceholder(token: number): void {
    if (this.phCount === 0) throw new SchedulerError('ASYNC_STATE', `request ${this.id}: a sample came back for no placeholder`);
    this.tokenBuf[this.phStart++] = token;
    this.phHead = (this.phHead + 1) % this.phSamples.length;
    this.phCount--;
  }

  /** Placeholders not filled yet. */
  get numPlaceholders(): number {
    return this.phCount;
  }

  /** Tokens still to be put in the KV cache before the next token can be sampled. */
  get numUncomputed(): number {
    return this.len - this.numComputed;
  }
}

/** FNV-1a 32-bit hash of the id: the default sampling seed, stable across runs. */
export function seedFromId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
