/**
 * Turns parsed CLI flags into a sweep configuration: defaults (the study's protocol on CUDA; the --quick profile,
 * which a CPU-only machine gets by default), list parsing and validation.
 *
 * --quick: 8 prompts per point, short lengths of the same shape (prefill-heavy 128/8, decode-heavy 16/64),
 * batches 1,4, maxNumBatchedTokens 512, contexts 16..128 for --profile-blocks. Meant to show the whole path in
 * about a minute on the CPU backend with synthetic:tiny.
 *
 * --protocol study|peer (protocol.ts): study is the above; peer is TensorRT-LLM's perf-overview protocol (fixed
 * lengths, rate inf, its request count per ISL/OSL, max batch 2048 and 8192 batched tokens by default). Options that
 * would break the peer protocol (a finite rate, a range ratio, a concurrency cap) are refused under it.
 */
import {
  BENCH_PRECISIONS,
  CAPACITY_SCHEDULER_POLICIES,
  didYouMean,
  isKvCacheDtype,
  isPrecision,
  KV_CACHE_DTYPES,
  type CapacitySchedulerPolicy,
  type DeviceKind,
  type KvCacheDtype,
  type Precision,
} from '@quantbench/engine';
import { parseGoodput, type GoodputSlo } from './metrics.ts';
import {
  DEFAULT_GPU_MEMORY_UTILIZATION,
  PEER_MAX_NUM_BATCHED_TOKENS,
  PEER_MAX_NUM_SEQS,
  PEER_SOURCE,
  PROTOCOLS,
  isProtocol,
  peerNumRequests,
  type Protocol,
} from './protocol.ts';
import type { Rate } from './sweep.ts';
import { QUICK_PRESETS, WORKLOAD_PRESETS, type WorkloadName } from './workload.ts';

export class OptionError extends Error {
  readonly code = 'BAD_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

export interface RawBenchFlags {
  model?: string;
  device: 'auto' | DeviceKind;
  precision?: string;
  /** --kv-cache-dtype: auto, fp8 or a comma list (an axis of the sweep, inside each precision). */
  kvCacheDtype?: string;
  workload: string;
  inputLen?: number;
  outputLen?: number;
  rangeRatio: number;
  numPrompts?: number;
  promptsPerBatch?: number;
  seed: number;
  batch?: string;
  rate: string;
  burstiness: number;
  maxConcurrency?: number;
  /** Comma list (an axis of the sweep), or one number. */
  maxNumBatchedTokens?: string | number;
  kvBlocks?: number;
  /** study (default) | peer */
  protocol?: string;
  gpuMemoryUtilization?: number;
  chunkedPrefill: boolean;
  asyncScheduling?: boolean;
  /** --capacity-scheduler-policy */
  capacitySchedulerPolicy?: string;
  /** --ncu-steps A:B */
  ncuSteps?: string;
  goodput?: string[];
  quick?: boolean;
  profileBlocks: boolean;
  contexts?: string;
  decodeSteps?: number;
  threads?: number;
}

export interface ResolvedBench {
  device: DeviceKind;
  model: string;
  quick: boolean;
  /** Plain-language notes for the console (CPU fallback, quick profile). */
  notices: string[];
  precisions: Precision[];
  /** --kv-cache-dtype values; null when not given: the protocol decides (study: auto; peer: fp8 for the FP8 precisions). */
  kvCacheDtypes: KvCacheDtype[] | null;
  batches: number[];
  rates: Rate[];
  workload: { name: WorkloadName; inputLen: number; outputLen: number; rangeRatio: number; numPrompts: number | null; promptsPerBatch: number | null; seed: number };
  burstiness: number;
  maxConcurrency: number | null;
  /** Token budgets per step, one sweep axis (--max-num-batched-tokens, comma list). */
  maxNumBatchedTokens: number[];
  enableChunkedPrefill: boolean;
  /**
   * --async-scheduling: the engine submits step n+1 while step n runs (EngineCoreOptions.asyncScheduling). Default off;
   * on under --protocol peer (protocol.ts: the peer's overlap scheduler), --no-async-scheduling turns it off.
   */
  asyncScheduling: boolean;
  /**
   * --capacity-scheduler-policy (EngineCoreOptions.capacitySchedulerPolicy): when a request may start. Default
   * max-utilization (preemption by recompute, vLLM's way); guaranteed-no-evict under --protocol peer (TensorRT-LLM's
   * default: a request starts when its whole length fits, nothing is preempted).
   */
  capacitySchedulerPolicy: CapacitySchedulerPolicy;
  /** --ncu-steps: engine steps [first, end) of every point bracketed for ncu (null: no profiler window). */
  ncuSteps: [number, number] | null;
  protocol: Protocol;
  /** Peer protocol: the request count its source states for these lengths (null: none stated, or study). */
  numPromptsStated: number | null;
  /** Peer protocol with --num-prompts other than the stated count: says so in every point. */
  numPromptsNote?: string;
  /** Fraction of GPU memory for weights + KV cache + workspace (the KV cache is sized from it on CUDA). */
  gpuMemoryUtilization: number;
  numKvBlocks?: number;
  goodput?: GoodputSlo;
  contexts: number[];
  decodeSteps: number;
  threads?: number;
}

export function parseIntList(s: string, what: string): number[] {
  const out = s.split(',').map((x) => Number(x.trim()));
  if (out.length === 0 || out.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new OptionError(`--${what} takes positive integers separated by commas, got "${s}"`);
  }
  return out;
}

function parseTokenList(v: string | number | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  return parseIntList(String(v), 'max-num-batched-tokens');
}

export function parseRates(s: string): Rate[] {
  return s.split(',').map((x) => {
    const t = x.trim().toLowerCase();
    if (t === 'inf' || t === 'infinity') return 'inf';
    const v = Number(t);
    if (!(v > 0) || !Number.isFinite(v)) throw new OptionError(`--rate takes "inf" or positive req/s values, got "${x}"`);
    return v;
  });
}

export function parsePrecisions(s: string | undefined): Precision[] {
  if (!s) return [...BENCH_PRECISIONS];
  return s.split(',').map((x) => {
    const p = x.trim();
    if (!isPrecision(p)) throw new OptionError(`--precision: unknown precision "${p}"${didYouMean(p, [...BENCH_PRECISIONS, 'fp32', 'bf16'])} (use ${BENCH_PRECISIONS.join(', ')}, or fp32, bf16)`);
    return p;
  });
}

/** --kv-cache-dtype: one of auto, fp8, or a comma list of them (default auto). */
export function parseKvCacheDtypes(s: string | undefined): KvCacheDtype[] {
  if (s === undefined) return ['auto'];
  const out = s.split(',').map((x) => {
    const k = x.trim();
    if (!isKvCacheDtype(k)) throw new OptionError(`--kv-cache-dtype: "${k}" is not one of ${KV_CACHE_DTYPES.join(', ')}${didYouMean(k, KV_CACHE_DTYPES)} (a comma list sweeps them)`);
    return k;
  });
  return [...new Set(out)];
}

/** --ncu-steps "A:B" (0 <= A < B, integers) as [A, B]; undefined: null. */
export function parseNcuSteps(s: string | undefined): [number, number] | null {
  if (s === undefined) return null;
  const m = /^(\d+):(\d+)$/.exec(s.trim());
  const a = m ? Number(m[1]) : NaN, b = m ? Number(m[2]) : NaN;
  if (!m || !(a < b)) throw new OptionError(`--ncu-steps takes A:B, the engine steps A..B-1 to profile (0 <= A < B), got "${s}"`);
  return [a, b];
}

export function resolveBench(f: RawBenchFlags, cudaAvailable: boolean): ResolvedBench {
  const notices: string[] = [];
  let device: DeviceKind;
  if (f.device === 'auto') device = cudaAvailable ? 'cuda' : 'cpu';
  else device = f.device;
  if (device === 'cuda' && !cudaAvailable) throw new OptionError('--device cuda: no CUDA device/backend available; use --device cpu');
  const cpuFallback = f.device === 'auto' && device === 'cpu';
  const model = f.model ?? (device === 'cuda' ? 'synthetic:llama-3.1-8b' : 'synthetic:tiny');
  if (cpuFallback && !f.model) {
    notices.push('No GPU found: running the CPU reference backend on synthetic:tiny (a small random-weight model). ' +
      'These numbers show the pipeline works; they say nothing about H100 performance.');
  }
  const quick = f.quick ?? cpuFallback;
  if (quick && f.quick === undefined) notices.push('Using the --quick profile (pass --no-quick for the full protocol).');
  let name: WorkloadName;
  let inputLen: number;
  let outputLen: number;
  if (f.workload === 'custom') {
    if (!f.inputLen || !f.outputLen) throw new OptionError('--workload custom needs --input-len and --output-len');
    name = 'custom';
    inputLen = f.inputLen;
    outputLen = f.outputLen;
  } else if (f.workload in WORKLOAD_PRESETS) {
    name = f.workload as WorkloadName;
    const preset = (quick ? QUICK_PRESETS : WORKLOAD_PRESETS)[f.workload as keyof typeof WORKLOAD_PRESETS];
    inputLen = f.inputLen ?? preset.inputLen;
    outputLen = f.outputLen ?? preset.outputLen;
    if (f.inputLen !== undefined || f.outputLen !== undefined) name = 'custom';
  } else {
    const names = [...Object.keys(WORKLOAD_PRESETS), 'custom'];
    throw new OptionError(`unknown --workload "${f.workload}"${didYouMean(f.workload, names)} (use ${names.join(', ')})`);
  }
  const protocol = f.protocol ?? 'study';
  if (!isProtocol(protocol)) throw new OptionError(`unknown --protocol "${protocol}"${didYouMean(protocol, [...PROTOCOLS])} (use ${PROTOCOLS.join(' or ')})`);
  const util = f.gpuMemoryUtilization ?? DEFAULT_GPU_MEMORY_UTILIZATION;
  if (!(util > 0 && util <= 1)) throw new OptionError(`--gpu-memory-utilization must be in (0, 1], got ${f.gpuMemoryUtilization}`);
  const tokens = parseTokenList(f.maxNumBatchedTokens);
  if (f.promptsPerBatch !== undefined && !(f.promptsPerBatch > 0)) throw new OptionError('--prompts-per-batch must be > 0');
  if (f.promptsPerBatch !== undefined && f.numPrompts !== undefined) throw new OptionError('give --num-prompts or --prompts-per-batch, not both');
  let numPromptsStated: number | null = null;
  let numPromptsNote: string | undefined;
  let numPrompts = f.numPrompts ?? (quick && f.promptsPerBatch === undefined ? 8 : null);
  if (protocol === 'peer') {
    const refuse = (what: string) => {
      throw new OptionError(`--protocol peer runs ${PEER_SOURCE.engine}'s perf-overview protocol (${what}); drop the option or use --protocol study`);
    };
    if (f.profileBlocks) refuse('a serving sweep; --profile-blocks is not one');
    if (f.rangeRatio !== 0) refuse(`fixed lengths; --range-ratio ${f.rangeRatio} varies them`);
    if (parseRates(f.rate).some((x) => x !== 'inf')) refuse(`every request queued at once: rate inf; --rate ${f.rate} is not`);
    if (f.maxConcurrency !== undefined) refuse('no concurrency cap; --max-concurrency sets one');
    if (f.promptsPerBatch !== undefined) refuse(`its request count per ISL/OSL; --prompts-per-batch replaces it (--num-prompts N overrides it and says so)`);
    numPromptsStated = peerNumRequests(inputLen, outputLen) ?? null;
    if (f.numPrompts === undefined && !quick) {
      if (numPromptsStated === null) {
        throw new OptionError(
          `--protocol peer: ${PEER_SOURCE.engine}'s perf overview states no request count for ${inputLen}/${outputLen}; pass --num-prompts N`,
        );
      }
      numPrompts = numPromptsStated;
    }
    if (numPrompts !== null && numPrompts !== numPromptsStated) {
      const stated =
        numPromptsStated !== null
          ? `, ${numPrompts < numPromptsStated ? 'fewer' : 'more'} than the ${numPromptsStated} that ${PEER_SOURCE.engine}'s perf overview states for ${inputLen}/${outputLen}`
          : `; ${PEER_SOURCE.engine}'s perf overview states no count for ${inputLen}/${outputLen}`;
      numPromptsNote = `ran ${numPrompts} requests${stated} (${quick && f.numPrompts === undefined ? '--quick profile' : '--num-prompts'})`;
    }
  }
  const batches = f.batch
    ? parseIntList(f.batch, 'batch')
    : protocol === 'peer'
      ? [PEER_MAX_NUM_SEQS]
      : quick
        ? [1, 4]
        : f.profileBlocks
          ? [64]
          : [256];
  if (f.burstiness <= 0) throw new OptionError('--burstiness must be > 0');
  const ncuSteps = parseNcuSteps(f.ncuSteps);
  if (ncuSteps && device !== 'cuda') throw new OptionError('--ncu-steps brackets CUDA kernels for ncu: it needs --device cuda');
  if (f.asyncScheduling && f.profileBlocks) {
    throw new OptionError('--async-scheduling and --profile-blocks exclude each other (block timings need one step at a time)');
  }
  if (ncuSteps && f.profileBlocks) throw new OptionError('--ncu-steps profiles serving steps; --profile-blocks is not a serving sweep (pnpm bench latency --ncu profiles single forwards)');
  if (f.maxConcurrency !== undefined && (!Number.isInteger(f.maxConcurrency) || f.maxConcurrency < 1)) {
    throw new OptionError('--max-concurrency must be a positive integer');
  }
  const policy = f.capacitySchedulerPolicy ?? (protocol === 'peer' ? 'guaranteed-no-evict' : 'max-utilization');
  if (!(CAPACITY_SCHEDULER_POLICIES as readonly string[]).includes(policy)) {
    throw new OptionError(
      `unknown --capacity-scheduler-policy "${policy}": ${CAPACITY_SCHEDULER_POLICIES.join(' or ')}${didYouMean(policy, CAPACITY_SCHEDULER_POLICIES)}`,
    );
  }
  return {
    device,
    model,
    quick,
    notices,
    precisions: parsePrecisions(f.precision),
    kvCacheDtypes: f.kvCacheDtype === undefined ? null : parseKvCacheDtypes(f.kvCacheDtype),
    batches,
    rates: parseRates(f.rate),
    workload: { name, inputLen, outputLen, rangeRatio: f.rangeRatio, numPrompts, promptsPerBatch: f.promptsPerBatch ?? null, seed: f.seed },
    burstiness: f.burstiness,
    maxConcurrency: f.maxConcurrency ?? null,
    maxNumBatchedTokens: tokens ?? [quick ? 512 : protocol === 'peer' ? PEER_MAX_NUM_BATCHED_TOKENS : 8192],
    enableChunkedPrefill: f.chunkedPrefill,
    asyncScheduling: f.asyncScheduling ?? protocol === 'peer',  // peer refuses --profile-blocks (above)
    capacitySchedulerPolicy: policy as CapacitySchedulerPolicy,
    ncuSteps,
    protocol,
    numPromptsStated,
    ...(numPromptsNote ? { numPromptsNote } : {}),
    gpuMemoryUtilization: util,
    numKvBlocks: f.kvBlocks,
    goodput: f.goodput && f.goodput.length > 0 ? parseGoodput(f.goodput) : undefined,
    contexts: f.contexts ? parseIntList(f.contexts, 'contexts') : quick ? [16, 32, 64, 128] : [128, 256, 512, 1024, 2048],
    decodeSteps: f.decodeSteps ?? (quick ? 4 : 16),
    threads: f.threads,
  };
}
