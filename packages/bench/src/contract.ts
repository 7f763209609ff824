/** `pnpm bench`'s value rules beyond yargs' types (see @quantbench/engine's applyContract). */
import type { Contract } from '@quantbench/engine';

export const BENCH_CONTRACT: Contract = {
  positiveInts: [
    'input-len', 'output-len', 'num-prompts', 'max-concurrency', 'kv-blocks', 'decode-steps', 'threads', 'dim',
  ],
  nonNegativeInts: ['seed'],
  positiveNumbers: ['prompts-per-batch', 'burstiness', 'time-ms', 'gpu-memory-utilization'],
  nonNegativeNumbers: ['range-ratio'],
};
