/** `--device` and `--since`: drop records whose provenance does not match, before anything is chosen or drawn. */
import type { LoadedResults } from '../load/read-results.ts';
import type { Provenance } from '../results-types.ts';

export interface FilterOptions {
  /** Case-insensitive substring of provenance.device (e.g. "h200"). */
  device?: string;
  /** ISO date or date-time: keep records with provenance.date >= since. */
  since?: string;
}

export interface FilterOutcome {
  data: LoadedResults;
  /** One line per filter that removed something, e.g. "--device h200: 112 of 190 records left out". */
  notes: string[];
}

export function filterResults(data: LoadedResults, opts: FilterOptions): FilterOutcome {
  const device = opts.device?.trim().toLowerCase();
  const since = opts.since?.trim();
  if (!device && !since) return { data, notes: [] };
  const keep = (p: Provenance) => (!device || p.device.toLowerCase().includes(device)) && (!since || p.date >= since);
  let total = 0;
  let kept = 0;
  const f = <T extends { record: { provenance: Provenance } }>(xs: T[]): T[] => {
    total += xs.length;
    const out = xs.filter((t) => keep(t.record.provenance));
    kept += out.length;
    return out;
  };
  const perplexity = data.perplexity
    .map((t) => {
      const per = Object.fromEntries(Object.entries(t.record.perPrecision).filter(([, v]) => keep(v.provenance)));
      return { ...t, record: { ...t.record, perPrecision: per } };
    })
    .filter((t) => Object.keys(t.record.perPrecision).length > 0);
  const out: LoadedResults = {
    ...data,
    points: f(data.points),
    breakdown: f(data.breakdown),
    kernels: f(data.kernels),
    evals: f(data.evals),
    fidelity: f(data.fidelity),
    perplexity,
  };
  const what = [device ? `--device ${opts.device}` : '', since ? `--since ${since}` : ''].filter(Boolean).join(' ');
  return { data: out, notes: [`${what}: ${kept} of ${total} records kept (the rest left out before any choice).`] };
}
