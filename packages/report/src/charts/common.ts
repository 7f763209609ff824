/** Helpers shared by the chart modules: setup splitting, faceting, empty charts, number wording. */
import type { TopLevelSpec } from 'vega-lite';
import type { Provenance, WeightsKind } from '../results-types.ts';
import { FIXTURE_DEVICE, setupOf } from '../setup.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';

type TopLevelFacet = Extract<TopLevelSpec, { facet: unknown }>;
/** The inner (per-cell) spec of a facet: a unit or layer spec without data. */
export type CellSpec = TopLevelFacet['spec'];
type FacetMapping = Extract<TopLevelFacet['facet'], { row?: unknown }>;
type FacetField = NonNullable<FacetMapping['row']>;

export const CELL_WIDTH = 260;
export const CELL_HEIGHT = 190;

export interface Sources {
  setups: string[];
  weights: WeightsKind[];
  fixture: boolean;
}

export function sourcesOf(provs: Provenance[]): Sources {
  const setups = [...new Set(provs.map((p) => setupOf(p).label))].sort();
  const weights = [...new Set(provs.map((p) => p.weights))].sort();
  return { setups, weights, fixture: provs.some((p) => p.device === FIXTURE_DEVICE) };
}

/** Notes line that tells the reader setups were split, never combined. */
export function splitNote(setups: string[]): string[] {
  return setups.length > 1
    ? [`${setups.length} setups (device · commit · model) in this data: one row of panels per setup, never combined.`]
    : [];
}

export function emptyChart(
  base: { id: string; title: string; columns: ChartColumn[] },
  reason: string,
): ChartResult {
  return {
    ...base,
    reading: reason,
    notes: [],
    spec: null,
    emptyReason: reason,
    rows: [],
    weights: [],
    fixture: false,
    setups: [],
  };
}

/**
 * Wraps a cell spec with the rows as inline data, faceting by column (e.g. workload) and, when the rows come
 * from more than one setup, by row = setup. Without either, returns a plain single-view spec.
 */
export function facetSpec(opts: {
  description: string;
  rows: Row[];
  setups: string[];
  column?: FacetField;
  row?: FacetField;
  transform?: TopLevelFacet['transform'];
  resolve?: TopLevelFacet['resolve'];
  spec: CellSpec;
}): TopLevelSpec {
  const rowField: FacetField | undefined =
    opts.row ??
    (opts.setups.length > 1
      ? {
          field: 'setup',
          type: 'nominal',
          header: {
            title: null,
            labelFontWeight: 'bold',
            labelOrient: 'left',
            labelAngle: -90,
            labelLimit: 200,
            // device (without the vendor) and commit; the full label is in the table and the notes.
            labelExpr: "replace(split(datum.label, ' · ')[0], 'NVIDIA ', '') + ' · ' + split(datum.label, ' · ')[1]",
          },
        }
      : undefined);
  const data = { values: opts.rows };
  if (!rowField && !opts.column) {
    return {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      description: opts.description,
      data,
      ...(opts.transform ? { transform: opts.transform } : {}),
      ...opts.spec,
    } as TopLevelSpec;
  }
  const facet: FacetMapping = {};
  if (rowField) facet.row = rowField;
  if (opts.column) facet.column = opts.column;
  let spec = fitWidth(opts.spec, opts.column ? distinctCount(opts.rows, opts.column) : 1);
  let rows = opts.rows;
  // Panels a setup has no data for say so instead of drawing an empty frame.
  // (Only where scales are shared: an independent scale over a panel with no rows has no extent.)
  const independent = JSON.stringify(opts.resolve ?? {}).includes('independent');
  if (rowField && opts.column && 'field' in rowField && 'field' in opts.column && !opts.transform && !independent) {
    const rf = String(rowField.field);
    const cf = String(opts.column.field);
    const rv = [...new Set(opts.rows.map((r) => String(r[rf])))];
    const cv = [...new Set(opts.rows.map((r) => String(r[cf])))];
    const missing = rv.flatMap((a) => cv.filter((b) => !opts.rows.some((r) => String(r[rf]) === a && String(r[cf]) === b)).map((b) => ({ [rf]: a, [cf]: b, [NO_DATA]: 'no data' })));
    if (missing.length) {
      rows = [...opts.rows, ...missing];
      spec = withNoDataLayer(spec);
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: opts.description,
    data: { values: rows },
    ...(opts.transform ? { transform: opts.transform } : {}),
    facet,
    spec,
    ...(opts.resolve ? { resolve: opts.resolve } : {}),
  };
}

const NO_DATA = '__noData';
/** The page column is 1,344 px at a 1,400 px window; facets get what is left after axes and a legend. */
export const COLUMN_BUDGET = 1000;

function distinctCount(rows: Row[], f: FacetField): number {
  const field = 'field' in f ? String(f.field) : '';
  return Math.max(1, new Set(rows.map((r) => String(r[field]))).size);
}

/** Narrows a numeric cell width so n columns of panels fit the page column. */
function fitWidth(spec: CellSpec, n: number): CellSpec {
  const w = (spec as { width?: unknown }).width;
  if (typeof w !== 'number') return spec;
  const fit = Math.floor(COLUMN_BUDGET / n) - 60;
  return { ...spec, width: Math.max(120, Math.min(w, fit)) } as CellSpec;
}

/** Wraps a cell spec so its marks skip placeholder rows and a text mark writes "no data" in their panels. */
function withNoDataLayer(spec: CellSpec): CellSpec {
  const { width, height, ...inner } = spec as unknown as Record<string, unknown>;
  const h = typeof height === 'number' ? height : CELL_HEIGHT;
  const w = typeof width === 'number' ? width : CELL_WIDTH;
  return {
    ...(width !== undefined ? { width } : {}),
    ...(height !== undefined ? { height } : {}),
    layer: [
      { transform: [{ filter: `!datum.${NO_DATA}` }], ...inner },
      {
        transform: [{ filter: `datum.${NO_DATA}` }],
        mark: { type: 'text', fontSize: 14, color: '#8a8f99' },
        encoding: { text: { field: NO_DATA, type: 'nominal' }, x: { value: w / 2 }, y: { value: h / 2 } },
      },
    ],
  } as unknown as CellSpec;
}

/** Column facet header used for workloads/precisions/metrics. */
export function columnBy(field: string, sort?: string[]): FacetField {
  return {
    field,
    type: 'nominal',
    header: { title: null, labelFontSize: 12, labelFontWeight: 'bold' },
    ...(sort ? { sort } : {}),
  };
}

export function fmtNum(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e5) return `${(v / 1e3).toFixed(0)}k`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a === 0) return '0';
  if (a < 1e-3) return v.toExponential(1);
  return v.toPrecision(digits);
}

export function fmtTimes(v: number): string {
  return `${v.toFixed(2)}×`;
}

export function fmtPct(v: number, digits = 1): string {
  return `${v.toFixed(digits)}%`;
}

export function uniqueSorted<T extends string | number>(xs: Iterable<T>): T[] {
  return [...new Set(xs)].sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b))));
}

/** Workload order: prefill-heavy, decode-heavy, then the rest alphabetically. */
export function compareWorkloads(a: string, b: string): number {
  const order = ['prefill-heavy', 'decode-heavy'];
  const ia = order.indexOf(a);
  const ib = order.indexOf(b);
  if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  return a.localeCompare(b);
}

export function sortWorkloads(ws: Iterable<string>): string[] {
  return [...new Set(ws)].sort(compareWorkloads);
}

/** Log-2 batch axis over the batch sizes present. */
export function batchAxis(batches: number[], title = 'max batch size (max_num_seqs)') {
  return {
    field: 'maxBatch',
    type: 'quantitative' as const,
    title,
    scale: { type: 'log' as const, base: 2 },
    axis: { values: uniqueSorted(batches), format: 'd' },
  };
}

/**
 * One item per key: the one with the latest provenance date (re-runs replace earlier results of the same
 * setup and parameters instead of being drawn twice).
 */
export function latestBy<T extends { record: { provenance: Provenance } }>(items: T[], key: (t: T) => string): T[] {
  const out = new Map<string, T>();
  for (const t of items) {
    const k = key(t);
    const prev = out.get(k);
    if (!prev || t.record.provenance.date >= prev.record.provenance.date) out.set(k, t);
  }
  return [...out.values()];
}
