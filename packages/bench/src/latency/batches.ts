/**
 * The raw steps `pnpm bench latency` times: a decode step of B sequences at one context length, and one prompt's
 * prefill. Token ids are random (fresh per step); the block tables give every sequence its own KV blocks, either
 * each sequence's blocks side by side ('contiguous') or in the order a serving run hands them out when every sequence
 * grows by one block per 16 steps ('interleaved': block j of sequence s is j * batch + s).
 */
import { KV_BLOCK_SIZE, type NativeBatch } from '@quantbench/engine';
import type { SeededRng } from '../rng.ts';

/** KV blocks a decode step of `batch` sequences at context `context` needs. */
export function decodeBlocks(batch: number, context: number): number {
  return batch * Math.ceil(context / KV_BLOCK_SIZE);
}

export type KvBlockOrder = 'contiguous' | 'interleaved';
export const KV_BLOCK_ORDERS: readonly KvBlockOrder[] = ['contiguous', 'interleaved'];

export function decodeBatch(rng: SeededRng, batch: number, context: number, vocab: number, profile: boolean, order: KvBlockOrder = 'contiguous'): NativeBatch {
  const nb = Math.ceil(context / KV_BLOCK_SIZE);
  const blockTables = new Int32Array(batch * nb);
  for (let s = 0; s < batch; s++) for (let j = 0; j < nb; j++) blockTables[s * nb + j] = order === 'contiguous' ? s * nb + j : j * batch + s;
  return {
    tokens: Int32Array.from({ length: batch }, () => rng.integers(0, vocab)),
    positions: new Int32Array(batch).fill(context - 1),
    seqStarts: Int32Array.from({ length: batch + 1 }, (_, i) => i),
    contextLens: new Int32Array(batch).fill(context),
    blockTables,
    maxBlocksPerSeq: nb,
    sampleRows: Int32Array.from({ length: batch }, (_, i) => i),
    temperature: new Float32Array(batch),
    topP: new Float32Array(batch).fill(1),
    seeds: new Uint32Array(3 * batch),
    profile,
  };
}

export function prefillBatch(rng: SeededRng, tokens: number, vocab: number, profile: boolean): NativeBatch {
  const nb = Math.ceil(tokens / KV_BLOCK_SIZE);
  return {
    tokens: Int32Array.from({ length: tokens }, () => rng.integers(0, vocab)),
    positions: Int32Array.from({ length: tokens }, (_, i) => i),
    seqStarts: Int32Array.from([0, tokens]),
    contextLens: Int32Array.from([tokens]),
    blockTables: Int32Array.from({ length: nb }, (_, i) => i),
    maxBlocksPerSeq: nb,
    sampleRows: Int32Array.from([tokens - 1]),
    temperature: new Float32Array(1),
    topP: new Float32Array(1).fill(1),
    seeds: new Uint32Array(3),
    profile,
  };
}
