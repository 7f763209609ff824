/**
 * One scoring forward under construction (LLM.loglikelihood*): unique inputs as sequences over fresh KV blocks,
 * full blocks shared through a trie keyed by (parent block, block of tokens), and the rows gathered per request.
 */
import type { NativeBatch } from '@quantbench/native';

export function compareIds(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** A full KV block computed by some sequence of the forward: its physical block and the batch row of its first token. */
interface SharedBlock {
  id: number;
  block: number;
  row: number;
}

interface PlannedSeq {
  input: number[];
  /** Position of the first token this sequence computes (a multiple of the block size); rows below come from `shared`. */
  start: number;
  /** Batch row of position `start` (meaningless when the sequence computes nothing). */
  rowStart: number;
  shared: SharedBlock[];
  ownBlocks: number[];
}

/**
 * One scoring forward under construction: unique inputs as sequences over fresh blocks, shared full blocks through a
 * trie keyed by (parent block, 16 tokens), and gathered rows per request.
 */
export class ScoringPlan {
  private seqs: PlannedSeq[] = [];
  private byInput = new Map<string, PlannedSeq>();
  private trie = new Map<string, SharedBlock>();
  private gatherRows: number[] = [];
  private gatherTargets: number[] = [];
  private gathers: { idx: number; first: number; n: number }[] = [];
  private tokens = 0;
  private blocks = 0;
  private nextId = 1;

  constructor(private readonly bs: number, private readonly share: boolean) {}

  get empty(): boolean {
    return this.gathers.length === 0;
  }

  /** Adds a request unless it would push a non-empty plan past the token or block budget. */
  tryAdd(idx: number, input: number[], targets: number[], budget: number, maxBlocks: number): boolean {
    const bs = this.bs;
    let seq = this.share ? this.byInput.get(input.join(',')) : undefined;
    if (!seq) {
      const shared: SharedBlock[] = [];
      if (this.share) {
        let parent = 0;
        for (let b = 0; (b + 1) * bs <= input.length; b++) {
          const node = this.trie.get(blockKey(parent, input, b, bs));
          if (!node) break;
          shared.push(node);
          parent = node.id;
        }
      }
      const start = shared.length * bs;
      const nTok = input.length - start;
      const nBlk = Math.ceil(input.length / bs) - shared.length;
      if (!this.empty && (this.tokens + nTok > budget || this.blocks + nBlk > maxBlocks)) return false;
      const ownBlocks: number[] = [];
      for (let b = 0; b < nBlk; b++) ownBlocks.push(this.blocks + b);
      seq = { input, start, rowStart: this.tokens, shared, ownBlocks };
      this.tokens += nTok;
      this.blocks += nBlk;
      this.seqs.push(seq);
      if (this.share) {
        this.byInput.set(input.join(','), seq);
        let parent = shared.length > 0 ? shared[shared.length - 1]!.id : 0;
        for (let b = shared.length; (b + 1) * bs <= input.length; b++) {
          const node: SharedBlock = { id: this.nextId++, block: ownBlocks[b - shared.length]!, row: seq.rowStart + (b * bs - start) };
          this.trie.set(blockKey(parent, input, b, bs), node);
          parent = node.id;
        }
      }
    }
    const first = this.gatherRows.length;
    const p0 = input.length - targets.length;
    for (let j = 0; j < targets.length; j++) {
      const p = p0 + j;
      this.gatherRows.push(p >= seq.start ? seq.rowStart + (p - seq.start) : seq.shared[Math.floor(p / bs)]!.row + (p % bs));
      this.gatherTargets.push(targets[j]!);
    }
    this.gathers.push({ idx, first, n: targets.length });
    return true;
  }

  build(): { batch: NativeBatch; gathers: { idx: number; first: number; n: number }[] } {
    const run = this.seqs.filter((s) => s.start < s.input.length);
    const maxBlocks = Math.max(1, ...run.map((s) => s.shared.length + s.ownBlocks.length));
    const tokens = new Int32Array(this.tokens);
    const positions = new Int32Array(this.tokens);
    const seqStarts = new Int32Array(run.length + 1);
    const contextLens = new Int32Array(run.length);
    const blockTables = new Int32Array(run.length * maxBlocks).fill(-1);
    run.forEach((s, si) => {
      for (let p = s.start; p < s.input.length; p++) {
        tokens[s.rowStart + p - s.start] = s.input[p]!;
        positions[s.rowStart + p - s.start] = p;
      }
      seqStarts[si + 1] = s.rowStart + s.input.length - s.start;
      contextLens[si] = s.input.length;
      [...s.shared.map((n) => n.block), ...s.ownBlocks].forEach((blk, b) => (blockTables[si * maxBlocks + b] = blk));
    });
    return {
      batch: {
        tokens,
        positions,
        seqStarts,
        contextLens,
        blockTables,
        maxBlocksPerSeq: maxBlocks,
        gatherRows: Int32Array.from(this.gatherRows),
        gatherTargets: Int32Array.from(this.gatherTargets),
        logitRows: new Int32Array(0),
      },
      gathers: this.gathers,
    };
  }
}

function blockKey(parent: number, input: number[], b: number, bs: number): string {
  return `${parent}:${input.slice(b * bs, (b + 1) * bs).join(',')}`;
}
