/**
 * Test-only deterministic ModelRunner (also @quantbench/engine/testing, for the bench's tests) with a real paged
 * "KV cache": each token's state is written to its slot via the block table and the next token is a hash of every
 * state in the context, read back through the block table.
 * Wrong block tables, overwritten blocks, bad positions or seeds change the tokens; malformed batches throw.
 */
import type { NativeBatch, NativeStepResult } from '@quantbench/native';
import type { ModelRunner } from '../src/scheduler/index.ts';
import { rng } from './helpers.ts';
export { rng } from './helpers.ts';

function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export interface FakeRunnerOptions {
  numKvBlocks: number;
  blockSize?: number;
  vocab?: number;
  eosTokenIds?: number[];
  maxModelLen?: number;
}

export class FakeRunner implements ModelRunner {
  readonly numKvBlocks: number;
  readonly blockSize: number;
  readonly eosTokenIds: number[];
  readonly maxModelLen: number;
  readonly vocab: number;
  private readonly cache: Uint32Array;
  private readonly written: Uint8Array;
  /** Every batch seen, for assertions. */
  readonly batches: { numSeqs: number; numTokens: number; rowsPerSeq: number[]; sampled: number }[] = [];

  constructor(o: FakeRunnerOptions) {
    this.numKvBlocks = o.numKvBlocks;
    this.blockSize = o.blockSize ?? 16;
    this.vocab = o.vocab ?? 97;
    this.eosTokenIds = o.eosTokenIds ?? [];
    this.maxModelLen = o.maxModelLen ?? 4096;
    this.cache = new Uint32Array(this.numKvBlocks * this.blockSize);
    this.written = new Uint8Array(this.numKvBlocks * this.blockSize);
  }

  private slot(table: Int32Array, base: number, pos: number): number {
    const b = table[base + Math.floor(pos / this.blockSize)];
    if (b === undefined || b < 0 || b >= this.numKvBlocks) throw new Error(`position ${pos} has no KV block (got ${b})`);
    return b * this.blockSize + (pos % this.blockSize);
  }

  /** Async steps (submit / finish): results not finished yet, the last submitted step's samples, the most in flight. */
  private readonly queued: NativeStepResult[] = [];
  private lastSampled: Int32Array = new Int32Array(0);
  maxInFlight = 0;

  /** Runs the step now, in submission order (as a device stream would), with its tokenSources read first. */
  submit(batch: NativeBatch): void {
    if (this.queued.length >= 2) throw new Error('two steps in flight: finish() first');
    let b = batch;
    if (batch.tokenSources) {
      const tokens = batch.tokens.slice();
      batch.tokenSources.forEach((j, i) => {
        if (j < -1 || j >= this.lastSampled.length) throw new Error(`token source ${j} outside the previous step's samples`);
        if (j >= 0) tokens[i] = this.lastSampled[j];
      });
      b = { ...batch, tokens, tokenSources: undefined };
    }
    const r = this.forward(b);
    this.lastSampled = r.sampled;
    this.queued.push(r);
    this.maxInFlight = Math.max(this.maxInFlight, this.queued.length);
  }

  finish(): NativeStepResult {
    const r = this.queued.shift();
    if (!r) throw new Error('finish() without a submitted step');
    return r;
  }

  forward(batch: NativeBatch): NativeStepResult {
    if (batch.tokenSources) throw new Error('tokenSources need submit()');
    const { tokens, positions, seqStarts, contextLens, blockTables, maxBlocksPerSeq } = batch;
    const S = contextLens.length;
    const T = tokens.length;
    if (seqStarts.length !== S + 1 || seqStarts[0] !== 0 || seqStarts[S] !== T) throw new Error('bad seqStarts');
    if (positions.length !== T || blockTables.length !== S * maxBlocksPerSeq) throw new Error('bad batch sizes');
    const sampleRows = batch.sampleRows ?? new Int32Array(0);
    const n = sampleRows.length;
    if (batch.seeds?.length !== 3 * n || batch.temperature?.length !== n || batch.topP?.length !== n) {
      throw new Error('sampling arrays must have one entry (seeds: three) per sample row');
    }
    const rowSeq = new Int32Array(T);
    const rowsPerSeq: number[] = [];
    for (let s = 0; s < S; s++) {
      const a = seqStarts[s];
      const e = seqStarts[s + 1];
      if (e <= a) throw new Error(`sequence ${s} has no rows`);
      rowsPerSeq.push(e - a);
      for (let r = a; r < e; r++) {
        rowSeq[r] = s;
        if (positions[r] !== positions[a] + (r - a)) throw new Error('positions not contiguous');
      }
      if (contextLens[s] !== positions[e - 1] + 1) throw new Error('contextLens != last position + 1');
    }
    // Write every row's state (reads the previous position's state from the cache, like attention would).
    const state = new Uint32Array(T);
    for (let r = 0; r < T; r++) {
      const s = rowSeq[r];
      const base = s * maxBlocksPerSeq;
      const p = positions[r];
      let prev = 0x1234;
      if (p > 0) {
        const ps = this.slot(blockTables, base, p - 1);
        if (!this.written[ps]) throw new Error(`reading KV slot never written (position ${p - 1})`);
        prev = this.cache[ps];
      }
      const h = mix(mix(prev, tokens[r]), p);
      const sl = this.slot(blockTables, base, p);
      this.cache[sl] = h;
      this.written[sl] = 1;
      state[r] = h;
    }
    const sampled = new Int32Array(n);
    const sampledLogprob = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const r = sampleRows[k];
      if (r < 0 || r >= T) throw new Error('sample row out of range');
      const s = rowSeq[r];
      if (r !== seqStarts[s + 1] - 1) throw new Error('sample row is not the last row of its sequence');
      const counter = batch.seeds![3 * k + 2];
      if (counter !== contextLens[s]) throw new Error(`seed counter ${counter} != position of the sampled token ${contextLens[s]}`);
      // Fold every context entry (through the block table) into the logits' stand-in.
      let acc = 0;
      const base = s * maxBlocksPerSeq;
      for (let p = 0; p < contextLens[s]; p++) acc = mix(acc, this.cache[this.slot(blockTables, base, p)]);
      let h = mix(acc, state[r]);
      if (batch.temperature![k] > 0) h = mix(mix(mix(h, batch.seeds![3 * k]), batch.seeds![3 * k + 1]), counter);
      sampled[k] = h % this.vocab;
      sampledLogprob[k] = -((h >>> 8) % 1000) / 100;
    }
    this.batches.push({ numSeqs: S, numTokens: T, rowsPerSeq, sampled: n });
    return {
      sampled,
      sampledLogprob,
      gatherLogprob: new Float32Array(0),
      gatherIsArgmax: new Uint8Array(0),
      logits: new Float32Array(0),
      blockMs: { attention: 0, mlp: 0, quantization: 0, other: 0, total: 0 },
    };
  }
}


/**
 * A runner that does no model work: every sampled row gets token 1, at once (forward, or submit then finish). For
 * counting or timing the scheduler's own host work (test/scheduler_scaling.test.ts, packages/bench/dev/host_cost.ts),
 * never for what a model computes.
 */
export class NoopRunner implements ModelRunner {
  readonly blockSize = 16;
  readonly eosTokenIds = [0];
  private readonly queued: NativeStepResult[] = [];
  constructor(
    readonly numKvBlocks: number,
    readonly maxModelLen = 4096,
  ) {}
  forward(batch: NativeBatch): NativeStepResult {
    const n = batch.sampleRows?.length ?? 0;
    return {
      sampled: new Int32Array(n).fill(1),
      sampledLogprob: new Float32Array(n),
      gatherLogprob: new Float32Array(0),
      gatherIsArgmax: new Uint8Array(0),
      logits: new Float32Array(0),
      blockMs: { attention: 0, mlp: 0, quantization: 0, other: 0, total: 0 },
    };
  }
  submit(batch: NativeBatch): void {
    this.queued.push(this.forward(batch));
  }
  finish(): NativeStepResult {
    const r = this.queued.shift();
    if (!r) throw new Error('finish() without a submitted step');
    return r;
  }
}
