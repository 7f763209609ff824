/**
 * `pnpm bench --backend openai`: the same workloads, arrival processes and metrics as the in-process sweep, sent to
 * one or more OpenAI-compatible servers (ours, vLLM, TensorRT-LLM's trtllm-serve, SGLang) over HTTP with streaming.
 * Points are keyed workload|label|concurrency|rate and record backend, base URL, served model and label in their
 * provenance. Random prompts are token ids (exact lengths, as in-process); their vocabulary comes from our server's
 * model card, else from --tokenizer DIR (tokenizer.json). The chat endpoint sends the ids decoded to text.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { gitCommit, loadTokenizer, type Provenance, type TextTokenizer } from '@quantbench/engine';
import { arrivalOffsetsMs } from './arrivals.ts';
import { computeMetrics, type GoodputSlo } from './metrics.ts';
import { serverModel, streamRequest, type OpenAIEndpoint, type ServerModelInfo } from './openai_client.ts';
import { silentProgress, type SweepProgress } from './progress.ts';
import { startGpuTelemetry, telemetryFields, telemetrySuffix, type TelemetryResult } from './gpu_telemetry.ts';
import { appendPoint, openRunDir } from './run_dir.ts';
import { BENCH_SCHEMA_VERSION, type BenchPoint } from './schema.ts';
import type { Rate, SweepConfig, SweepOutcome } from './sweep.ts';
import { workloadKeyName } from './sweep.ts';
import { pointWorkload, sampleRequests } from './workload.ts';
import { PEER_SOURCE, type ProtocolRecord } from './protocol.ts';

export interface OpenAITarget {
  baseUrl: string;
  label?: string;
}

export interface OpenAISweepConfig {
  runDir: string;
  targets: OpenAITarget[];
  endpoint: OpenAIEndpoint;
  /** Model name to request (default: the server's first /v1/models entry). */
  model?: string;
  tokenizer?: string;
  apiKey?: string;
  rates: Rate[];
  workload: SweepConfig['workload'];
  burstiness: number;
  maxConcurrency: number | null;
  goodput?: GoodputSlo;
  resume: boolean;
  saveRequests: boolean;
  /** --protocol (default study); the server's own settings decide batch and KV dtype, so none is wanted of it here. */
  protocol?: SweepConfig['protocol'];
  /** --gpu-telemetry: sample this machine's GPU with nvidia-smi while each point runs (the server's, when it is local). */
  gpuTelemetry?: boolean;
}

export interface OpenAISweepHooks {
  signal?: AbortSignal;
  progress?: SweepProgress;
  log?: (msg: string) => void;
}

export class OpenAIBenchError extends Error {
  readonly code = 'OPENAI_BENCH';
  constructor(message: string) {
    super(message);
    this.name = 'OpenAIBenchError';
  }
}

/** "--base-url A,B --label x,y": one target per URL; labels default to the server's precision or model name. */
export function parseTargets(baseUrls: string, labels?: string): OpenAITarget[] {
  const urls = baseUrls.split(',').map((s) => s.trim()).filter(Boolean);
  if (urls.length === 0) throw new OpenAIBenchError('--base-url is empty');
  for (const u of urls) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw new OpenAIBenchError(`--base-url "${u}" is not an http(s) URL (e.g. http://127.0.0.1:8000)`);
  }
  const ls = labels ? labels.split(',').map((s) => s.trim()) : [];
  if (ls.length > 0 && ls.length !== urls.length) throw new OpenAIBenchError(`--label gives ${ls.length} labels for ${urls.length} --base-url values; give one per URL`);
  if (new Set(ls).size !== ls.length) throw new OpenAIBenchError('--label values must differ (they key the points)');
  return urls.map((baseUrl, i) => ({ baseUrl: baseUrl.replace(/\/v1\/?$/, '').replace(/\/$/, ''), ...(ls[i] ? { label: ls[i] } : {}) }));
}

/** Vocabulary size and special ids from an HF tokenizer.json (for servers that are not ours). */
export function vocabOfTokenizerDir(dir: string): { vocabSize: number; specialIds: number[] } {
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) throw new OpenAIBenchError(`--tokenizer ${dir}: no tokenizer.json there`);
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { model?: { vocab?: Record<string, number> | [string, number][] }; added_tokens?: { id: number; special?: boolean }[] };
  let max = -1;
  const v = j.model?.vocab;
  if (Array.isArray(v)) max = v.length - 1;
  else if (v) for (const id of Object.values(v)) max = Math.max(max, id);
  const specialIds: number[] = [];
  for (const t of j.added_tokens ?? []) {
    max = Math.max(max, t.id);
    if (t.special) specialIds.push(t.id);
  }
  return { vocabSize: max + 1, specialIds };
}

interface ResolvedTarget {
  baseUrl: string;
  label: string;
  info: ServerModelInfo;
  vocabSize: number;
  specialIds: number[];
  tokenizer: TextTokenizer | null;
}

async function resolveTarget(t: OpenAITarget, cfg: OpenAISweepConfig): Promise<ResolvedTarget> {
  const info = await serverModel(t.baseUrl, cfg.model, cfg.apiKey);
  const qb = info.quantbench;
  let vocabSize: number;
  let specialIds: number[];
  if (cfg.tokenizer) ({ vocabSize, specialIds } = vocabOfTokenizerDir(cfg.tokenizer));
  else if (qb) ({ vocab_size: vocabSize, special_token_ids: specialIds } = qb);
  else throw new OpenAIBenchError(`${t.baseUrl} is not a quantbench server: pass --tokenizer DIR (the served model's tokenizer.json) to build the prompts`);
  let tokenizer: TextTokenizer | null = null;
  if (cfg.endpoint === '/v1/chat/completions') {
    const dir = cfg.tokenizer ?? (fs.existsSync(path.join(info.id, 'tokenizer.json')) ? info.id : null);
    if (!dir) throw new OpenAIBenchError('--endpoint /v1/chat/completions sends text: pass --tokenizer DIR to turn the random prompts into text');
    tokenizer = loadTokenizer(dir);
  }
  return { baseUrl: t.baseUrl, label: t.label ?? qb?.precision ?? info.id, info, vocabSize, specialIds, tokenizer };
}

export function openaiPointKey(w: SweepConfig['workload'], label: string, maxConcurrency: number | null, rate: Rate): string {
  return `${workloadKeyName(w)}|${label}|c${maxConcurrency ?? 'inf'}|${rate}`;
}

export async function runOpenAISweep(cfg: OpenAISweepConfig, hooks: OpenAISweepHooks = {}): Promise<SweepOutcome> {
  const log = hooks.log ?? (() => {});
  const progress = hooks.progress ?? silentProgress;
  const targets: ResolvedTarget[] = [];
  for (const t of cfg.targets) {
    const r = await resolveTarget(t, cfg);
    log(`${r.label}: ${r.baseUrl} serves "${r.info.id}"${r.info.quantbench ? ` (quantbench, ${r.info.quantbench.precision}, max batch ${r.info.quantbench.max_num_seqs})` : ''}`);
    targets.push(r);
  }
  const existing = openRunDir(cfg.runDir, cfg.resume);
  const done = new Set(existing.map((p) => p.key));
  const newPoints: BenchPoint[] = [];
  const total = targets.length * cfg.rates.length;
  let index = 0;
  let skipped = 0;
  for (const t of targets) {
    for (const rate of cfg.rates) {
      index++;
      const key = openaiPointKey(cfg.workload, t.label, cfg.maxConcurrency, rate);
      if (done.has(key)) {
        skipped++;
        continue;
      }
      if (hooks.signal?.aborted) return { points: [...existing, ...newPoints], newPoints, skipped, interrupted: true };
      const point = await runOpenAIPoint(t, cfg, rate, key, index, total, hooks.signal, progress);
      if (!point) {
        log(`interrupted during ${key}: that point is not recorded; finished points are in ${cfg.runDir}`);
        return { points: [...existing, ...newPoints], newPoints, skipped, interrupted: true };
      }
      appendPoint(cfg.runDir, point);
      newPoints.push(point);
      const m = point.metrics;
      log(
        `${key}: ${m.completed}/${m.completed + m.failed} ok, ${m.outputThroughput.toFixed(1)} out tok/s, TTFT p50 ${m.ttftMs.median.toFixed(1)} ms, ITL p50 ${m.itlMs.median.toFixed(2)} ms` +
          telemetrySuffix(point),
      );
    }
  }
  return { points: [...existing, ...newPoints], newPoints, skipped, interrupted: false };
}

async function runOpenAIPoint(
  t: ResolvedTarget,
  cfg: OpenAISweepConfig,
  rate: Rate,
  key: string,
  index: number,
  total: number,
  signal: AbortSignal | undefined,
  progress: SweepProgress,
): Promise<BenchPoint | null> {
  const qb = t.info.quantbench;
  const serverBatch = qb?.max_num_seqs ?? 256;
  const workload = pointWorkload(cfg.workload, serverBatch);
  const numPrompts = workload.numPrompts;
  const requests = sampleRequests(workload, t.vocabSize, t.specialIds);
  const arrivals = arrivalOffsetsMs(numPrompts, rate, cfg.burstiness, cfg.workload.seed);
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal?.addEventListener('abort', onAbort);
  progress.startPoint(key, index, total, numPrompts);
  const sampler = cfg.gpuTelemetry ? startGpuTelemetry() : null;
  let telemetry: TelemetryResult | null = null;
  const t0 = performance.now();
  let completed = 0;
  let inFlight = 0;
  const slotFreed: (() => void)[] = [];
  const results: Promise<Awaited<ReturnType<typeof streamRequest>>>[] = [];
  let outs: Awaited<ReturnType<typeof streamRequest>>[] = [];
  try {
    for (let i = 0; i < requests.length; i++) {
      const wait = t0 + arrivals[i]! - performance.now();
      if (wait > 0) await sleep(wait, undefined, { signal: ac.signal }).catch(() => {});
      while (cfg.maxConcurrency !== null && inFlight >= cfg.maxConcurrency && !ac.signal.aborted) await new Promise<void>((r) => slotFreed.push(r));
      if (ac.signal.aborted) break;
      const req = requests[i]!;
      inFlight++;
      results.push(
        streamRequest({
          baseUrl: t.baseUrl,
          endpoint: cfg.endpoint,
          model: t.info.id,
          prompt: t.tokenizer ? t.tokenizer.decode(req.promptIds, false) : req.promptIds,
          promptLen: req.promptIds.length,
          maxTokens: req.outputLen,
          apiKey: cfg.apiKey,
          signal: ac.signal,
        }).finally(() => {
          inFlight--;
          progress.update(++completed);
          slotFreed.shift()?.();
        }),
      );
    }
    outs = await Promise.all(results);
  } finally {
    progress.stopPoint();
    signal?.removeEventListener('abort', onAbort);
    telemetry = sampler ? await sampler.stop() : null;
  }
  if (ac.signal.aborted) return null;
  const records = outs.map((o) => o.record);
  const lastFinish = Math.max(t0, ...records.map((r) => r.tokenTimesMs[r.tokenTimesMs.length - 1] ?? t0));
  const { metrics, perRequest } = computeMetrics(records, Math.max(lastFinish - t0, 1e-9) / 1000, cfg.goodput);
  const firstError = records.find((r) => !r.success)?.error;
  const provenance: Provenance = {
    ...(qb?.provenance ?? {
      device: `unknown (OpenAI-compatible server at ${t.baseUrl})`,
      deviceKind: 'cuda' as const,
      commit: 'unknown',
      model: t.info.id,
      weights: 'real' as const,
      recipe: { precision: 'fp16' as const, actDtype: 'fp16' as const, weights: `as served by ${t.baseUrl}`, activations: `as served by ${t.baseUrl}`, source: 'checkpoint' as const },
      node: 'unknown',
      host: 'unknown',
    }),
    date: new Date().toISOString(),
    backend: 'openai',
    baseUrl: t.baseUrl,
    servedModel: t.info.id,
    label: t.label,
  };
  const protocolName = cfg.protocol?.name ?? 'study';
  const protocol: ProtocolRecord = { name: protocolName, ignoreEos: true, kvCacheDtypeWanted: 'auto' };
  if (protocolName === 'peer') {
    protocol.source = PEER_SOURCE.url;
    protocol.numPromptsStated = cfg.protocol?.numPromptsStated ?? null;
    if (cfg.protocol?.numPromptsNote) protocol.numPromptsNote = cfg.protocol.numPromptsNote;
  }
  const point: BenchPoint = {
    schema: 'quantbench.bench.point',
    version: BENCH_SCHEMA_VERSION,
    key,
    provenance,
    protocol,
    workload,
    precision: t.label,
    engine: {
      maxNumSeqs: qb?.max_num_seqs ?? 0,
      maxNumBatchedTokens: qb?.max_num_batched_tokens ?? 0,
      blockSize: qb?.block_size ?? 0,
      numKvBlocks: qb?.num_kv_blocks ?? 0,
      // what a pnpm serve server reports it runs (--kv-cache-dtype); unknown for other servers
      ...(qb ? { kvCacheDtype: qb.kv_cache_dtype ?? qb.provenance.kv_cache_dtype ?? 'auto' } : {}),
    },
    requestRate: rate,
    burstiness: cfg.burstiness,
    maxConcurrency: cfg.maxConcurrency,
    metrics: { ...metrics, preemptions: 0 },
    rooflineNote: `measured through ${cfg.endpoint} of ${t.baseUrl} by the client on ${os.hostname()} (commit ${gitCommit()}): no roofline ratio${qb ? '' : '; engine settings unknown (0)'}` +
      (firstError ? `; first failure: ${firstError}` : ''),
  };
  Object.assign(point, telemetryFields(telemetry));
  if (cfg.saveRequests) {
    point.requests = perRequest.map((r) => ({ ttftMs: r.ttftMs, tpotMs: r.tpotMs ?? 0, e2elMs: r.e2elMs, inputLen: r.inputLen, outputLen: r.outputLen }));
  }
  return point;
}
