/**
 * Pool of paged-KV block ids. Free blocks are handed out FIFO; a double free or freeing an unknown id is a
 * bookkeeping bug and throws.
 */
import { SchedulerError } from './errors.ts';

export class BlockPool {
  readonly numBlocks: number;
  private readonly free: number[] = [];
  private head = 0;
  private readonly inUse: Uint8Array;

  constructor(numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks <= 0) {
      throw new SchedulerError('BAD_CONFIG', `numKvBlocks must be a positive integer, got ${numBlocks}`);
    }
    this.numBlocks = numBlocks;
    this.inUse = new Uint8Array(numBlocks);
    for (let i = 0; i < numBlocks; i++) this.free.push(i);
  }

  get numFree(): number {
    return this.free.length - this.head;
  }

  get numUsed(): number {
    return this.numBlocks - this.numFree;
  }

  /** n blocks, or null (and nothing taken) when fewer than n are free. */
  allocate(n: number): number[] | null {
    if (n > this.numFree) return null;
    const out = this.free.slice(this.head, this.head + n);
    this.head += n;
    if (this.head > 1024 && this.head * 2 > this.free.length) {
      this.free.splice(0, this.head);
      this.head = 0;
    }
    for (const b of out) this.inUse[b] = 1;
    return out;
  }

  release(blocks: readonly number[]): void {
    for (const b of blocks) {
      if (!(b >= 0 && b < this.numBlocks) || this.inUse[b] !== 1) {
        throw new SchedulerError('BLOCK_ACCOUNTING', `block ${b} freed twice or never allocated (scheduler bug)`);
      }
      this.inUse[b] = 0;
      this.free.push(b);
    }
  }
}
