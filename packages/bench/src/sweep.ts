/**
 * A sweep: precision x KV-cache dtype x max batch size x max batched tokens x request rate over one workload, under
 * one protocol (protocol.ts). Each (precision, KV-cache dtype) model is loaded once (its KV cache sized for the largest token budget); each point
 * gets a fresh EngineCore (maxNumSeqs = batch, maxNumBatchedTokens = tokens) and is appended to points.jsonl as soon
 * as it finishes. An abort (Ctrl-C) drops only the unfinished point.
 */
import { cudaProfiler, EngineError, makeProvenance, type CapacitySchedulerPolicy, type DeviceKind, type KvCacheDtype, type Precision } from '@quantbench/engine';
import { arrivalOffsetsMs } from './arrivals.ts';
import { loadBenchEngine, type BenchEngine, type EngineLoader } from './engine_driver.ts';
import { startGpuTelemetry, telemetryFields, telemetrySuffix, type GpuTelemetrySampler, type TelemetryResult } from './gpu_telemetry.ts';
import { computeMetrics, type GoodputSlo } from './metrics.ts';
import { silentProgress, type SweepProgress } from './progress.ts';
import { ceilingsForDevice, type DeviceCeilings } from '@quantbench/engine';
import { readCeilingsFile } from './ceilings.ts';
import { CPU_ROOFLINE_NOTE, RooflineAccumulator, modelCost } from './roofline.ts';
import { appendPoint, openRunDir } from './run_dir.ts';
import { BENCH_SCHEMA_VERSION, type BenchPoint } from './schema.ts';
import { servePoint } from './serve_point.ts';
import { writeVllmResult, type VllmSaveOptions } from './vllm_result.ts';
import { pointWorkload, sampleRequests, type WorkloadFlags } from './workload.ts';
import { peerKvCacheDtype, PEER_SOURCE, type Protocol, type ProtocolRecord } from './protocol.ts';

export type Rate = number | 'inf';

export interface SweepConfig {
  runDir: string;
  model: string;
  device: DeviceKind;
  threads?: number;
  precisions: Precision[];
  /** vLLM's --kv-cache-dtype values, swept inside each precision; absent: the protocol's (study: auto; peer: fp8 for the FP8 precisions). */
  kvCacheDtypes?: KvCacheDtype[] | null;
  batches: number[];
  rates: Rate[];
  workload: WorkloadFlags;
  burstiness: number;
  maxConcurrency: number | null;
  /** Token budget per step: one value, or a list swept as an axis. */
  maxNumBatchedTokens: number | number[];
  enableChunkedPrefill: boolean;
  /** --gpu-telemetry: sample the GPU's clock and power with nvidia-smi while each point runs (CUDA; default off here). */
  gpuTelemetry?: boolean;
  /** EngineCoreOptions.asyncScheduling (--async-scheduling); default false. */
  asyncScheduling?: boolean;
  /** EngineCoreOptions.capacitySchedulerPolicy (--capacity-scheduler-policy); default max-utilization. */
  capacitySchedulerPolicy?: CapacitySchedulerPolicy;
  /** --ncu-steps: engine steps [first, end) of every point bracketed with cudaProfilerStart / Stop. */
  ncuSteps?: [number, number] | null;
  numKvBlocks?: number;
  /** study (default) | peer, with the peer protocol's request-count facts (options.ts). */
  protocol?: { name: Protocol; numPromptsStated?: number | null; numPromptsNote?: string };
  /** CUDA: fraction of GPU memory the engine sizes the KV cache from (default: the engine's, 0.9). */
  gpuMemoryUtilization?: number;
  goodput?: GoodputSlo;
  resume: boolean;
  /** Keep per-request timings in each point. */
  saveRequests: boolean;
  /** Roofline ceilings from scripts/device/ceilings.py (else the known card's, by device name: native/device_ceilings.json). */
  ceilingsFile?: string;
  /** vLLM bench serve's --save-result / --save-detailed file per point (vllm_result.ts). */
  vllm?: VllmSaveOptions;
}

/** The ceilings a point's roofline ratio uses: the file's, else the known card's; null: no ratio (and why). */
export function resolveCeilings(cfg: Pick<SweepConfig, 'ceilingsFile'>, deviceName: string): DeviceCeilings | null {
  return cfg.ceilingsFile ? readCeilingsFile(cfg.ceilingsFile) : ceilingsForDevice(deviceName);
}

export interface SweepHooks {
  loader?: EngineLoader;
  signal?: AbortSignal;
  progress?: SweepProgress;
  log?: (msg: string) => void;
}

export interface SweepOutcome {
  /** Every point of the run (resumed ones first). */
  points: BenchPoint[];
  newPoints: BenchPoint[];
  skipped: number;
  interrupted: boolean;
}

type KeyedWorkload = { name: string; inputLen: number; outputLen: number; rangeRatio: number };

export function workloadKeyName(w: KeyedWorkload): string {
  return w.name === 'custom' ? `custom-${w.inputLen}x${w.outputLen}r${w.rangeRatio}` : w.name;
}

/** workload|precision|max batch|rate|max batched tokens; an FP8 KV cache adds "+kv-fp8" to the precision part. */
export function pointKey(w: KeyedWorkload, precision: Precision | string, batch: number, rate: Rate, tokens: number, kv: KvCacheDtype | string = 'auto'): string {
  return `${workloadKeyName(w)}|${precision}${kv === 'auto' ? '' : `+kv-${kv}`}|${batch}|${rate}|${tokens}`;
}

/** The key a recorded point has under today's format, from its fields (older runs keyed points without tokens). */
export function pointKeyOf(p: BenchPoint): string {
  return pointKey(p.workload, p.precision, p.engine.maxNumSeqs, p.requestRate, p.engine.maxNumBatchedTokens, p.engine.kvCacheDtype ?? p.provenance.kv_cache_dtype ?? 'auto');
}

/** The KV-cache dtypes a precision runs with: the flag's list, else the protocol's. */
export function kvCacheDtypesFor(cfg: Pick<SweepConfig, 'kvCacheDtypes' | 'protocol'>, precision: Precision): KvCacheDtype[] {
  return cfg.kvCacheDtypes ?? [cfg.protocol?.name === 'peer' ? peerKvCacheDtype(precision) : 'auto'];
}

export function tokenBudgets(cfg: Pick<SweepConfig, 'maxNumBatchedTokens'>): number[] {
  return Array.isArray(cfg.maxNumBatchedTokens) ? cfg.maxNumBatchedTokens : [cfg.maxNumBatchedTokens];
}

export function countPoints(cfg: SweepConfig): number {
  return cfg.precisions.reduce((n, p) => n + kvCacheDtypesFor(cfg, p).length, 0) * cfg.batches.length * tokenBudgets(cfg).length * cfg.rates.length;
}

export async function runSweep(cfg: SweepConfig, hooks: SweepHooks = {}): Promise<SweepOutcome> {
  const loader = hooks.loader ?? loadBenchEngine;
  const progress = hooks.progress ?? silentProgress;
  const log = hooks.log ?? (() => {});
  const existing = openRunDir(cfg.runDir, cfg.resume);
  const done = new Set(existing.map(pointKeyOf));
  const budgets = tokenBudgets(cfg);
  const protocol = cfg.protocol?.name ?? 'study';
  const newPoints: BenchPoint[] = [];
  const total = countPoints(cfg);
  let index = 0;
  let skipped = 0;
  let interrupted = false;

  const combos = cfg.precisions.flatMap((precision) => kvCacheDtypesFor(cfg, precision).map((kv) => ({ precision, kv })));
  outer: for (const { precision, kv } of combos) {
    const todo = cfg.batches.flatMap((b) => budgets.flatMap((t) => cfg.rates.map((r) => ({ batch: b, tokens: t, rate: r }))));
    const pending = todo.filter(({ batch, rate, tokens }) => !done.has(pointKey(cfg.workload, precision, batch, rate, tokens, kv)));
    skipped += todo.length - pending.length;
    index += todo.length - pending.length;
    if (pending.length === 0) continue;
    if (hooks.signal?.aborted) {
      interrupted = true;
      break;
    }
    const engine = await loader({
      model: cfg.model,
      precision,
      device: cfg.device,
      numKvBlocks: cfg.numKvBlocks,
      threads: cfg.threads,
      gpuMemoryUtilization: cfg.gpuMemoryUtilization,
      maxNumBatchedTokens: Math.max(...budgets),
      ...(kv !== 'auto' || protocol === 'peer' ? { kvCacheDtype: kv } : {}),
    });
    try {
      const runs = engine.info.kvCacheDtype ?? engine.info.recipe.kvCacheDtype ?? kv;
      if (runs !== kv) throw new EngineError('BAD_CONFIG', `asked the engine for KV-cache dtype ${kv}, it loaded ${runs}`);
      warmUp(engine, cfg, budgets[0]!);
      for (const { batch, rate, tokens } of pending) {
        index++;
        const key = pointKey(cfg.workload, precision, batch, rate, tokens, kv);
        const point = await runPoint(engine, cfg, precision, kv, batch, tokens, rate, key, index, total, hooks.signal, progress);
        if (!point) {
          interrupted = true;
          log(`interrupted during ${key}: that point is not recorded; finished points are in ${cfg.runDir}`);
          break outer;
        }
        appendPoint(cfg.runDir, point);
        newPoints.push(point);
        done.add(key);
        log(
          `${key}: ${point.metrics.completed}/${point.metrics.completed + point.metrics.failed} ok, ` +
            `${point.metrics.outputThroughput.toFixed(1)} out tok/s, TTFT p50 ${point.metrics.ttftMs.median.toFixed(1)} ms, ` +
            `host ${((point.metrics.hostOverheadFraction ?? 0) * 100).toFixed(1)}% of step time` +
            (point.metrics.preemptions ? `, ${point.metrics.preemptions} preemptions` : '') +
            telemetrySuffix(point) +
            (point.errors ? `; FAILED ${point.metrics.failed}: ${point.errors.map((e) => `${e.message} (x${e.count})`).join('; ')}` : ''),
        );
      }
    } finally {
      engine.close();
    }
  }
  return { points: [...existing, ...newPoints], newPoints, skipped, interrupted };
}

/** Why requests failed, grouped by message (the engine's reason, e.g. a request that can never be scheduled). */
export function failureReasons(records: readonly { success: boolean; error?: string }[]): { message: string; count: number }[] {
  const by = new Map<string, number>();
  for (const r of records) {
    if (r.success) continue;
    const m = r.error ?? 'no output (no reason given by the engine)';
    by.set(m, (by.get(m) ?? 0) + 1);
  }
  return [...by].map(([message, count]) => ({ message, count }));
}

/** One short unmeasured request so first-call costs (allocation, thread start) stay out of the first point. */
function warmUp(engine: BenchEngine, cfg: SweepConfig, tokens: number): void {
  const core = engine.createCore({ maxNumSeqs: 1, maxNumBatchedTokens: tokens, enableChunkedPrefill: cfg.enableChunkedPrefill, asyncScheduling: cfg.asyncScheduling });
  const allowed = [...Array(Math.min(engine.info.vocabSize, 64)).keys()].filter((t) => !engine.info.specialTokenIds.includes(t));
  core.addRequest({ id: 'warmup', promptIds: allowed.slice(0, 8), params: { maxTokens: 2, ignoreEos: true } });
  while (core.hasUnfinished()) core.step();
}

async function runPoint(
  engine: BenchEngine,
  cfg: SweepConfig,
  precision: Precision,
  kv: KvCacheDtype,
  batch: number,
  tokens: number,
  rate: Rate,
  key: string,
  index: number,
  total: number,
  signal: AbortSignal | undefined,
  progress: SweepProgress,
): Promise<BenchPoint | null> {
  const workload = pointWorkload(cfg.workload, batch);
  const numPrompts = workload.numPrompts;
  const requests = sampleRequests(workload, engine.info.vocabSize, engine.info.specialTokenIds);
  const arrivals = arrivalOffsetsMs(numPrompts, rate, cfg.burstiness, cfg.workload.seed);
  const core = engine.createCore({
    maxNumSeqs: batch,
    maxNumBatchedTokens: tokens,
    enableChunkedPrefill: cfg.enableChunkedPrefill,
    asyncScheduling: cfg.asyncScheduling,
    capacitySchedulerPolicy: cfg.capacitySchedulerPolicy,
  });
  const ceilings = engine.info.device === 'cuda' ? resolveCeilings(cfg, engine.info.deviceName) : null;
  const kvPerToken = engine.info.kvBlockBytes !== undefined ? engine.info.kvBlockBytes / engine.runner.blockSize : undefined;
  const roof = new RooflineAccumulator(engine.info.device, precision, engine.info.arch ? modelCost(engine.info.arch, precision, kvPerToken) : null, ceilings);
  progress.startPoint(key, index, total, numPrompts);
  const sampler: GpuTelemetrySampler | null = cfg.gpuTelemetry && engine.info.device === 'cuda' ? startGpuTelemetry() : null;
  let res;
  let telemetry: TelemetryResult | null = null;
  try {
    res = await servePoint(core, {
      requests,
      arrivalsMs: arrivals,
      maxConcurrency: cfg.maxConcurrency,
      signal,
      onStep: (s) => roof.add(s.numPrefillTokens + s.numDecodeTokens, s.sumContextLens, s.forwardMs),
      onRequestDone: (d) => progress.update(d),
      ...(cfg.ncuSteps ? { profileSteps: { first: cfg.ncuSteps[0], end: cfg.ncuSteps[1], profiler: cudaProfiler } } : {}),
    });
  } finally {
    progress.stopPoint();
    telemetry = sampler ? await sampler.stop() : null;
  }
  if (res.aborted) return null;
  const { metrics, perRequest } = computeMetrics(res.records, res.durationS, cfg.goodput);
  const loopMs = Math.max(res.loopMs, res.hostMs + res.forwardMs);
  const info = engine.info;
  const protocolName = cfg.protocol?.name ?? 'study';
  const protocol: ProtocolRecord = {
    name: protocolName,
    ignoreEos: true,  // servePoint asks for every output's full length
    kvCacheDtypeWanted: protocolName === 'peer' ? peerKvCacheDtype(precision) : 'auto',
  };
  if (protocolName === 'peer') {
    protocol.source = PEER_SOURCE.url;
    protocol.numPromptsStated = cfg.protocol?.numPromptsStated ?? null;
    if (cfg.protocol?.numPromptsNote) protocol.numPromptsNote = cfg.protocol.numPromptsNote;
  }
  const point: BenchPoint = {
    schema: 'quantbench.bench.point',
    version: BENCH_SCHEMA_VERSION,
    key,
    provenance: makeProvenance({ device: info.deviceName, deviceKind: info.device, model: info.model, weights: info.weights, recipe: { ...info.recipe, kvCacheDtype: kv } }),
    protocol,
    workload,
    precision,
    engine: {
      maxNumSeqs: batch,
      maxNumBatchedTokens: tokens,
      blockSize: engine.runner.blockSize,
      numKvBlocks: engine.runner.numKvBlocks,
      kvCacheDtype: kv,
      asyncScheduling: cfg.asyncScheduling ?? false,
      capacitySchedulerPolicy: cfg.capacitySchedulerPolicy ?? 'max-utilization',
      ...(cfg.ncuSteps ? { ncuSteps: cfg.ncuSteps } : {}),
      ...(info.kvBlockBytes !== undefined ? { kvBlockBytes: info.kvBlockBytes } : {}),
      ...(info.device === 'cuda' && cfg.numKvBlocks === undefined ? { gpuMemoryUtilization: cfg.gpuMemoryUtilization ?? 0.9 } : {}),
    },
    requestRate: rate,
    burstiness: cfg.burstiness,
    maxConcurrency: cfg.maxConcurrency,
    metrics: {
      ...metrics,
      preemptions: res.preemptions,
      hostOverheadFraction: loopMs > 0 ? 1 - res.forwardMs / loopMs : 0,
    },
    steps: {
      count: res.steps,
      meanHostMs: res.steps ? res.hostMs / res.steps : 0,
      meanForwardMs: res.steps ? res.forwardMs / res.steps : 0,
      meanLoopMs: res.steps ? loopMs / res.steps : 0,
    },
  };
  const failures = failureReasons(res.records);
  if (failures.length > 0) point.errors = failures;
  Object.assign(point, telemetryFields(telemetry));
  const roofline = roof.result();
  if (roofline) point.roofline = roofline;
  else
    point.rooflineNote =
      info.device === 'cpu'
        ? CPU_ROOFLINE_NOTE
        : !ceilings
          ? `no ceilings known for "${info.deviceName}": roofline not computed (pass --ceilings FILE from scripts/device/ceilings.py)`
          : 'no architecture known: roofline not computed';
  if (cfg.vllm?.saveResult) writeVllmResult(cfg.runDir, point, res.records, cfg.vllm);
  if (cfg.saveRequests) {
    point.requests = perRequest.map((r) => ({
      ttftMs: r.ttftMs,
      tpotMs: r.tpotMs ?? 0,
      e2elMs: r.e2elMs,
      inputLen: r.inputLen,
      outputLen: r.outputLen,
    }));
  }
  return point;
}
