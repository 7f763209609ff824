/** Choosing which serving points a chart draws when a run swept request rates as well as batch sizes. */
import type { Tagged } from '../load/read-results.ts';
import type { BenchPoint } from '../results-types.ts';
import { setupOf } from '../setup.ts';

export function rateValue(r: number | 'inf'): number {
  return r === 'inf' ? Number.POSITIVE_INFINITY : r;
}

export function rateLabel(r: number | 'inf'): string {
  return r === 'inf' ? 'inf' : `${r} req/s`;
}

/**
 * One point per (setup, workload, precision, max batch): the one at the highest request rate
 * ("inf" = all requests at once, the throughput setting). Later runs win ties.
 */
export function atHighestRate(points: Tagged<BenchPoint>[]): Tagged<BenchPoint>[] {
  const best = new Map<string, Tagged<BenchPoint>>();
  for (const t of points) {
    const p = t.record;
    const k = JSON.stringify([setupOf(p.provenance).key, p.workload.name, p.precision, p.engine.maxNumSeqs]);
    const prev = best.get(k);
    const r = rateValue(p.requestRate);
    const pr = prev ? rateValue(prev.record.requestRate) : Number.NEGATIVE_INFINITY;
    if (!prev || r > pr || (r === pr && p.provenance.date >= prev.record.provenance.date)) best.set(k, t);
  }
  return [...best.values()];
}

/** Whether every selected point ran at rate "inf"; the note says so otherwise. */
export function rateNote(points: Tagged<BenchPoint>[]): string[] {
  const rates = new Set(points.map((t) => rateLabel(t.record.requestRate)));
  if (rates.size === 1 && rates.has('inf')) return ['All points at request rate inf (all requests sent at once).'];
  return [`Each point is the highest request rate measured at that batch size (${[...rates].join(', ')}).`];
}
