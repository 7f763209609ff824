/**
 * The answer block for one device: its newest comparable bench setup (speed, cost), the quality run it is
 * read with, the headline sentence (computed from the same cells the table shows), and the caveats.
 */
import type { LoadedResults } from '../load/read-results.ts';
import type { Peers, GpuPrice, PeerThroughput } from '../peers.ts';
import { deviceMatches, priceFor } from '../peers.ts';
import type { BenchSetup } from '../select/bench-setups.ts';
import type { Scope } from '../select/scope.ts';
import { shortCommit } from '../setup.ts';
import { costTable, type CostCell, type Slo } from './cost.ts';
import { qualityTable, type QualityTable } from './quality.ts';
import { speedTable, type SpeedTable } from './speed.ts';

export interface PriceUsed {
  usdPerHour: number;
  /** "GPUaaS.com on-demand … (2026-05-26)" or "--gpu-hour-price" */
  source: string;
  url?: string;
}

export interface HeadlineFact {
  /** Matches a data-summary cell key in the table. */
  key: string;
  text: string;
}

export interface DeviceSummary {
  id: string;
  setup: BenchSetup;
  speed: SpeedTable;
  quality: QualityTable | null;
  /** Quality run is on another model or device than the bench setup. */
  qualityElsewhere: boolean;
  cost: Record<string, Record<string, CostCell>>;
  price: PriceUsed | null;
  slo: Slo;
  peers: PeerThroughput[];
  headline: HeadlineFact[];
  caveats: string[];
}

export interface SummaryOptions {
  slo: Slo;
  /** Overrides the per-device default price from the peers file. */
  gpuHourPrice?: number;
}

export function cellKey(device: string, workload: string, precision: string, what: string): string {
  return [device, workload, precision, what].join('|').replace(/[^A-Za-z0-9|.-]+/g, '_');
}

function priceOf(device: string, peers: Peers, opts: SummaryOptions): PriceUsed | null {
  if (opts.gpuHourPrice != null) return { usdPerHour: opts.gpuHourPrice, source: '--gpu-hour-price' };
  const p: GpuPrice | undefined = priceFor(peers, device);
  return p ? { usdPerHour: p.usdPerHour, source: `${p.note} (${p.date})`, url: p.source } : null;
}

/** Newer engine commits in the loaded GPU records than the setup's own. */
function newerCommits(setup: BenchSetup, all: LoadedResults): { commit: string; date: string }[] {
  const seen = new Map<string, string>();
  const recs = [...all.points, ...all.breakdown, ...all.kernels].map((t) => t.record.provenance);
  for (const p of recs)
    if (p.deviceKind === 'cuda' && p.commit !== setup.commit && p.date > setup.lastDate && (!seen.has(p.commit) || p.date > (seen.get(p.commit) as string)))
      seen.set(p.commit, p.date);
  return [...seen.entries()].map(([commit, date]) => ({ commit, date })).sort((a, b) => b.date.localeCompare(a.date));
}

export function deviceSummaries(all: LoadedResults, scope: Scope, peers: Peers, opts: SummaryOptions): DeviceSummary[] {
  return scope.currentBench.map((setup, i) => {
    const speed = speedTable(setup);
    const qGroup = scope.currentEval.find((g) => g.model === setup.model && g.device === setup.device) ?? scope.currentEval[0];
    const quality = qGroup ? qualityTable(scope.current, qGroup) : null;
    const price = priceOf(setup.device, peers, opts);
    const cost = price ? costTable(setup, opts.slo, price.usdPerHour) : {};
    const headline: HeadlineFact[] = [];
    for (const proto of speed.protocols) {
      const cells = speed.cells[proto.workload];
      const best = Object.entries(cells).sort((a, b) => b[1].outTokS - a[1].outTokS)[0];
      if (!best) continue;
      const [prec, c] = best;
      headline.push({
        key: cellKey(setup.device, proto.workload, prec, 'outTokS'),
        text: `${proto.workload} (${proto.inputLen}→${proto.outputLen}, batch ${proto.maxBatch}): ${prec} is fastest at ${Math.round(c.outTokS).toLocaleString('en-US')} out tok/s`,
      });
      if (c.speedup != null && prec !== 'fp16')
        headline.push({ key: cellKey(setup.device, proto.workload, prec, 'speedup'), text: `${c.speedup.toFixed(2)}× fp16` });
    }
    const caveats: string[] = [];
    if (setup.weights === 'synthetic')
      caveats.push('Synthetic weights (exact Llama-3.1-8B shapes, seeded values): the speed is meaningful, accuracy is not; quality comes from a separate real-weight run, named below.');
    const newer = newerCommits(setup, all);
    if (newer.length)
      caveats.push(
        `These numbers predate later engine changes: ${newer.length} newer commit(s) appear in these results (newest ${shortCommit(newer[0].commit)}, ${newer[0].date.slice(0, 10)}); re-run \`pnpm bench\` at the newest commit to update them.`,
      );
    const peersHere = peers.throughput.filter((p) => deviceMatches(setup.device, p.device));
    const qualityElsewhere = !!quality && (quality.group.model !== setup.model || quality.group.device !== setup.device);
    return {
      id: `summary-${i + 1}`,
      setup,
      speed,
      quality,
      qualityElsewhere,
      cost,
      price,
      slo: opts.slo,
      peers: peersHere,
      headline,
      caveats,
    };
  });
}
