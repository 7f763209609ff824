/**
 * Turns one step's schedule into a NativeBatch: tokens/positions of every scheduled slice concatenated, cu_seqlens,
 * context lengths, -1-padded block tables, and sampling inputs only for rows whose next token is needed.
 *
 * BlockTableCache: in a run of decode steps over the same requests (the common case at large batch) the block-table
 * array of the previous step is reused and only the blocks added since are written, instead of copying every
 * request's table each step (800 requests x 136 blocks under the peer protocol: the largest host cost of a step).
 * The native side copies the batch during forward(), so the array is free to change afterwards.
 */
import type { NativeBatch } from '@quantbench/native';
import { SchedulerError } from './errors.ts';
import type { KvCacheManager } from './kv_cache_manager.ts';
import type { SchedRequest } from './request.ts';

export interface ScheduledSlice {
  req: SchedRequest;
  /** Tokens of req put in the cache this step: req.tokens[req.numComputed, req.numComputed + numNew). */
  numNew: number;
  /** True when the slice ends at the last known token, so the step samples the request's next token. */
  samples: boolean;
}

/** The previous step's block-table array and what it holds (BlockTableCache.fill). */
export class BlockTableCache {
  private reqs: SchedRequest[] = [];
  private lens = new Int32Array(0);
  private maxBlocks = 0;
  private tables = new Int32Array(0);
  /** Steps that reused the previous array (for tests). */
  reused = 0;

  /**
   * The -1-padded [S, maxBlocks] block tables of the slices' requests: the previous array with the new blocks
   * written when the requests and the width are unchanged and no table shrank, else a fresh array.
   */
  fill(slices: readonly ScheduledSlice[], kv: KvCacheManager, maxBlocks: number): Int32Array {
    const S = slices.length;
    let same = S === this.reqs.length && maxBlocks === this.maxBlocks;
    for (let i = 0; same && i < S; i++) {
      if (slices[i].req !== this.reqs[i] || kv.blockTable(slices[i].req.id).length < this.lens[i]) same = false;
    }
    if (same) {
      for (let i = 0; i < S; i++) {
        const table = kv.blockTable(slices[i].req.id);
        for (let b = this.lens[i]; b < table.length; b++) this.tables[i * maxBlocks + b] = table[b];
        this.lens[i] = table.length;
      }
      this.reused++;
      return this.tables;
    }
    const tables = new Int32Array(S * maxBlocks).fill(-1);
    const lens = new Int32Array(S);
    for (let i = 0; i < S; i++) {
      const table = kv.blockTable(slices[i].req.id);
      for (let b = 0; b < table.length; b++) tables[i * maxBlocks + b] = table[b];
      lens[i] = table.length;
    }
    this.reqs = slices.map((s) => s.req);
    this.lens = lens;
    this.maxBlocks = maxBlocks;
    this.tables = tables;
    return tables;
  }
}

export function buildBatch(slices: readonly ScheduledSlice[], kv: KvCacheManager, profile = false, cache?: BlockTableCache): NativeBatch {
  const S = slices.length;
  let T = 0;
  let maxBlocks = 1;
  let numSample = 0;
  for (const s of slices) {
    T += s.numNew;
    maxBlocks = Math.max(maxBlocks, kv.blockTable(s.req.id).length);
    if (s.samples) numSample++;
  }
  const tokens = new Int32Array(T);
  const positions = new Int32Array(T);
  const seqStarts = new Int32Array(S + 1);
  const contextLens = new Int32Array(S);
  const blockTables = (cache ?? new BlockTableCache()).fill(slices, kv, maxBlocks);
  const sampleRows = new Int32Array(numSample);
  const temperature = new Float32Array(numSample);
  const topP = new Float32Array(numSample);
  const seeds = new Uint32Array(3 * numSample);

  let row = 0;
  let k = 0;
  let tokenSources: Int32Array | undefined;
  for (let i = 0; i < S; i++) {
    const { req, numNew, samples } = slices[i];
    seqStarts[i] = row;
    const start = req.numComputed;
    for (let j = 0; j < numNew; j++) {
      const t = req.tokens[start + j];
      if (t < 0) {  // sampled by the step in flight (async scheduling): read on the device
        const ph = req.placeholders.find((p) => p.at === start + j);
        if (!ph) throw new SchedulerError('ASYNC_STATE', `request ${req.id}: token ${start + j} is unresolved and no step in flight samples it`);
        tokenSources ??= new Int32Array(T).fill(-1);
        tokenSources[row + j] = ph.sample;
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
