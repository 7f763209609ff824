/** Version of this shim (results record it beside each task config version). */
export const SHIM_VERSION = '0.1.0';

export * from './lm.ts';
export * from './errors.ts';
export * from './task.ts';
export * from './python_random.ts';
export * from './metrics.ts';
export * from './filters.ts';
export * from './plan.ts';
export * from './chat.ts';
export * from './registry.ts';
export * from './data/rows.ts';
export * from './data/csv.ts';
export * from './data/readers.ts';
export * from './data/resolve.ts';
export * from './tasks/mmlu.ts';
export * from './tasks/arc.ts';
export * from './tasks/hellaswag.ts';
export * from './tasks/truthfulqa.ts';
export * from './tasks/winogrande.ts';
export * from './tasks/gsm8k.ts';
export * from './tasks/leaderboard_v1.ts';
export { pyStrip, pyLstrip, pyRstrip, pyIsSpace } from './pystr.ts';
