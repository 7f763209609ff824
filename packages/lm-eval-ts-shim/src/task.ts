/**
 * Declarative task definitions, modelled on lm-eval's YAML task configs (doc_to_text / doc_to_choice /
 * doc_to_target, description, target_delimiter, fewshot_delimiter, fewshot split + sampler, metric_list,
 * generation_kwargs, filter_list). One file per task under tasks/.
 */
import type { Row } from './data/rows.ts';
import type { ExactMatchOptions, FilterPipeline } from './filters.ts';

/** Where a split's rows come from, tried in order; the first present wins. */
export interface DataSource<D> {
  /** Relative to the data dir. A file, or a directory searched (recursively) for shards of `shardsOf`. */
  path: string;
  /** When `path` is a directory: the split name whose shards to read (`test-0000-of-0001.parquet`, `train.jsonl`). */
  shardsOf?: string;
  /** Force a reader; otherwise chosen by file extension. */
  format?: 'jsonl' | 'json' | 'csv' | 'parquet' | 'hellaswag-txt';
  /** Human-readable name of this source, recorded in results (e.g. "ARC-Challenge train (HF layout)"). */
  label: string;
  /** Row -> task document. */
  map: (row: Row, index: number) => D;
  /** Known ways this source's documents differ from lm-eval's (recorded in the result). */
  deviations?: string[];
}

export type OutputType = 'multiple_choice' | 'generate_until';

/** Per-document result of a multiple-choice task: one entry per request (choice or context). */
export interface ChoiceResult {
  logprob: number;
  isGreedy: boolean;
}

interface TaskDefBase<D> {
  /** lm-eval task name, e.g. "arc_challenge", "mmlu_abstract_algebra". */
  name: string;
  /** lm-eval task config version (metadata.version). */
  version: string;
  /** Eval split name as lm-eval calls it ("test", "validation"). */
  evalSplit: string;
  /** Few-shot split name as lm-eval calls it ("dev", "train"), null when the task has none. */
  fewshotSplit: string | null;
  data: { eval: DataSource<D>[]; fewshot?: DataSource<D>[] };
  /** Prepended to the prompt (MMLU: "The following are multiple choice questions (with answers) about X.\n\n"). */
  description?: string;
  targetDelimiter: string;
  fewshotDelimiter: string;
  /** lm-eval's default num_fewshot for this task (0 unless the config says otherwise). */
  numFewshot: number;
  /** 'first_n': the first k few-shot docs in order (MMLU); 'default': Python random.sample with the seeded rnd. */
  sampler: 'first_n' | 'default';
  /** Metric names this task reports, in order; the first is the primary one unless primaryMetric says otherwise. */
  metrics: string[];
  primaryMetric: string;
}

/** Choices go in the continuation: request i = (context, targetDelimiter + choice[i]). */
export interface MultipleChoiceTaskDef<D> extends TaskDefBase<D> {
  outputType: 'multiple_choice';
  multipleInput?: false;
  docToText: (doc: D) => string;
  docToChoice: (doc: D) => string[];
  gold: (doc: D) => number;
  /** Per-doc metrics from the choice log-likelihoods; default acc + acc_norm (see metrics.ts). */
  processResults?: (doc: D, results: ChoiceResult[], choices: string[]) => Record<string, number>;
}

/**
 * WinoGrande-style "partial" scoring: choices go in the context, request i = (prefix + context[i],
 * targetDelimiter + continuation). Few-shot examples show the gold context followed by the continuation.
 */
export interface MultipleInputTaskDef<D> extends TaskDefBase<D> {
  outputType: 'multiple_choice';
  multipleInput: true;
  docToContexts: (doc: D) => string[];
  docToContinuation: (doc: D) => string;
  gold: (doc: D) => number;
  processResults?: (doc: D, results: ChoiceResult[], choices: string[]) => Record<string, number>;
}

export interface GenerationTaskDef<D> extends TaskDefBase<D> {
  outputType: 'generate_until';
  docToText: (doc: D) => string;
  docToTarget: (doc: D) => string;
  generation: { until: string[]; maxGenToks: number };
  /** Named filter pipelines (lm-eval filter_list); each yields `exact_match,<name>`. */
  filters: FilterPipeline[];
  exactMatch: ExactMatchOptions;
}

export type TaskDef<D> = MultipleChoiceTaskDef<D> | MultipleInputTaskDef<D> | GenerationTaskDef<D>;

/** A group of tasks (lm-eval group yaml): aggregated micro (weighted by size) or macro. */
export interface GroupDef {
  name: string;
  /** Member task or group names. */
  members: string[];
  aggregation: 'micro' | 'macro';
  /** Per-member num_fewshot overrides (leaderboard-v1). */
  numFewshot?: Record<string, number>;
  /** Metric aggregated over members; 'primary' = each member's primary metric (leaderboard average). */
  metric: string | 'primary';
}
