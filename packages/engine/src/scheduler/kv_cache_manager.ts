/**
 * Per-request block tables over a BlockPool. A request holds ceil(tokens / blockSize) blocks for the tokens whose
 * KV it has (or is about to have) in the cache.
 */
import { BlockPool } from './block_pool.ts';

export class KvCacheManager {
  readonly blockSize: number;
  readonly pool: BlockPool;
  private readonly tables = new Map<string, number[]>();

  constructor(numBlocks: number, blockSize: number) {
    this.blockSize = blockSize;
    this.pool = new BlockPool(numBlocks);
  }

  blocksFor(numTokens: number): number {
    return Math.ceil(numTokens / this.blockSize);
  }

  /**
   * Make room for `numTotalTokens` KV entries of `id` (grows its table). False, with nothing changed, when the pool
   * cannot supply the extra blocks.
   */
  allocateSlots(id: string, numTotalTokens: number): boolean {
    let table = this.tables.get(id);
    const need = this.blocksFor(numTotalTokens) - (table?.length ?? 0);
    if (need <= 0) return true;
    const got = this.pool.allocate(need);
    if (!got) return false;
    if (!table) {
      table = [];
      this.tables.set(id, table);
    }
    for (const b of got) table.push(b);
    return true;
  }

  blockTable(id: string): readonly number[] {
    return this.tables.get(id) ?? [];
  }

  /** Give back every block of `id` (no-op when it holds none). */
  free(id: string): void {
    const table = this.tables.get(id);
    if (!table) return;
    this.tables.delete(id);
    this.pool.release(table);
  }

  get numFreeBlocks(): number {
    return this.pool.numFree;
  }

  get numUsedBlocks(): number {
    return this.pool.numUsed;
  }

  /** Requests currently holding blocks. */
  get numHolders(): number {
    return this.tables.size;
  }
}
