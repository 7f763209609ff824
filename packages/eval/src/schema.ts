/**
 * Result format of `pnpm eval`. The report reads these. A run directory results/<run>/ holds:
 *   eval_<model>_<precision>.json           EvalResult (lm-eval-like)
 *   samples_<task>_<precision>.jsonl        EvalSample lines
 *   fidelity_<model>_<precision>.json       FidelityResult (when an fp16 run of the same model exists)
 */
import type { Provenance } from '@quantbench/engine';

export const EVAL_SCHEMA_VERSION = 1;

export interface MetricValue {
  value: number;
  stderr: number | null;
}

export interface TaskResult {
  /** metric name -> value, e.g. acc, acc_norm, mc1, mc2, exact_match,strict-match */
  metrics: Record<string, MetricValue>;
  numSamples: number;
  numFewshot: number;
  /** Where the few-shot examples came from, e.g. "mmlu dev", "none (0-shot): ARC train absent". */
  fewshotSource: string;
  /** Recovery vs fp16 of the same model, percent, for the task's primary metric (when an fp16 run exists). */
  recoveryPct?: number;
  primaryMetric: string;
}

export interface GroupResult {
  /** micro = weighted by size (lm-eval MMLU default), macro = mean of subtasks */
  aggregation: 'micro' | 'macro';
  metrics: Record<string, MetricValue>;
  subtasks: string[];
  recoveryPct?: number;
  primaryMetric: string;
}

export interface EvalResult {
  schema: 'quantbench.eval.result';
  version: number;
  provenance: Provenance;
  precision: string;
  results: Record<string, TaskResult>;
  groups: Record<string, GroupResult>;
  'n-shot': Record<string, number>;
  config: { limit: number | null; batchSize: number; dataDir: string; seed: number };
  versions: Record<string, string>;
  durationS: number;
}

export interface EvalSample {
  task: string;
  docId: number;
  target: number | string;
  /** Per choice: summed logprob and is_greedy (multiple choice tasks). */
  choices?: { logprob: number; isGreedy: boolean; numChars: number }[];
  /** Generated text (generation tasks). */
  generation?: string;
  metrics: Record<string, number>;
}

export interface FidelityResult {
  schema: 'quantbench.eval.fidelity';
  version: number;
  provenance: Provenance;
  precision: string;
  reference: string; // "fp16"
  perTask: Record<
    string,
    {
      flipsRightToWrong: number;
      flipsWrongToRight: number;
      numCompared: number;
      /** Mean KL(ref || quant) over the answer-choice distribution. */
      choiceKl: number;
      /** Agreement of argmax choice. */
      top1Agreement: number;
    }
  >;
  /** Next-token distribution fidelity on a text. */
  text?: { file: string; tokens: number; kl: number; top1Agreement: number; pplRef: number; pplQuant: number };
}
