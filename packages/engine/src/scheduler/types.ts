/**
 * Public types of the continuous-batching scheduler (EngineCore). The model side is reached only through
 * ModelRunner, whose forward() takes one varlen NativeBatch (prefill chunks + decodes) per step.
 */
import type { BlockTimesMs, NativeBatch, NativeStepResult } from '@quantbench/native';

/** What the scheduler needs from a loaded model with an allocated paged KV cache. */
export interface ModelRunner {
  forward(batch: NativeBatch): NativeStepResult;
  /**
   * Async steps (EngineCoreOptions.asyncScheduling): submit() queues a step and returns, finish() waits for the oldest
   * submitted step's result; NativeBatch.tokenSources index the samples of the step submitted just before.
   */
  submit?(batch: NativeBatch): void;
  finish?(): NativeStepResult;
  /** Number of KV blocks allocated in the cache (block ids 0..numKvBlocks-1). */
  readonly numKvBlocks: number;
  /** Tokens per KV block (16). */
  readonly blockSize: number;
  readonly eosTokenIds: number[];
  /** Longest sequence (prompt + generated) the model accepts. */
  readonly maxModelLen: number;
}

export interface EngineCoreOptions {
  /** Most sequences running at once (the study's "max batch size"). */
  maxNumSeqs: number;
  /** Token budget of one step (prefill chunk tokens + one per decode). */
  maxNumBatchedTokens: number;
  /** Split long prompts into chunks that share a step with decodes (default true). */
  enableChunkedPrefill?: boolean;
  /** Ask the model for per-block step timings (attention / MLP / quantization / other); StepStats.blockMs. */
  profileBlocks?: boolean;
  /**
   * vLLM's --async-scheduling: schedule and submit step n+1 while step n runs on the device, its decode inputs taken
   * from step n's samples on the device, so the device never waits for the host between steps. Outputs are the same
   * tokens; a request that stops on EOS or a stop token at step n has one discarded row in step n+1. Needs a runner
   * with submit/finish; not with profileBlocks. Default false.
   */
  asyncScheduling?: boolean;
  /**
   * When a request may start (TensorRT-LLM's CapacitySchedulerPolicy, its names):
   *   'max-utilization' (default) start a request when its prompt's blocks fit; when the running ones outgrow the
   *       cache, the most recently admitted is preempted and recomputed later (vLLM's behaviour);
   *   'guaranteed-no-evict' start a request only when the blocks of its whole length (prompt + max tokens) fit beside
   *       the whole lengths of the running ones, so no request is ever preempted (TensorRT-LLM's default; the peer
   *       protocol's).
   */
  capacitySchedulerPolicy?: CapacitySchedulerPolicy;
}

export const CAPACITY_SCHEDULER_POLICIES = ['max-utilization', 'guaranteed-no-evict'] as const;
export type CapacitySchedulerPolicy = (typeof CAPACITY_SCHEDULER_POLICIES)[number];

/** Milliseconds of one forward by block, as the native model reports them when profiling. */
export type BlockTimings = BlockTimesMs;

export interface RequestParams {
  maxTokens: number;
  /** 0 = greedy */
  temperature?: number;
  topP?: number;
  /** Sampling seed (64-bit range up to 2^53); default derived from the request id. */
  seed?: number;
  stopTokenIds?: number[];
  /** Do not stop at EOS: fixed output lengths for benchmarks. */
  ignoreEos?: boolean;
  /** Return the log-probability of each generated token. */
  logprobs?: boolean;
}

export interface AddRequestArgs {
  id: string;
  promptIds: number[];
  params: RequestParams;
  /** performance.now() ms when the request arrived (defaults to the time of addRequest). */
  arrivalTime?: number;
}

/**
 * 'error' is set when a request can never run (prompt longer than the model accepts, or more KV blocks than the
 * cache holds); `error` then says why.
 */
export type SchedFinishReason = 'eos' | 'length' | 'stop' | 'abort' | 'error';

export interface RequestOutput {
  id: string;
  newTokenIds: number[];
  /** Log-probabilities of newTokenIds (empty unless params.logprobs). */
  newLogprobs: number[];
  finished: boolean;
  finishReason?: SchedFinishReason;
  error?: string;
}

export interface StepStats {
  numPrefillTokens: number;
  numDecodeTokens: number;
  /** Running requests after this step's scheduling. */
  numRunning: number;
  numWaiting: number;
  /** Step time outside forward(): scheduling, batch building, output processing. */
  hostMs: number;
  forwardMs: number;
  /** Requests preempted (recompute) during this step's scheduling. */
  preempted: number;
  /** KV blocks in use after the step. */
  kvBlocksUsed: number;
  /** Sequences in the forward batch. */
  numSeqs: number;
  /** Sum over the batch of each sequence's context length (KV entries attended to). */
  sumContextLens: number;
  /** Per-block forward timings (only with profileBlocks and a model that reports them). */
  blockMs?: BlockTimings;
}

export interface StepResult {
  outputs: RequestOutput[];
  stats: StepStats;
}
