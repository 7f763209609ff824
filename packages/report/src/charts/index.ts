/** All charts, in report order. One module per chart. */
import type { ChartBuilder } from './chart-types.ts';
import { accuracy } from './accuracy.ts';
import { attentionShare } from './attention-share.ts';
import { blockLatencyVsContext } from './block-latency-vs-context.ts';
import { fidelity } from './fidelity.ts';
import { fp8DynamicVsStatic } from './fp8-dynamic-vs-static.ts';
import { kernelTimings } from './kernel-timings.ts';
import { latencyDistributions } from './latency-distributions.ts';
import { perplexity } from './perplexity.ts';
import { recovery } from './recovery.ts';
import { rooflineRatio } from './roofline-ratio.ts';
import { speedupOverFp16 } from './speedup-over-fp16.ts';
import { throughputVsBatch } from './throughput-vs-batch.ts';

export const CHARTS: readonly ChartBuilder[] = [
  throughputVsBatch,
  speedupOverFp16,
  latencyDistributions,
  attentionShare,
  blockLatencyVsContext,
  fp8DynamicVsStatic,
  rooflineRatio,
  kernelTimings,
  accuracy,
  recovery,
  fidelity,
  perplexity,
];
