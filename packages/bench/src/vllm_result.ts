/**
 * `vllm bench serve`'s result file, one per bench point (issue 20): `--save-result` writes the flat JSON vLLM writes
 * (date, backend, model_id, num_prompts, request_rate, burstiness, max_concurrency, duration, completed, failed,
 * total_input_tokens, total_output_tokens, request_throughput, request_goodput, output_throughput,
 * total_token_throughput, then mean_/median_/std_/p<P>_<metric>_ms for each of --percentile-metrics at each of
 * --metric-percentiles); `--save-detailed` adds the per-request lists input_lens, output_lens, ttfts, itls,
 * start_times, errors (seconds, as vLLM). File name as vLLM's: <label>-<rate>qps[-concurrency<N>]-<model>-<date>.json
 * in --result-dir (default: the run directory), or --result-filename. Our own files (points.jsonl, summary.*) are
 * unchanged; this is an extra file for vLLM users' tooling.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '@quantbench/engine';
import type { RequestRecord } from './metrics.ts';
import type { BenchPoint } from './schema.ts';

export const PERCENTILE_METRICS = ['ttft', 'tpot', 'itl', 'e2el'] as const;
export type PercentileMetric = (typeof PERCENTILE_METRICS)[number];

export interface VllmSaveOptions {
  saveResult: boolean;
  saveDetailed: boolean;
  resultDir?: string;
  resultFilename?: string;
  percentileMetrics: PercentileMetric[];
  metricPercentiles: number[];
}

/** `--percentile-metrics ttft,tpot,itl` (vLLM's default for generation). */
export function parsePercentileMetrics(s: string): PercentileMetric[] {
  const out = s.split(',').map((x) => x.trim());
  for (const m of out) {
    if (!(PERCENTILE_METRICS as readonly string[]).includes(m)) throw new UsageError(`--percentile-metrics: unknown metric "${m}" (use ${PERCENTILE_METRICS.join(', ')})`);
  }
  return out as PercentileMetric[];
}

/** `--metric-percentiles 25,50,99` (vLLM's default 99). */
export function parseMetricPercentiles(s: string): number[] {
  return s.split(',').map((x) => {
    const v = Number(x.trim());
    if (x.trim() === '' || !(v > 0 && v < 100)) throw new UsageError(`--metric-percentiles takes numbers in (0, 100), got "${x}"`);
    return v;
  });
}

/** numpy.percentile(xs, p) with its default linear interpolation. */
export function npPercentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = xs.slice().sort((a, b) => a - b);
  const h = ((s.length - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const std = (xs: readonly number[]) => {
  const m = mean(xs);
  return xs.length ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length) : 0;
};
const pWord = (p: number) => (Number.isInteger(p) ? String(p) : String(p));

/** vLLM's date format: datetime.now().strftime("%Y%m%d-%H%M%S"). */
export function vllmDate(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export function vllmResult(point: BenchPoint, records: readonly RequestRecord[], o: VllmSaveOptions, date = new Date()): Record<string, unknown> {
  const m = point.metrics;
  const ok = records.filter((r) => r.success && r.tokenTimesMs.length > 0);
  const ttfts = ok.map((r) => r.tokenTimesMs[0] - r.sendMs);
  const e2els = ok.map((r) => r.tokenTimesMs[r.tokenTimesMs.length - 1] - r.sendMs);
  const tpots = ok.filter((r) => r.tokenTimesMs.length > 1).map((r) => (r.tokenTimesMs[r.tokenTimesMs.length - 1] - r.tokenTimesMs[0]) / (r.tokenTimesMs.length - 1));
  const itls = ok.flatMap((r) => r.tokenTimesMs.slice(1).map((t, i) => t - r.tokenTimesMs[i]));
  const series: Record<PercentileMetric, number[]> = { ttft: ttfts, tpot: tpots, itl: itls, e2el: e2els };
  const out: Record<string, unknown> = {
    date: vllmDate(date),
    endpoint_type: 'quantbench',
    backend: 'quantbench',
    label: null,
    model_id: point.provenance.model,
    tokenizer_id: point.provenance.model,
    num_prompts: point.workload.numPrompts,
    request_rate: point.requestRate,
    burstiness: point.burstiness,
    max_concurrency: point.maxConcurrency,
    duration: m.durationS,
    completed: m.completed,
    failed: m.failed,
    total_input_tokens: m.totalInputTokens,
    total_output_tokens: m.totalOutputTokens,
    request_throughput: m.requestThroughput,
    request_goodput: m.goodput ? m.goodput.requestsPerS : null,
    output_throughput: m.outputThroughput,
    total_token_throughput: m.totalTokenThroughput,
  };
  if (o.saveDetailed) {
    out.input_lens = records.map((r) => r.promptLen);
    out.output_lens = records.map((r) => r.tokenTimesMs.length);
    out.ttfts = records.map((r) => (r.tokenTimesMs.length ? (r.tokenTimesMs[0] - r.sendMs) / 1000 : 0));
    out.itls = records.map((r) => r.tokenTimesMs.slice(1).map((t, i) => (t - r.tokenTimesMs[i]) / 1000));
    out.start_times = records.map((r) => r.sendMs / 1000);
    out.errors = records.map((r) => (r.success ? '' : (r.error ?? 'failed')));
  }
  for (const metric of o.percentileMetrics) {
    const xs = series[metric];
    out[`mean_${metric}_ms`] = mean(xs);
    out[`median_${metric}_ms`] = npPercentile(xs, 50);
    out[`std_${metric}_ms`] = std(xs);
    for (const p of o.metricPercentiles) out[`p${pWord(p)}_${metric}_ms`] = npPercentile(xs, p);
  }
  // ours, beside vLLM's keys: what the point was
  out.quantbench = { key: point.key, precision: point.precision, max_num_seqs: point.engine.maxNumSeqs, provenance: point.provenance };
  return out;
}

/** vLLM's default name: <label>-<rate>qps[-concurrency<N>]-<model basename>-<date>.json (label: quantbench-<precision>-b<batch>). */
export function vllmFileName(point: BenchPoint, date = new Date()): string {
  const rate = point.requestRate === 'inf' ? 'inf' : String(point.requestRate);
  const conc = point.maxConcurrency !== null ? `-concurrency${point.maxConcurrency}` : '';
  const model = point.provenance.model.split('/').filter(Boolean).pop() ?? 'model';
  return `quantbench-${point.precision}-b${point.engine.maxNumSeqs}-${rate}qps${conc}-${model.replace(/[^A-Za-z0-9._-]/g, '_')}-${vllmDate(date)}.json`;
}

export function writeVllmResult(runDir: string, point: BenchPoint, records: readonly RequestRecord[], o: VllmSaveOptions): string {
  const date = new Date();
  const dir = o.resultDir ?? runDir;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, o.resultFilename ?? vllmFileName(point, date));
  fs.writeFileSync(file, JSON.stringify(vllmResult(point, records, o, date), null, 2) + '\n');
  return file;
}
