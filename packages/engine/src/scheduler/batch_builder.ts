/**
 * Turns one step's schedule into a NativeBatch: tokens/positions of every scheduled slice concatenated, cu_seqlens,
 * context lengths, -1-padded block tables, and sampling inputs only for rows whose next token is needed.
 */
import type { NativeBatch } from '@quantbench/native';
import type { KvCacheManager } from './kv_cache_manager.ts';
import type { SchedRequest } from './request.ts';

export interface ScheduledSlice {
  req: SchedRequest;
  /** Tokens of req put in the cache this step: req.tokens[req.numComputed, req.numComputed + numNew). */
  numNew: number;
  /** True when the slice ends at the last known token, so the step samples the request's next token. */
  samples: boolean;
}

export function buildBatch(slices: readonly ScheduledSlice[], kv: KvCacheManager, profile = false): NativeBatch {
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
  const blockTables = new Int32Array(S * maxBlocks).fill(-1);
  const sampleRows = new Int32Array(numSample);
  const temperature = new Float32Array(numSample);
  const topP = new Float32Array(numSample);
  const seeds = new Uint32Array(3 * numSample);

  let row = 0;
  let k = 0;
  for (let i = 0; i < S; i++) {
    const { req, numNew, samples } = slices[i];
    seqStarts[i] = row;
    const start = req.numComputed;
    for (let j = 0; j < numNew; j++) {
      tokens[row + j] = req.tokens[start + j];
      positions[row + j] = start + j;
    }
    row += numNew;
    const ctx = start + numNew;
    contextLens[i] = ctx;
    const table = kv.blockTable(req.id);
    for (let b = 0; b < table.length; b++) blockTables[i * maxBlocks + b] = table[b];
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
  return batch;
}
