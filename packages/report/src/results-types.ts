/**
 * The result formats this package reads, re-exported from their owners (the schemas are the contract).
 * Type-only: nothing here runs. Relative paths because @quantbench/bench and @quantbench/eval export no
 * subpath for their schema modules.
 */
export type {
  BenchPoint,
  BenchSummary,
  BlockBreakdownPoint,
  Distribution,
  KernelTiming,
  RooflineRatio,
  ServingMetrics,
} from '../../bench/src/schema.ts';
export type {
  EvalResult,
  FidelityResult,
  GroupResult,
  MetricValue,
  PerplexityResult,
  TaskResult,
} from '../../eval/src/schema.ts';
export type { Provenance } from '../../engine/src/provenance.ts';
export type { WeightsKind } from '../../engine/src/types.ts';

/** Schema versions this report understands (mirrors BENCH_SCHEMA_VERSION / EVAL_SCHEMA_VERSION). */
export const SUPPORTED_BENCH_VERSION = 1;
export const SUPPORTED_EVAL_VERSION = 1;
