/** CSV export of a chart's table (raw values, header = column titles). */
import { stringify } from 'csv-stringify/sync';
import type { ChartColumn, Row } from './charts/chart-types.ts';

export function chartCsv(columns: ChartColumn[], rows: Row[]): string {
  return stringify(
    rows.map((r) => columns.map((c) => r[c.field] ?? '')),
    { header: true, columns: columns.map((c) => `${c.title}${c.field !== c.title ? ` [${c.field}]` : ''}`) },
  );
}
