/** Scheduler-side state of one request. */
import type { RequestParams, SchedFinishReason } from './types.ts';

export type RequestStatus = 'waiting' | 'running' | 'finished';

export class SchedRequest {
  readonly id: string;
  readonly promptLen: number;
  /** Prompt followed by generated tokens. */
  readonly tokens: number[];
  readonly params: RequestParams;
  readonly arrivalTime: number;
  readonly seedLo: number;
  readonly seedHi: number;
  readonly stopIds: ReadonlySet<number>;
  /** Tokens whose KV is in the cache. */
  numComputed = 0;
  status: RequestStatus = 'waiting';
  numPreemptions = 0;
  finishReason?: SchedFinishReason;
  error?: string;
  /**
   * Async scheduling: tokens sampled by a submitted step and not read yet. Each sits in `tokens` at `at` as -1 until
   * its step finishes; `sample` is its index among that step's samples (the next step's NativeBatch.tokenSources).
   */
  placeholders: { at: number; sample: number }[] = [];
  /** Async scheduling: a submitted step ends the request by length, so it is not scheduled again. */
  finishing = false;
  /** Produced since the last step() returned. */
  pendingTokens: number[] = [];
  pendingLogprobs: number[] = [];

  constructor(id: string, promptIds: readonly number[], params: RequestParams, arrivalTime: number, seed: number) {
    this.id = id;
    this.promptLen = promptIds.length;
    this.tokens = promptIds.slice();
    this.params = params;
    this.arrivalTime = arrivalTime;
    this.seedLo = seed % 0x100000000 >>> 0;
    this.seedHi = Math.floor(seed / 0x100000000) >>> 0;
    this.stopIds = new Set(params.stopTokenIds ?? []);
  }

  get numTokens(): number {
    return this.tokens.length;
  }

  get numOutput(): number {
    return this.tokens.length - this.promptLen;
  }

  /** Tokens still to be put in the KV cache before the next token can be sampled. */
  get numUncomputed(): number {
    return this.tokens.length - this.numComputed;
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
