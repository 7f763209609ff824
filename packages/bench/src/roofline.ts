/**
 * Roofline ratios: ideal time under the bound (bytes / bandwidth or FLOPs / peak, whichever is larger, per engine
 * step) over the measured forward time, against the ceilings of the device at hand (a known card by name from
 * native/device_ceilings.json, or --ceilings FILE). On the CPU backend, or on a CUDA device with no known ceilings, no ratio is given.
 */
import { linearWeightBytes, peakTflops, type DeviceCeilings, type DeviceKind, type LlamaConfig, type Precision } from '@quantbench/engine';
import type { RooflineRatio } from './schema.ts';

export const CPU_ROOFLINE_NOTE = 'CPU backend: no bandwidth/compute ceiling measured, so no roofline ratio';

export interface ModelCost {
  /** Parameters of the linear layers (q,k,v,o,gate,up,down) of all layers plus lm_head. */
  linearParams: number;
  /** Bytes of the weights read once per forward (embeddings rows are negligible and left out). */
  weightBytes: number;
  /** KV cache bytes per token of context (K and V, all layers): the native kvBlockBytes() / block size when given, else 16-bit. */
  kvBytesPerToken: number;
  /** Attention FLOPs per (query token, context token) pair. */
  attnFlopsPerPair: number;
}

export function modelCost(a: LlamaConfig, p: Precision, kvBytesPerToken?: number): ModelCost {
  const h = a.hiddenSize;
  const qDim = a.numHeads * a.headDim;
  const kvDim = a.numKvHeads * a.headDim;
  const perLayer = h * qDim + 2 * h * kvDim + qDim * h + 3 * h * a.intermediateSize;
  const lmHead = h * a.vocabSize;
  const linearParams = a.numLayers * perLayer + lmHead;
  // lm_head stays 16-bit in the quantized recipes.
  const weightBytes = a.numLayers * perLayer * linearWeightBytes(p) + lmHead * (p === 'fp32' ? 4 : 2);
  return {
    linearParams,
    weightBytes,
    kvBytesPerToken: kvBytesPerToken ?? 2 * a.numLayers * kvDim * 2,
    attnFlopsPerPair: 4 * a.numLayers * qDim,
  };
}

/** Ideal ms of one step under the roofline of the given ceilings. */
export function idealStepMs(
  cost: ModelCost,
  p: Precision,
  numTokens: number,
  sumContextLens: number,
  c: DeviceCeilings,
): { ms: number; bound: 'bandwidth' | 'compute' } {
  const bytes = cost.weightBytes + cost.kvBytesPerToken * sumContextLens;
  const flops = 2 * cost.linearParams * numTokens + cost.attnFlopsPerPair * numTokens * (sumContextLens / Math.max(1, numTokens));
  const bwMs = (bytes / (c.bandwidthTBs * 1e12)) * 1000;
  const fMs = (flops / (peakTflops(c, p) * 1e12)) * 1000;
  return bwMs >= fMs ? { ms: bwMs, bound: 'bandwidth' } : { ms: fMs, bound: 'compute' };
}

/** Accumulates a point's steps; null result on the CPU, without an architecture or without ceilings. */
export class RooflineAccumulator {
  private idealMs = 0;
  private measuredMs = 0;
  private bwMs = 0;
  private computeMs = 0;
  constructor(
    private readonly device: DeviceKind,
    private readonly precision: Precision,
    private readonly cost: ModelCost | null,
    private readonly ceilings: DeviceCeilings | null,
  ) {}

  add(numTokens: number, sumContextLens: number, forwardMs: number): void {
    if (!this.cost || !this.ceilings || numTokens === 0) return;
    const s = idealStepMs(this.cost, this.precision, numTokens, sumContextLens, this.ceilings);
    this.idealMs += s.ms;
    if (s.bound === 'bandwidth') this.bwMs += s.ms;
    else this.computeMs += s.ms;
    this.measuredMs += forwardMs;
  }

  result(): RooflineRatio | null {
    if (this.device !== 'cuda' || !this.cost || !this.ceilings || this.measuredMs <= 0) return null;
    return {
      bound: this.bwMs >= this.computeMs ? 'bandwidth' : 'compute',
      ratio: this.idealMs / this.measuredMs,
      peakBandwidthTBs: this.ceilings.bandwidthTBs,
      peakTflops: peakTflops(this.ceilings, this.precision),
      note: `sum over steps of max(bytes/BW, FLOPs/peak) over summed forward time; ceilings: ${this.ceilings.source}`,
    };
  }
}
