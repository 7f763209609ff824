/**
 * Serving metrics exactly as `vllm bench serve` defines them:
 *   TTFT  = first token time - request send time
 *   E2EL  = last token time - request send time
 *   TPOT  = (E2EL - TTFT) / (output_len - 1), only for requests with output_len > 1
 *           (for goodput a request with output_len <= 1 counts TPOT 0)
 *   ITL   = every gap between consecutive tokens, pooled over all requests
 * mean / median / std (population) / percentiles (linear interpolation, numpy's default) via simple-statistics.
 * Throughputs divide by the benchmark duration; failed requests count neither input nor output tokens.
 */
import * as ss from 'simple-statistics';
import type { Distribution, ServingMetrics } from './schema.ts';

/** Raw timings of one request, ms on one clock. */
export interface RequestRecord {
  promptLen: number;
  /** When the request was sent to the engine. */
  sendMs: number;
  /** Time each output token became available. */
  tokenTimesMs: number[];
  success: boolean;
  error?: string;
}

export type GoodputSlo = Partial<Record<'ttft' | 'tpot' | 'e2el', number>>;

export class MetricsError extends Error {
  readonly code = 'BAD_GOODPUT';
  constructor(message: string) {
    super(message);
    this.name = 'MetricsError';
  }
}

/** Parses `--goodput ttft:MS tpot:MS e2el:MS` (ms). */
export function parseGoodput(items: readonly string[]): GoodputSlo {
  const slo: GoodputSlo = {};
  for (const item of items) {
    const [k, v, extra] = item.split(':');
    const ms = Number(v);
    if (extra !== undefined || !['ttft', 'tpot', 'e2el'].includes(k) || !Number.isFinite(ms) || ms < 0) {
      throw new MetricsError(`bad --goodput item "${item}": use ttft:MS, tpot:MS or e2el:MS with MS >= 0`);
    }
    slo[k as keyof GoodputSlo] = ms;
  }
  return slo;
}

export function distribution(xs: readonly number[]): Distribution {
  if (xs.length === 0) return { mean: 0, median: 0, p90: 0, p99: 0, std: 0, min: 0, max: 0 };
  const sorted = xs.slice().sort((a, b) => a - b);
  return {
    mean: ss.mean(sorted),
    median: ss.medianSorted(sorted),
    p90: ss.quantileSorted(sorted, 0.9),
    p99: ss.quantileSorted(sorted, 0.99),
    std: ss.standardDeviation(sorted),
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

export interface PerRequestTimings {
  ttftMs: number;
  e2elMs: number;
  /** null when output_len <= 1 */
  tpotMs: number | null;
  itlMs: number[];
  outputLen: number;
}

export function requestTimings(r: RequestRecord): PerRequestTimings {
  const t = r.tokenTimesMs;
  if (t.length === 0) throw new MetricsError('a successful request must have at least one token');
  const ttftMs = t[0] - r.sendMs;
  const e2elMs = t[t.length - 1] - r.sendMs;
  const outputLen = t.length;
  const itlMs: number[] = [];
  for (let i = 1; i < t.length; i++) itlMs.push(t[i] - t[i - 1]);
  return { ttftMs, e2elMs, tpotMs: outputLen > 1 ? (e2elMs - ttftMs) / (outputLen - 1) : null, itlMs, outputLen };
}

export interface ComputedMetrics {
  metrics: Omit<ServingMetrics, 'preemptions' | 'hostOverheadFraction'>;
  perRequest: (PerRequestTimings & { inputLen: number })[];
}

export function computeMetrics(records: readonly RequestRecord[], durationS: number, slo?: GoodputSlo): ComputedMetrics {
  if (!(durationS > 0)) throw new MetricsError(`benchmark duration must be > 0 s, got ${durationS}`);
  const ttfts: number[] = [];
  const tpots: number[] = [];
  const allTpots: number[] = [];
  const itls: number[] = [];
  const e2els: number[] = [];
  const perRequest: ComputedMetrics['perRequest'] = [];
  let totalInput = 0;
  let totalOutput = 0;
  let failed = 0;
  for (const r of records) {
    if (!r.success) {
      failed++;
      continue;
    }
    const t = requestTimings(r);
    perRequest.push({ ...t, inputLen: r.promptLen });
    totalInput += r.promptLen;
    totalOutput += t.outputLen;
    ttfts.push(t.ttftMs);
    e2els.push(t.e2elMs);
    if (t.tpotMs !== null) tpots.push(t.tpotMs);
    allTpots.push(t.tpotMs ?? 0);
    for (const g of t.itlMs) itls.push(g);
  }
  const completed = perRequest.length;
  const metrics: ComputedMetrics['metrics'] = {
    completed,
    failed,
    durationS,
    totalInputTokens: totalInput,
    totalOutputTokens: totalOutput,
    requestThroughput: completed / durationS,
    outputThroughput: totalOutput / durationS,
    totalTokenThroughput: (totalInput + totalOutput) / durationS,
    ttftMs: distribution(ttfts),
    tpotMs: distribution(tpots),
    itlMs: distribution(itls),
    e2elMs: distribution(e2els),
  };
  if (slo && Object.keys(slo).length > 0) {
    let good = 0;
    for (let i = 0; i < completed; i++) {
      const ok =
        (slo.ttft === undefined || ttfts[i] <= slo.ttft) &&
        (slo.tpot === undefined || allTpots[i] <= slo.tpot) &&
        (slo.e2el === undefined || e2els[i] <= slo.e2el);
      if (ok) good++;
    }
    metrics.goodput = {
      slo: { ...slo } as Record<string, number>,
      requestsPerS: good / durationS,
      fraction: completed > 0 ? good / completed : 0,
    };
  }
  return { metrics, perRequest };
}
