/**
 * Turns one step's schedule into a NativeBatch: tokens/positions of every scheduled slice concatenated, cu_seqlens,
 * context lengths, -1-padded block tables, and sampling inputs only for rows whose next token is needed.
 *
 * BatchArrays: the arrays are the engine's, reused from step to step (the native side copies the batch during
 * forward() / submit(), so they are free to change afterwards). In a run of decode steps over the same requests (the
 * common case at large batch) the block-table array of the previous step is kept and only the blocks added since are
 * written, instead of copying every request's table each step (800 requests x 136 blocks under the peer protocol).
 */
import type { NativeBatch } from '@quantbench/native';
import { SchedulerError } from './errors.ts';
import type { KvCacheManager } from './kv_cache_manager.ts';
import type { SchedRequest } from './request.ts';

export interface ScheduledSlice {
  req: SchedRequest;
  /** Tokens of req put in the cache this step: req.tokenAt(i) for i in [req.numComputed, req.numComputed + numNew). */
  numNew: number;
  /** True when the slice ends at the last known token, so the step samples the request's next token. */
  samples: boolean;
}

type Scratch = 'tokens' | 'positions' | 'seqStarts' | 'contextLens' | 'sampleRows' | 'tokenSources' | 'lens' | 'tables';

/**
 * The arrays a step's NativeBatch is built in, kept from step to step (the native side copies a batch when it is
 * submitted, so they are free to change afterwards): typed arrays of at least the size needed, handed out as views
 * (allocating ~10 typed arrays per step, each with its own off-heap buffer, cost more host time than filling them,
 * and their external memory drove the young-generation collector), and the previous step's block tables with what
 * they hold (fill()).
 */
export class BatchArrays {
  private readonly i32 = new Map<Scratch, Int32Array<ArrayBuffer>>();
  private f32a = new Float32Array(0);
  private f32b = new Float32Array(0);
  private u32 = new Uint32Array(0);
  private reqs: SchedRequest[] = [];
  private lens = new Int32Array(0);
  private maxBlocks = 0;
  private tables = new Int32Array(0);
  /** Steps that reused the previous block tables (for tests). */
  reused = 0;

  /** An Int32Array view of n elements over the scratch buffer `name` (contents: whatever the last step left). */
  int32(name: Scratch, n: number): Int32Array<ArrayBuffer> {
    let buf = this.i32.get(name);
    if (!buf || buf.length < n) {
      buf = new Int32Array(Math.max(n, 2 * (buf?.length ?? 0), 64));
      this.i32.set(name, buf);
    }
    return buf.subarray(0, n);
  }

  /** Views of n elements for the sampling parameters: temperature, top-p, and 3n seed words. */
  sampling(n: number): { temperature: Float32Array; topP: Float32Array; seeds: Uint32Array } {
    if (this.f32a.length < n) {
      const cap = Math.max(n, 2 * this.f32a.length, 64);
      this.f32a = new Float32Array(cap);
      this.f32b = new Float32Array(cap);
      this.u32 = new Uint32Array(3 * cap);
    }
    return { temperature: this.f32a.subarray(0, n), topP: this.f32b.subarray(0, n), seeds: this.u32.subarray(0, 3 * n) };
  }

  /**
   * The -1-padded [S, maxBlocks] block tables of the slices' requests (`tables[i]`: slice i's, from the KV cache
   * manager): the previous step's array with the new blocks written when the requests and the width are unchanged and
   * no table shrank, else rebuilt.
   */
  fill(slices: readonly ScheduledSlice[], tables: readonly (readonly number[])[], maxBlocks: number): Int32Array {
    const S = slices.length;
    let same = S === this.reqs.length && maxBlocks === this.maxBlocks;
    const prevReqs = this.reqs, prevLens = this.lens;
    for (let i = 0; same && i < S; i++) {
      if (slices[i].req !== prevReqs[i] || tables[i].length < prevLens[i]) same = false;
    }
    if (same) {
      const out = this.tables;
      for (let i = 0; i < S; i++) {
        const table = tables[i];
        const n = table.length;
        for (let b = prevLens[i]; b < n; b++) out[i * maxBlocks + b] = table[b];
        prevLens[i] = n;
      }
      this.reused++;
      return out;
    }
    const out = this.int32('tables', S * maxBlocks).fill(-1);
    const lens = this.int32('lens', S);
    for (let i = 0; i < S; i++) {
      const table = tables[i];
      for (let b = 0; b < table.length; b++) out[i * maxBlocks + b] = table[b];
      lens[i] = table.length;
    }
    this.reqs = slices.map((s) => s.req);
    this.lens = lens;
    this.maxBlocks = maxBlocks;
    this.tables = out;
    return out;
  }
}

/**
 * `arrays`: the engine's BatchArrays, reused from step to step (the batch returned lives until the next call with
 * them); without it the batch gets arrays of its own.
 */
export function buildBatch(slices: readonly ScheduledSlice[], kv: KvCacheManager, profile = false, arrays = new BatchArrays()): NativeBatch {
  const S = slices.length;
  let T = 0;
  let maxBlocks = 1;
  let numSample = 0;
  const tables: (readonly number[])[] = new Array(S);
  for (let i = 0; i < S; i++) {
    const s = slices[i];
    // The reference the engine core keeps while the request holds blocks (SchedRequest.kvTable), else a lookup.
    const table = s.req.kvTable ?? kv.blockTable(s.req.id);  // fill() reads the same arrays
    tables[i] = table;
    T += s.numNew;
    if (table.length > maxBlocks) maxBlocks = table.length;
    if (s.samples) numSample++;
  }
  const tokens = arrays.int32('tokens', T);
  const positions = arrays.int32('positions', T);
  const seqStarts = arrays.int32('seqStarts', S + 1);
  const contextLens = arrays.int32('contextLens', S);
  const blockTables = arrays.fill(slices, tables, maxBlocks);
  const sampleRows = arrays.int32('sampleRows', numSample);
  const { temperature, topP, seeds } = arrays.sampling(numSample);

  let row = 0;
  let k = 0;
  let tokenSources: Int32Array | undefined;
  for (let i = 0; i < S; i++) {
    const { req, numNew, samples } = slices[i];
    seqStarts[i] = row;
    const start = req.numComputed;
    for (let j = 0; j < numNew; j++) {
      const t = req.tokenAt(start + j);
      if (t < 0) {  // sampled by the step in flight (async scheduling): read on the device
        const sample = req.placeholderSample(start + j);
        if (sample < 0) throw new SchedulerError('ASYNC_STATE', `request ${req.id}: token ${start + j} is unresolved and no step in flight samples it`);
        tokenSources ??= arrays.int32('tokenSources', T).fill(-1);
        tokenSources[row + j] = sample;
        tokens[row + j] = 0;
      } else {
        tokens[row + j] = t;
      }
      positions[row + j] = start + j;
    }
    row += numNew;
    const ctx = start + numNew;
    contextLens[i] = ctx;
    if (samples) {
      sampleRows[k] = row - 1;
      temperature[k] = req.params.temperature ?? 0;
      topP[k] = req.params.topP ?? 1;
      seeds[3 * k] = req.seedLo;
      seeds[3 * k + 1] = req.seedHi;
      // Counter = position of the token being sampled: the same draw after preemption or chunking.
      seeds[3 * k + 2] = ctx;
      k++;
    }
  }
  seqStarts[S] = row;
  const batch: NativeBatch = { tokens, positions, seqStarts, contextLens, blockTables, maxBlocksPerSeq: maxBlocks, sampleRows, temperature, topP, seeds };
  if (profile) batch.profile = true;
  if (tokenSources) batch.tokenSources = tokenSources;
  return batch;
}
