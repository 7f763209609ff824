/**
 * The result formats this package reads, re-exported from their owners' package exports (the schemas are
 * the contract). Type-only: nothing here runs. Provenance and WeightsKind are taken from the bench schema
 * (which carries the engine's Provenance), so the report needs no dependency on the engine package.
 */
import type { BenchPoint } from '@quantbench/bench';

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
export type Provenance = BenchPoint['provenance'];
export type WeightsKind = Provenance['weights'];

/** Schema versions this report understands (mirrors BENCH_SCHEMA_VERSION / EVAL_SCHEMA_VERSION). */
export const SUPPORTED_BENCH_VERSION = 1;
export const SUPPORTED_EVAL_VERSION = 1;
