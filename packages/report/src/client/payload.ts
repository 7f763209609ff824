/** The JSON the report page carries for its client script (in <script id="qb-data" type="application/json">). */
import type { Spec as VegaSpec } from 'vega';

export interface ClientChart {
  id: string;
  title: string;
  /** Compiled Vega spec with its data inline; null: nothing to draw (the page shows why). */
  vega: VegaSpec | null;
  csv: string;
}

export interface ClientPayload {
  charts: ClientChart[];
}

/** What the client leaves on window.__qbReport once every chart settled (read by the browser test). */
export interface ClientState {
  rendered: string[];
  failed: { id: string; error: string }[];
  empty: string[];
}
