/**
 * Result format of `pnpm eval`. The report reads these. A run directory results/<run>/ holds:
 *   eval_<model>_<precision>.json           EvalResult (lm-eval-like)
 *   samples_<task>_<precision>.jsonl.gz     EvalSample lines (gzip)
 *   fidelity_<model>_<precision>.json       FidelityResult (when an fp16 run of the same model exists)
 */
import type { Precision, Provenance } from '@quantbench/engine';

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
  /** lm-eval task config version. */
  version?: string;
  /** Which file/layout the eval docs came from. */
  evalSource?: string;
  /** Known differences from lm-eval's documents or protocol for this run (empty when none). */
  deviations?: string[];
}

export interface GroupResult {
  /** micro = weighted by size (lm-eval MMLU default), macro = mean of subtasks */
  aggregation: 'micro' | 'macro';
  metrics: Record<string, MetricValue>;
  subtasks: string[];
  recoveryPct?: number;
  primaryMetric: string;
  /** Unweighted mean over the leaf tasks (for micro groups such as mmlu). */
  macroMetrics?: Record<string, MetricValue>;
  /** Documents over all leaf tasks. */
  numSamples?: number;
}

export interface EvalResult {
  schema: 'quantbench.eval.result';
  version: number;
  provenance: Provenance;
  precision: Precision;
  results: Record<string, TaskResult>;
  groups: Record<string, GroupResult>;
  'n-shot': Record<string, number>;
  config: {
    limit: number | null;
    batchSize: number;
    dataDir: string;
    /** Few-shot sampler seed (lm-eval fewshot_random_seed). */
    seed: number;
    /** --num-fewshot override, null when each task used its protocol's count. */
    numFewshot?: number | null;
    /** What ran when a few-shot split was absent. */
    fewshotFallback?: string;
    /** lm-eval's add_bos_token: BOS before every scored context (absent in runs before issue 20, which used false). */
    addBosToken?: boolean;
    /** lm-eval's --apply_chat_template / --fewshot_as_multiturn / --system_instruction (absent: no chat template). */
    applyChatTemplate?: boolean;
    fewshotAsMultiturn?: boolean;
    /** sha256 of the chat template's source (lm-eval's chat_template_sha). */
    chatTemplateSha?: string;
    systemInstruction?: string;
    /** Requests answered by the model in this run vs reused from the request cache. */
    requests?: { total: number; computed: number; fromCache: number };
  };
  versions: Record<string, string>;
  durationS: number;
}

export interface EvalSample {
  task: string;
  docId: number;
  /** Gold choice index, or a generation task's reference reduced to its last line (no dataset text in results). */
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
  precision: Precision;
  reference: string; // "fp16"
  perTask: Record<
    string,
    {
      flipsRightToWrong: number;
      flipsWrongToRight: number;
      numCompared: number;
      /** Mean KL(ref || quant) over the answer-choice distribution (softmax of choice log-likelihoods); null for generation tasks. */
      choiceKl: number | null;
      /** Agreement of argmax choice (generation tasks: identical generated text). */
      top1Agreement: number;
      /** Primary metric of each run, for context. */
      refScore?: number;
      quantScore?: number;
    }
  >;
  /** Next-token distribution fidelity on a text. */
  text?: { file: string; tokens: number; kl: number; top1Agreement: number; pplRef: number; pplQuant: number };
  /** How "correct" is decided for flips: primary metric >= 0.5 (acc, mc1, exact_match are 0/1; mc2 is a mass). */
  flipRule?: string;
}

/** `pnpm eval perplexity --reference`: fp16, the same precision with 16-bit KV, or with 'auto' attention. */
export const PERPLEXITY_REFERENCES = ['fp16', 'kv-auto', 'attention-auto'] as const;
export type PerplexityReference = (typeof PERPLEXITY_REFERENCES)[number];

/** `pnpm eval perplexity --text FILE`: perplexity per precision and next-token fidelity vs fp16. */
export interface PerplexityResult {
  schema: 'quantbench.eval.perplexity';
  version: number;
  file: string;
  /** Text is scored in independent chunks of at most this many characters (each chunk starts a fresh context). */
  chunkChars: number;
  chunks: number;
  perPrecision: Record<string, { ppl: number; tokens: number; provenance: Provenance }>;
  /**
   * KL(reference || precision) of the full next-token distributions, averaged over tokens, and top-1 agreement. The
   * reference is fp16 (default), or with `--reference kv-auto` the same precision with a 16-bit KV cache ("auto") and
   * 'auto' attention, or with `--reference attention-auto` the same precision and KV cache with 'auto'
   * attention.
   */
  vsReference: Record<string, { kl: number; top1Agreement: number; tokens: number; reference?: string; pplRef?: number }>;
  /** vLLM's --kv-cache-dtype of the scored runs (absent: auto). */
  kvCacheDtype?: string;
  /** The engine's attention dtype of the scored runs (absent: auto). */
  attentionDtype?: string;
  /** What vsReference compares against: "fp16", "kv-auto" or "attention-auto" (absent: fp16). */
  reference?: PerplexityReference;
}
