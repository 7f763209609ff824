/** Summarises where every loaded record came from, per setup (device · commit · model), for the header. */
import type { LoadedResults } from './load/read-results.ts';
import type { Provenance } from './results-types.ts';
import { FIXTURE_DEVICE, comparePrecision, setupOf } from './setup.ts';

export interface SetupSummary {
  label: string;
  device: string;
  deviceKind: string;
  commit: string;
  model: string;
  weights: string;
  firstDate: string;
  lastDate: string;
  precisions: string[];
  /** e.g. "bench points 72", "eval results 4" */
  contents: string[];
  runs: string[];
  hosts: string[];
  fixture: boolean;
}

export interface RecipeSummary {
  setup: string;
  precision: string;
  weights: string;
  activations: string;
  actDtype: string;
  source: string;
  extra: string;
}

export interface ProvenanceSummary {
  setups: SetupSummary[];
  recipes: RecipeSummary[];
  fixture: boolean;
  weights: string[];
}

export function summarizeProvenance(data: LoadedResults): ProvenanceSummary {
  const groups = new Map<string, { prov: Provenance[]; runs: Set<string>; counts: Map<string, number> }>();
  const add = (kind: string, items: { run: string; record: { provenance: Provenance } }[]) => {
    for (const t of items) {
      const k = setupOf(t.record.provenance).key;
      const g = groups.get(k) ?? { prov: [], runs: new Set<string>(), counts: new Map<string, number>() };
      g.prov.push(t.record.provenance);
      g.runs.add(t.run);
      g.counts.set(kind, (g.counts.get(kind) ?? 0) + 1);
      groups.set(k, g);
    }
  };
  add('serving points', data.points);
  add('block breakdowns', data.breakdown);
  add('kernel timings', data.kernels);
  add('eval results', data.evals);
  add('fidelity results', data.fidelity);
  add(
    'perplexity results',
    data.perplexity.flatMap((t) => Object.values(t.record.perPrecision).map((v) => ({ run: t.run, record: { provenance: v.provenance } }))),
  );

  const setups: SetupSummary[] = [];
  const recipes = new Map<string, RecipeSummary>();
  for (const g of groups.values()) {
    const p0 = g.prov[0];
    const s = setupOf(p0);
    const dates = g.prov.map((p) => p.date).sort();
    setups.push({
      label: s.label,
      device: p0.device,
      deviceKind: p0.deviceKind,
      commit: p0.commit,
      model: p0.model,
      weights: [...new Set(g.prov.map((p) => p.weights))].join(', '),
      firstDate: dates[0],
      lastDate: dates[dates.length - 1],
      precisions: [...new Set(g.prov.map((p) => p.recipe.precision))].sort(comparePrecision),
      contents: [...g.counts.entries()].map(([k, n]) => `${k} ${n}`),
      runs: [...g.runs].sort(),
      hosts: [...new Set(g.prov.map((p) => p.host).filter((h): h is string => !!h))],
      fixture: p0.device === FIXTURE_DEVICE,
    });
    for (const p of g.prov) {
      const r = p.recipe;
      const extra = [
        r.smoothquantAlpha != null ? `SmoothQuant α=${r.smoothquantAlpha}` : '',
        r.calibration ? `calibration: ${r.calibration}` : '',
      ]
        .filter(Boolean)
        .join('; ');
      const rec: RecipeSummary = {
        setup: s.label,
        precision: r.precision,
        weights: r.weights,
        activations: r.activations,
        actDtype: r.actDtype,
        source: r.source,
        extra,
      };
      recipes.set(JSON.stringify(rec), rec);
    }
  }
  setups.sort((a, b) => a.label.localeCompare(b.label));
  return {
    setups,
    recipes: [...recipes.values()].sort((a, b) => a.setup.localeCompare(b.setup) || comparePrecision(a.precision, b.precision)),
    fixture: setups.some((s) => s.fixture),
    weights: [...new Set(setups.flatMap((s) => s.weights.split(', ')))].sort(),
  };
}
