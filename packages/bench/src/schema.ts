/**
 * Result format of `pnpm bench` (serving sweeps) and `pnpm bench kernels`. The report reads these.
 * A run directory results/<run>/ holds:
 *   points.jsonl      one BenchPoint per line, appended as each point finishes
 *   summary.json      BenchSummary (written at the end)
 *   summary.csv       one row per point (flattened metrics)
 *   breakdown.jsonl   BlockBreakdownPoint lines (only with --profile-blocks)
 *   kernels.jsonl     KernelTiming lines (only for `pnpm bench kernels`)
 */
import type { Precision, Provenance } from '@quantbench/engine';
import type { GpuTelemetry } from './gpu_telemetry.ts';
import type { PeerComparison } from './peers.ts';
import type { ProtocolRecord } from './protocol.ts';

/** The provenance every record carries (the engine's one type; the report reads it from here). */
export type { Provenance, WeightsKind } from '@quantbench/engine';

export const BENCH_SCHEMA_VERSION = 1;

export interface Distribution {
  mean: number;
  median: number;
  p90: number;
  p99: number;
  std: number;
  min: number;
  max: number;
}

export interface ServingMetrics {
  completed: number;
  failed: number;
  durationS: number;
  totalInputTokens: number;
  totalOutputTokens: number;
  requestThroughput: number; // req/s
  outputThroughput: number; // output tok/s
  totalTokenThroughput: number; // (input+output) tok/s
  ttftMs: Distribution;
  tpotMs: Distribution;
  itlMs: Distribution;
  e2elMs: Distribution;
  /** Present when --goodput was given. */
  goodput?: { slo: Record<string, number>; requestsPerS: number; fraction: number };
  /** Scheduler stats */
  preemptions: number;
  /**
   * host_overhead_fraction: the part of the serving loop's step time spent outside forward() (scheduling, batch
   * building, output processing, the bench's own per-step work) = 1 - sum(forwardMs) / sum(step loop ms); steps
   * holds both means. Idle waits for the next arrival are not step time. With --async-scheduling the host work
   * overlaps the device's step (forwardMs is then the wait for a step's results): the fraction says how much of the
   * step the host is busy, not how long the device waits for it.
   */
  hostOverheadFraction?: number;
}

export interface WorkloadSpec {
  name: string; // prefill-heavy | decode-heavy | custom
  inputLen: number;
  outputLen: number;
  rangeRatio: number;
  numPrompts: number;
  seed: number;
}

export interface EngineSettings {
  maxNumSeqs: number; // the study's "max batch size"
  maxNumBatchedTokens: number;
  blockSize: number;
  numKvBlocks: number;
  /** Bytes of one KV block (the native kvBlockBytes(): K and V of all layers, 1 byte per element with an FP8 KV cache). */
  kvBlockBytes?: number;
  /** Set when the engine sized its KV cache from this fraction of GPU memory (CUDA, no --kv-blocks). */
  gpuMemoryUtilization?: number;
  cudaGraphs?: boolean;
  /** KV cache dtype the engine ran ('auto' = the activation dtype; --kv-cache-dtype); absent in runs before the peer protocol. */
  kvCacheDtype?: string;
  /** --async-scheduling: step n+1 submitted while step n ran (absent in runs before the flag: off). */
  asyncScheduling?: boolean;
  /**
   * --capacity-scheduler-policy: max-utilization (requests preempted and recomputed when the KV cache runs out) or
   * guaranteed-no-evict (a request starts only when its whole length fits; TensorRT-LLM's default). Absent in runs
   * before the flag: max-utilization.
   */
  capacitySchedulerPolicy?: string;
  /** --ncu-steps: engine steps [first, end) ran under a profiler window; the point's timings include its replays. */
  ncuSteps?: [number, number];
}

export interface RooflineRatio {
  /** What bounds this point: bandwidth or compute. */
  bound: 'bandwidth' | 'compute';
  /** Ideal time under the bound divided by measured time (1.0 = at the roofline). */
  ratio: number;
  /** Assumed ceilings used. */
  peakBandwidthTBs?: number;
  peakTflops?: number;
  note?: string;
}

export interface BenchPoint {
  schema: 'quantbench.bench.point';
  version: number;
  /** Unique key of the point inside its run: workload|precision|batch|rate */
  key: string;
  provenance: Provenance;
  /** The protocol the point was run under (absent in runs before it existed: the study protocol). */
  protocol?: ProtocolRecord;
  workload: WorkloadSpec;
  /** Our engine's precision; for --backend openai the run's --label (what the server serves is the user's to say). */
  precision: Precision | (string & {});
  engine: EngineSettings;
  requestRate: number | 'inf';
  burstiness: number;
  maxConcurrency: number | null;
  metrics: ServingMetrics;
  roofline?: RooflineRatio;
  /** Why there is no roofline ratio (e.g. CPU backend: ceiling not measured). */
  rooflineNote?: string;
  /** Engine step accounting of the point. */
  steps?: {
    count: number;
    /** Inside EngineCore.step(), outside forward() (StepStats.hostMs). */
    meanHostMs: number;
    meanForwardMs: number;
    /** The whole serving-loop iteration of a step (step() plus the bench's token bookkeeping and event-loop turn). */
    meanLoopMs?: number;
  };
  /** Why requests of this point failed (e.g. one that can never be scheduled), grouped by message; absent when none did. */
  errors?: { message: string; count: number }[];
  /**
   * The GPU's SM clock, power and temperature while the point ran (nvidia-smi every 500 ms; gpu_telemetry.ts): a
   * power-capped run's clock explains a throughput a cooler machine beats. Absent on the CPU backend, with
   * --no-gpu-telemetry, and in runs before it existed.
   */
  gpuTelemetry?: GpuTelemetry;
  /** Why a point that asked for telemetry has none (nvidia-smi missing or failing). */
  gpuTelemetryNote?: string;
  /** Optional per-request raw timings (ms) for distribution charts. */
  requests?: { ttftMs: number; tpotMs: number; e2elMs: number; inputLen: number; outputLen: number }[];
}

export interface BlockBreakdownPoint {
  schema: 'quantbench.bench.breakdown';
  version: number;
  provenance: Provenance;
  precision: Precision;
  batchSize: number;
  contextLen: number;
  /** Milliseconds per decode step by block. */
  blocksMs: { attention: number; mlp: number; quantization: number; other: number };
  stepMs: number;
  /** Decode steps averaged into this point. */
  numSteps?: number;
  /** How the blocks were timed, e.g. "CPU wall clock per block" or "CUDA events". */
  timing?: string;
}

export interface KernelTiming {
  schema: 'quantbench.bench.kernel';
  version: number;
  provenance: Provenance;
  op: string; // e.g. gemm, quant_per_token, attention_decode
  precision: string;
  shape: Record<string, number>; // e.g. {M, N, K}
  medianUs: number;
  achievedTBs?: number;
  achievedTflops?: number;
  roofline?: RooflineRatio;
  baseline?: { name: string; medianUs: number };
  /** What the timing includes or why there is no roofline (e.g. CPU: ceiling not measured). */
  note?: string;
}

export interface BenchSummary {
  schema: 'quantbench.bench.summary';
  version: number;
  run: string;
  command: string;
  /** false: the run was interrupted and holds only its finished points (absent in runs before issue 20). */
  complete?: boolean;
  /** Protocols of the points (one per run: --resume refuses another). */
  protocols?: string[];
  /** Points beside the published peer number for the same card, precision and lengths (peers.ts), with where the protocols differ. */
  peers?: PeerComparison[];
  points: BenchPoint[];
}
