export { buildReport, buildReportFromData, buildCharts, writeExports } from './build-report.ts';
export type { BuiltChart, BuiltReport, BuildOptions } from './build-report.ts';
export { loadResults, findRunDirs } from './load/discover.ts';
export type { LoadedResults, Skipped, RunInfo, Tagged } from './load/read-results.ts';
export type { ChartResult, ChartColumn, Row } from './charts/chart-types.ts';
export { ReportError } from './errors.ts';
export type { ReportErrorCode } from './errors.ts';
