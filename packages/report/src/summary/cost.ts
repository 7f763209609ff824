/**
 * What a precision costs in money: the best output throughput of one bench setup that still meets the
 * latency targets (goodput), turned into dollars per million output tokens at a GPU-hour price.
 *
 * A point meets the targets when, with per-request timings recorded, the requests meeting both targets
 * are counted (goodput = their output tokens / duration); without them, when its TTFT p90 and TPOT p90
 * are both within the targets (then its whole output throughput counts).
 */
import type { BenchPoint } from '../results-types.ts';
import type { BenchSetup } from '../select/bench-setups.ts';

export interface Slo {
  ttftMs: number;
  tpotMs: number;
}

export interface CostCell {
  goodputTokS: number;
  usdPerMTok: number;
  maxBatch: number;
  rate: string;
  method: 'requests' | 'p90';
}

export function goodputOf(p: BenchPoint, slo: Slo): { tokS: number; method: 'requests' | 'p90' } {
  const reqs = p.requests;
  if (reqs && reqs.length) {
    const ok = reqs.filter((r) => r.ttftMs <= slo.ttftMs && (r.outputLen <= 1 || r.tpotMs <= slo.tpotMs));
    return { tokS: ok.reduce((a, r) => a + r.outputLen, 0) / p.metrics.durationS, method: 'requests' };
  }
  const pass = p.metrics.ttftMs.p90 <= slo.ttftMs && p.metrics.tpotMs.p90 <= slo.tpotMs;
  return { tokS: pass ? p.metrics.outputThroughput : 0, method: 'p90' };
}

export function usdPerMillion(tokS: number, usdPerHour: number): number {
  return (usdPerHour / (tokS * 3600)) * 1e6;
}

/** workload → precision → best point meeting the targets (absent when none does). */
export function costTable(setup: BenchSetup, slo: Slo, usdPerHour: number): Record<string, Record<string, CostCell>> {
  const out: Record<string, Record<string, CostCell>> = {};
  for (const { record: p } of setup.points) {
    const g = goodputOf(p, slo);
    if (g.tokS <= 0) continue;
    const w = (out[p.workload.name] ??= {});
    const prev = w[p.precision];
    if (!prev || g.tokS > prev.goodputTokS)
      w[p.precision] = {
        goodputTokS: g.tokS,
        usdPerMTok: usdPerMillion(g.tokS, usdPerHour),
        maxBatch: p.engine.maxNumSeqs,
        rate: p.requestRate === 'inf' ? 'rate ∞' : `${p.requestRate} req/s`,
        method: g.method,
      };
  }
  return out;
}
