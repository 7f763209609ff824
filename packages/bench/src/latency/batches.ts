/**
 * The raw steps `pnpm bench latency` times: a decode step of B sequences at one context length, and one prompt's
 * prefill. Token ids are random (fresh per step); the block tables give every sequence its own KV blocks, either
 * each sequence's blocks side by side ('contiguous') or in the order a serving run hands them out when every sequence
 * grows by one block per 16 steps ('interleaved': block j of sequence s is j * batch + s). A point whose KV does not
 * fit may run with fewer distinct sequences (`distinct` < batch, `pnpm bench latency --kv-share-to-fit`): sequence s
 * reads the blocks of sequence s mod distinct, so the step reads the KV bytes of the whole batch from a cache that
 * holds `distinct` sequences.
 */
import { KV_BLOCK_SIZE, type NativeBatch } from '@quantbench/engine';
import type { SeededRng } from '../rng.ts';

/**
 * Blocks between the first blocks of two sequences: what the context needs, or (reserveTokens > 0) what a request of
 * reserveTokens reserves — a serving run places each request's whole expected length in one run at admission, so
 * at a shorter context its sequences lie that far apart.
 */
export function decodeStride(context: number, reserveTokens = 0): number {
  return Math.max(Math.ceil(context / KV_BLOCK_SIZE), Math.ceil(reserveTokens / KV_BLOCK_SIZE));
}

/** KV blocks a decode step of `batch` sequences at context `context` spans. */
export function decodeBlocks(batch: number, context: number, reserveTokens = 0): number {
  return batch * decodeStride(context, reserveTokens);
}

/** The most sequences whose KV blocks fit in `kvBlocks` (decodeBatch's `distinct` for a point that does not fit). */
export function decodeSequencesThatFit(kvBlocks: number, context: number, reserveTokens = 0): number {
  return Math.floor(kvBlocks / decodeStride(context, reserveTokens));
}

export type KvBlockOrder = 'contiguous' | 'interleaved';
export const KV_BLOCK_ORDERS: readonly KvBlockOrder[] = ['contiguous', 'interleaved'];

export function decodeBatch(
  rng: SeededRng,
  batch: number,
  context: number,
  vocab: number,
  profile: boolean,
  order: KvBlockOrder = 'contiguous',
  reserveTokens = 0,
  distinct = batch,
): NativeBatch {
  const nb = Math.ceil(context / KV_BLOCK_SIZE);
  const stride = decodeStride(context, reserveTokens);
  const blockTables = new Int32Array(batch * nb);
  for (let s = 0; s < batch; s++) {
    const d = s % distinct;
    for (let j = 0; j < nb; j++) blockTables[s * nb + j] = order === 'contiguous' ? d * stride + j : j * distinct + d;
  }
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
