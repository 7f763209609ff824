/**
 * Comparable bench setups: one device, one commit, one model and one engine configuration (batched-token
 * budget, KV block size, memory utilization, CUDA graphs, async scheduling, an ncu window). The sweep variable (max batch) and the request
 * rate vary inside a setup; the KV block count does too (it follows the memory free when the run loaded).
 */
import type { Tagged } from '../load/read-results.ts';
import type { BenchPoint } from '../results-types.ts';
import { setupOf, shortCommit, type Setup } from '../setup.ts';

/** A bench setup: the chart setup (device · commit · model, as setupOf) plus the engine configuration. */
export interface BenchSetup extends Setup {
  engine: string;
  firstDate: string;
  lastDate: string;
  runs: string[];
  points: Tagged<BenchPoint>[];
}

export function engineKey(p: BenchPoint): string {
  const e = p.engine;
  return [
    `max batched tokens ${e.maxNumBatchedTokens}`,
    `block ${e.blockSize}`,
    e.gpuMemoryUtilization != null ? `mem util ${e.gpuMemoryUtilization}` : '',
    e.cudaGraphs != null ? `CUDA graphs ${e.cudaGraphs ? 'on' : 'off'}` : '',
    e.asyncScheduling ? 'async scheduling' : '',
    e.ncuSteps ? `profiled under ncu (steps ${e.ncuSteps[0]}-${e.ncuSteps[1] - 1}): timings not clean` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

export function benchSetups(points: Tagged<BenchPoint>[]): BenchSetup[] {
  const by = new Map<string, BenchSetup>();
  for (const t of points) {
    const p = t.record;
    const s = setupOf(p.provenance);
    const engine = engineKey(p);
    const key = JSON.stringify([s.key, engine]);
    let g = by.get(key);
    if (!g) {
      g = {
        key,
        label: s.label,
        device: s.device,
        deviceKind: s.deviceKind,
        commit: s.commit,
        model: s.model,
        weights: s.weights,
        engine,
        firstDate: p.provenance.date,
        lastDate: p.provenance.date,
        runs: [],
        points: [],
      };
      by.set(key, g);
    }
    g.points.push(t);
    if (!g.runs.includes(t.run)) g.runs.push(t.run);
    if (p.provenance.date < g.firstDate) g.firstDate = p.provenance.date;
    if (p.provenance.date > g.lastDate) g.lastDate = p.provenance.date;
  }
  for (const g of by.values()) g.runs.sort();
  return [...by.values()].sort((a, b) => b.lastDate.localeCompare(a.lastDate));
}

/** Short name for headings: "NVIDIA H200 · e6bb482+bundle". */
export function setupShort(s: { device: string; commit: string }): string {
  return `${s.device} · ${shortCommit(s.commit)}`;
}
