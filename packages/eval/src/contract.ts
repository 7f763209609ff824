/**
 * `pnpm eval`'s value rules beyond yargs' types (see @quantbench/engine's applyContract), and lm-eval's flags read as
 * lm-eval reads them: `--tasks` (same as the positional), `--seed` ("0,1234,1234,1234": python, numpy, torch,
 * few-shot seeds; one value sets all four), `--limit` (below 1: a fraction of each task's documents),
 * `--batch_size auto`.
 */
import { didYouMean, UsageError, type Contract } from '@quantbench/engine';
import { GROUPS, listTasks, TASKS } from '@quantbench/lm-eval-ts-shim';

export const EVAL_CONTRACT: Contract = {
  positiveInts: ['chunk-chars', 'max-chunks'],
  nonNegativeInts: ['num-fewshot'],
  positiveNumbers: ['limit'],
};

/** The task list from the positional and/or `--tasks`; every name must be a known task or group. */
export function resolveTaskArg(positional: string | undefined, tasks: string | undefined): string {
  if (positional !== undefined && tasks !== undefined && positional !== tasks) {
    throw new UsageError(`give the tasks once: positional "${positional}" and --tasks "${tasks}" differ`);
  }
  const spec = tasks ?? positional;
  if (spec === undefined || spec.trim() === '') throw new UsageError('name a task or group: pnpm eval mmlu ... or --tasks mmlu,arc_challenge (pnpm eval list shows them)');
  const names = spec.split(',').map((s) => s.trim());
  const known = listTasks();
  for (const n of names) {
    if (n === '') throw new UsageError(`--tasks: empty name in "${spec}"`);
    if (!TASKS.has(n) && !GROUPS.has(n)) throw new UsageError(`--tasks: unknown task or group "${n}"${didYouMean(n, known)} (pnpm eval list shows them)`);
  }
  return names.join(',');
}

/** lm-eval's --seed: one value, or four comma-separated (random, numpy, torch, fewshot); we use the few-shot seed. */
export function fewshotSeed(spec: string | number | undefined): number {
  if (spec === undefined) return 1234;
  const parts = String(spec).split(',').map((s) => s.trim());
  const nums = parts.map((p) => (p === 'None' ? null : Number(p)));
  if (!(parts.length === 1 || parts.length === 4) || nums.some((x) => x !== null && (!Number.isInteger(x) || x < 0))) {
    throw new UsageError(`--seed takes one integer or four comma-separated (python,numpy,torch,fewshot), got "${spec}"`);
  }
  const v = parts.length === 4 ? nums[3] : nums[0];
  if (v === null) throw new UsageError('--seed: a None few-shot seed is not supported (give an integer)');
  return v;
}

/** lm-eval's --limit: >= 1 a document count (an integer), below 1 a fraction of each task's documents. */
export function checkLimit(limit: number | undefined): number | null {
  if (limit === undefined) return null;
  if (limit >= 1 && !Number.isInteger(limit)) throw new UsageError(`--limit: ${limit} is neither a document count (integer) nor a fraction below 1`);
  return limit;
}

/** lm-eval's --batch_size: a positive integer, or "auto" / "auto:N" (here: the default 64). */
export function parseBatchSize(spec: string | number): number {
  const s = String(spec).trim();
  if (/^auto(:\d+)?$/.test(s)) return 64;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--batch-size must be a positive integer or auto, got "${spec}"`);
  return n;
}
