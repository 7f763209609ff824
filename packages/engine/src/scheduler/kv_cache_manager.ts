/**
 * Per-request block tables over a BlockPool. A request holds ceil(tokens / blockSize) blocks for the tokens whose
 * KV it has (or is about to have) in the cache.
 *
 * Placement: when a request first gets blocks it may also reserve the blocks of its whole expected length (prompt +
 * max tokens), taken from the pool in one run, so that its blocks lie side by side in memory instead of interleaved
 * with every other request that grows at the same pace. At batch 800 that interleaving made the H200 decode step 5-7 %
 * slower (results/gpu-h200-kv-placement-1fd4363/). Reserved blocks that hold no KV yet are lent back to the pool
 * before any allocation would fail, so reservations never change what fits: allocateSlots fails exactly when the
 * blocks that hold KV leave too few free, as without them.
 */
import { BlockPool } from './block_pool.ts';
import { SchedulerError } from './errors.ts';

/** The table of a request that holds no blocks. */
const EMPTY: readonly number[] = Object.freeze([]);

/** The unused tail of a reservation: blocks[next..] are held from the pool but hold no KV yet. */
interface Reserve {
  blocks: number[];
  next: number;
}

export class KvCacheManager {
  readonly blockSize: number;
  readonly pool: BlockPool;
  private readonly tables = new Map<string, number[]>();
  private readonly reserves = new Map<string, Reserve>();
  /** Blocks held by reserves and holding no KV. */
  private numReserved = 0;
  /** A reservation is taken only while this many blocks stay free beside it. */
  private readonly reserveHeadroom: number;

  constructor(numBlocks: number, blockSize: number) {
    this.blockSize = blockSize;
    this.pool = new BlockPool(numBlocks);
    this.reserveHeadroom = Math.ceil(numBlocks / 16);
  }

  blocksFor(numTokens: number): number {
    return Math.ceil(numTokens / this.blockSize);
  }

  /**
   * Make room for `numTotalTokens` KV entries of `id` (grows its table). False, with nothing changed, when the free
   * blocks (reserved ones included) cannot supply the extra blocks. `reserveTokens`, on the request's first
   * allocation: the length it is expected to reach; its blocks are then taken in one run when the pool has room.
   */
  allocateSlots(id: string, numTotalTokens: number, reserveTokens = 0): boolean {
    return this.grow(id, numTotalTokens, reserveTokens) !== null;
  }

  /**
   * allocateSlots that returns the request's block table (null where allocateSlots returns false): the engine core
   * keeps it on the request (SchedRequest.kvTable) for the scheduler and the batch builder. The array is the manager's
   * and changes with the request; it is valid until free(id).
   */
  grow(id: string, numTotalTokens: number, reserveTokens = 0): readonly number[] | null {
    let table = this.tables.get(id);
    let need = this.blocksFor(numTotalTokens) - (table?.length ?? 0);
    if (need <= 0) return table ?? EMPTY;
    if (need > this.numFreeBlocks) return null;
    if (!table) {
      table = [];
      this.tables.set(id, table);
      const want = this.blocksFor(reserveTokens);
      if (want > need && this.pool.numFree - want >= this.reserveHeadroom) {
        const run = this.pool.allocate(want)!;
        for (let i = 0; i < need; i++) table.push(run[i]);
        this.reserves.set(id, { blocks: run, next: need });
        this.numReserved += want - need;
        return table;
      }
    }
    const own = this.reserves.get(id);
    if (own) {
      const take = Math.min(need, own.blocks.length - own.next);
      for (let i = 0; i < take; i++) table.push(own.blocks[own.next++]);
      this.numReserved -= take;
      need -= take;
      if (own.next === own.blocks.length) this.reserves.delete(id);
      if (need === 0) return table;
    }
    if (need > this.pool.numFree) this.releaseReserves();
    const got = this.pool.allocate(need);
    if (!got) {
      // Unreachable: numFreeBlocks covered `need` and every reserve went back to the pool.
      throw new SchedulerError('BLOCK_ACCOUNTING', `KV cache: ${need} blocks not available after releasing the reserves (scheduler bug)`);
    }
    for (const b of got) table.push(b);
    return table;
  }

  /** Gives every reservation's unused blocks back to the pool (when an allocation needs them). */
  private releaseReserves(): void {
    for (const r of this.reserves.values()) this.pool.release(r.blocks.slice(r.next));
    this.reserves.clear();
    this.numReserved = 0;
  }

  blockTable(id: string): readonly number[] {
    return this.tables.get(id) ?? EMPTY;
  }

  /** Give back every block of `id`, its unused reservation included (no-op when it holds none). */
  free(id: string): void {
    const table = this.tables.get(id);
    if (!table) return;
    this.tables.delete(id);
    this.pool.release(table);
    const r = this.reserves.get(id);
    if (r) {
      this.reserves.delete(id);
      this.numReserved -= r.blocks.length - r.next;
      this.pool.release(r.blocks.slice(r.next));
    }
  }

  /** Blocks that hold no KV: the pool's free ones and the unused reserved ones. */
  get numFreeBlocks(): number {
    return this.pool.numFree + this.numReserved;
  }

  /** Blocks that hold KV (reserved ones excluded). */
  get numUsedBlocks(): number {
    return this.pool.numUsed - this.numReserved;
  }

  /** Blocks held by reservations without KV yet. */
  get numReservedBlocks(): number {
    return this.numReserved;
  }

  /** Requests currently holding blocks. */
  get numHolders(): number {
    return this.tables.size;
  }
}
