/** The JSON the report page carries for its client script (in <script id="qb-data" type="application/json">). */
import type { TopLevelSpec } from 'vega-lite';

export interface ClientChart {
  id: string;
  title: string;
  /** null: nothing to draw (the page shows why). */
  spec: TopLevelSpec | null;
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
