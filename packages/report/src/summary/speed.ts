/**
 * Speed columns of the summary, from one bench setup only: per workload, output throughput at the largest
 * max batch every precision ran at rate ∞, speedup over fp16 at that same protocol, and TTFT / TPOT p50 at
 * the lowest finite request rate measured (else at the throughput point).
 */
import type { Tagged } from '../load/read-results.ts';
import type { BenchPoint } from '../results-types.ts';
import { compareWorkloads } from '../charts/common.ts';
import { comparePrecision } from '../setup.ts';
import type { BenchSetup } from '../select/bench-setups.ts';

export interface WorkloadProtocol {
  workload: string;
  inputLen: number;
  outputLen: number;
  maxBatch: number;
  /** "2048→128, batch 256, rate ∞" */
  label: string;
  /** Where TTFT/TPOT come from, e.g. "batch 256 at 4 req/s". */
  latencyLabel: string;
}

export interface SpeedCell {
  outTokS: number;
  speedup: number | null;
  ttftP50: number | null;
  tpotP50: number | null;
  numPrompts: number;
}

export interface SpeedTable {
  precisions: string[];
  protocols: WorkloadProtocol[];
  /** workload → precision → cell */
  cells: Record<string, Record<string, SpeedCell>>;
}

const rateNum = (r: number | 'inf') => (r === 'inf' ? Infinity : r);

export function speedTable(setup: BenchSetup): SpeedTable {
  const pts = setup.points.map((t) => t.record);
  const precisions = [...new Set(pts.map((p) => p.precision))].sort(comparePrecision);
  const workloads = [...new Set(pts.map((p) => p.workload.name))].sort(compareWorkloads);
  const protocols: WorkloadProtocol[] = [];
  const cells: SpeedTable['cells'] = {};
  for (const w of workloads) {
    const inW = pts.filter((p) => p.workload.name === w);
    const inf = inW.filter((p) => p.requestRate === 'inf');
    if (!inf.length) continue;
    const precs = [...new Set(inf.map((p) => p.precision))];
    // The largest batch that every precision of this workload ran at rate ∞.
    const batches = [...new Set(inf.map((p) => p.engine.maxNumSeqs))].filter((b) =>
      precs.every((pr) => inf.some((p) => p.precision === pr && p.engine.maxNumSeqs === b)),
    );
    if (!batches.length) continue;
    const maxBatch = Math.max(...batches);
    const finite = inW.filter((p) => p.requestRate !== 'inf');
    const latRate = finite.length ? Math.min(...finite.map((p) => rateNum(p.requestRate))) : null;
    const latPts = latRate != null ? finite.filter((p) => rateNum(p.requestRate) === latRate) : [];
    const latBatch = latPts.length ? Math.max(...latPts.map((p) => p.engine.maxNumSeqs)) : maxBatch;
    const at = (pr: string, pool: BenchPoint[], b: number) =>
      pool.filter((p) => p.precision === pr && p.engine.maxNumSeqs === b).sort((a, c) => c.provenance.date.localeCompare(a.provenance.date))[0];
    const first = at(precs[0], inf, maxBatch);
    protocols.push({
      workload: w,
      inputLen: first.workload.inputLen,
      outputLen: first.workload.outputLen,
      maxBatch,
      label: `${first.workload.inputLen}→${first.workload.outputLen} tokens, batch ${maxBatch}, rate ∞`,
      latencyLabel: latRate != null ? `batch ${latBatch} at ${latRate} req/s` : `batch ${maxBatch} at rate ∞ (includes queueing)`,
    });
    const fp16 = at('fp16', inf, maxBatch);
    cells[w] = {};
    for (const pr of precs) {
      const p = at(pr, inf, maxBatch);
      const lat = latRate != null ? at(pr, latPts, latBatch) : p;
      cells[w][pr] = {
        outTokS: p.metrics.outputThroughput,
        speedup: fp16 ? p.metrics.outputThroughput / fp16.metrics.outputThroughput : null,
        ttftP50: lat ? lat.metrics.ttftMs.median : null,
        tpotP50: lat ? lat.metrics.tpotMs.median : null,
        numPrompts: p.workload.numPrompts,
      };
    }
  }
  return { precisions, protocols, cells };
}

export type { Tagged };
