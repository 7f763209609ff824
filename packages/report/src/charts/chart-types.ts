/** What every chart module returns: a typed Vega-Lite spec (or why there is none), its table and reading. */
import type { TopLevelSpec } from 'vega-lite';
import type { LoadedResults } from '../load/read-results.ts';
import type { WeightsKind } from '../results-types.ts';

export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

/** How a table cell is shown in the HTML (CSV always holds the raw value). */
export type CellFormat = 'int' | 'num1' | 'num2' | 'num3' | 'sci' | 'pct' | 'pct1' | 'times' | 'text';

export interface ChartColumn {
  field: string;
  title: string;
  format?: CellFormat;
}

export interface ChartResult {
  /** Stable id: used for element ids and export file names. */
  id: string;
  title: string;
  /** One line saying what the data shows (computed from the data). */
  reading: string;
  /** Extra lines: how setups were split, which subset was chosen, fallbacks taken. */
  notes: string[];
  /** null when there is nothing to draw; then emptyReason says why. */
  spec: TopLevelSpec | null;
  emptyReason?: string;
  columns: ChartColumn[];
  rows: Row[];
  /** Weights kinds of the data drawn (drives the synthetic/real badge). */
  weights: WeightsKind[];
  /** True when any data came from fixtures (provenance device "fixture"). */
  fixture: boolean;
  /** Setup labels present (device · commit · model). */
  setups: string[];
}

export type ChartBuilder = (data: LoadedResults) => ChartResult;
