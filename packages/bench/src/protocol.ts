/**
 * Benchmark protocols of `pnpm bench` (--protocol):
 *
 *   study  (default) the study's serving sweep: max batch 256 by default, 256 prompts (1024 at max batch 256),
 *          any request rate, lengths from --range-ratio, 8192 batched tokens per step.
 *
 *   peer   what TensorRT-LLM's perf overview runs, so our numbers can sit beside theirs
 *          (TensorRT-LLM 1.0, docs/source/performance/perf-overview.md, "Reproducing Benchmarked Results";
 *          https://github.com/NVIDIA/TensorRT-LLM/blob/v1.0.0/docs/source/performance/perf-overview.md):
 *          - fixed input/output lengths: prepare_dataset.py token-norm-dist with --input-stdev 0 --output-stdev 0
 *            (our range ratio 0), every output forced to its full length (EOS ignored: trtllm-bench's --eos_id -1);
 *          - all requests queued at once: `trtllm-bench throughput` "queues all requests in rapid succession"
 *            (our request rate inf, no concurrency cap);
 *          - $num_requests per ISL/OSL from the doc's table (PEER_NUM_REQUESTS below: 30,000 for 128/128, 3,000 for
 *            128/2048 and 2048/128); --num-prompts overrides it and the point then says it ran fewer;
 *          - max batch "as large as fits": the doc passes no max batch size; trtllm-bench tunes it from KV memory,
 *            and its documented defaults are max_batch_size 2048 and max_num_tokens 8192
 *            (docs/source/performance/perf-benchmarking.md, "Other Build Modes"); we default to maxNumSeqs 2048 and
 *            max-num-batched-tokens 8192, with the KV cache sized from free GPU memory at --gpu-memory-utilization
 *            (0.9; the doc used 0.90, often 0.95: --kv_cache_free_gpu_mem_fraction);
 *          - KV cache in FP8 for FP8 precisions (ModelOpt FP8 checkpoints carry an FP8 KV cache);
 *          - a request starts only when its whole length fits in the KV cache beside those running, so none is ever
 *            preempted: TensorRT-LLM's default CapacitySchedulerPolicy GUARANTEED_NO_EVICT
 *            (https://nvidia.github.io/TensorRT-LLM/performance/performance-tuning-guide/useful-runtime-flags.html), our
 *            --capacity-scheduler-policy guaranteed-no-evict (max-utilization, the study's, preempts and recomputes);
 *          - the host's scheduling of step n+1 overlapped with step n on the GPU: the PyTorch backend's overlap
 *            scheduler is on by default (disable_overlap_scheduler=False;
 *            https://nvidia.github.io/TensorRT-LLM/torch/features/overlap_scheduler.html), so the peer protocol runs
 *            with --async-scheduling unless --no-async-scheduling is given (each point records which).
 */
import type { KvCacheDtype, Precision } from '@quantbench/engine';

export const PROTOCOLS = ['study', 'peer'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export function isProtocol(s: string): s is Protocol {
  return (PROTOCOLS as readonly string[]).includes(s);
}


export const PEER_SOURCE = {
  engine: 'TensorRT-LLM 1.0',
  doc: 'docs/source/performance/perf-overview.md',
  url: 'https://github.com/NVIDIA/TensorRT-LLM/blob/v1.0.0/docs/source/performance/perf-overview.md',
  benchmarkingDoc: 'https://github.com/NVIDIA/TensorRT-LLM/blob/v1.0.0/docs/source/performance/perf-benchmarking.md',
} as const;

/**
 * $num_requests of TensorRT-LLM 1.0's perf overview, by "ISL/OSL" (its table "For each input and output sequence
 * length combination ... the $num_requests that were used").
 */
export const PEER_NUM_REQUESTS: Readonly<Record<string, number>> = {
  '128/128': 30000,
  '128/2048': 3000,
  '128/4096': 1500,
  '1000/2000': 1500,
  '2048/128': 3000,
  '2048/2048': 1500,
  '5000/500': 1500,
  '1000/1000': 3000,
  '500/2000': 3000,
  '20000/2000': 1000,
};

/** trtllm-bench's documented default max_batch_size / max_num_tokens (perf-benchmarking.md). */
export const PEER_MAX_NUM_SEQS = 2048;
export const PEER_MAX_NUM_BATCHED_TOKENS = 8192;
/** vLLM's default; TensorRT-LLM's --kv_cache_free_gpu_mem_fraction default is 0.90 too. */
export const DEFAULT_GPU_MEMORY_UTILIZATION = 0.9;

export function peerNumRequests(inputLen: number, outputLen: number): number | undefined {
  return PEER_NUM_REQUESTS[`${inputLen}/${outputLen}`];
}

/** The KV cache dtype the peer protocol wants for a precision: fp8 for the FP8 precisions, else auto. */
export function peerKvCacheDtype(precision: Precision | string): KvCacheDtype {
  return precision === 'fp8-static' || precision === 'fp8-dynamic' ? 'fp8' : 'auto';
}

/** What each point records of its protocol (BenchPoint.protocol). */
export interface ProtocolRecord {
  name: Protocol;
  /** Peer protocol: where its settings come from. */
  source?: string;
  /** Peer protocol: the request count the source states for this ISL/OSL (null: the source has none). */
  numPromptsStated?: number | null;
  /** Peer protocol: set when --num-prompts ran another count than the source states, saying so. */
  numPromptsNote?: string;
  /** Every output runs to its full length (EOS ignored). True in both protocols of our bench. */
  ignoreEos: boolean;
  /**
   * The KV cache dtype the protocol wants for this precision; what ran is EngineSettings.kvCacheDtype (the protocol's
   * unless --kv-cache-dtype overrode it, and the summary then says so).
   */
  kvCacheDtypeWanted: KvCacheDtype;
}
