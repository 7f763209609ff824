/**
 * The result formats this package reads, re-exported from their owners (the schemas are the contract).
 * Type-only: nothing here runs. Provenance and WeightsKind are the engine's, re-exported by the bench schema.
 */
export type {
  BenchPoint,
  BenchSummary,
  BlockBreakdownPoint,
  Distribution,
  KernelTiming,
  RooflineRatio,
  ServingMetrics,
} from '@quantbench/bench';
export type {
  EvalResult,
  FidelityResult,
  GroupResult,
  MetricValue,
  PerplexityResult,
  TaskResult,
} from '@quantbench/eval';
export type { Provenance, WeightsKind } from '@quantbench/bench';

/** Schema versions this report understands (mirrors BENCH_SCHEMA_VERSION / EVAL_SCHEMA_VERSION). */
export const SUPPORTED_BENCH_VERSION = 1;
export const SUPPORTED_EVAL_VERSION = 1;
