/** vLLM bench serve's result-file flags of `pnpm bench`, checked before any work (see vllm_result.ts). */
import { UsageError } from '@quantbench/engine';
import { parseMetricPercentiles, parsePercentileMetrics, type VllmSaveOptions } from './vllm_result.ts';

export interface VllmFlags {
  percentileMetrics: string;
  metricPercentiles: string;
  saveResult: boolean;
  saveDetailed: boolean;
  resultDir?: string;
  resultFilename?: string;
}

export function vllmOptionsOf(a: VllmFlags, numPoints: number): VllmSaveOptions {
  const o: VllmSaveOptions = {
    saveResult: a.saveResult,
    saveDetailed: a.saveDetailed,
    resultDir: a.resultDir,
    resultFilename: a.resultFilename,
    percentileMetrics: parsePercentileMetrics(a.percentileMetrics),
    metricPercentiles: parseMetricPercentiles(a.metricPercentiles),
  };
  if (!a.saveResult && (a.saveDetailed || a.resultDir || a.resultFilename)) {
    throw new UsageError(`--${a.saveDetailed ? 'save-detailed' : a.resultDir ? 'result-dir' : 'result-filename'} needs --save-result (as in vllm bench serve)`);
  }
  if (a.resultFilename && numPoints > 1) {
    throw new UsageError(`--result-filename names one file but this sweep has ${numPoints} points; drop it (each point gets vLLM's default name) or sweep one point`);
  }
  if (a.resultFilename && /[/\\]/.test(a.resultFilename)) throw new UsageError('--result-filename is a file name; put the directory in --result-dir');
  return o;
}
