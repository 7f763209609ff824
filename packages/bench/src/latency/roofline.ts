/**
 * Roofline of a raw step (`pnpm bench latency`): a decode step reads every weight once plus the KV cache of its
 * context (bytes / memory bandwidth; beside it the bound of its parts, decodeCost's boundMs); a prefill is bounded by
 * its FLOPs (linears at the precision's GEMM peak, attention and lm_head at the 16-bit peak). Ceilings: a scripts/device/ceilings.py file (--ceilings), else the known
 * card's measured rates (native/device_ceilings.json), else none (CPU, or an unknown card: no ratio).
 */
import { ceilingsForDevice, peakTflops, type DeviceCeilings, type DeviceKind, type LlamaConfig, type Precision } from '@quantbench/engine';
import { readCeilingsFile, readCeilingsJson } from '../ceilings.ts';
import { modelCost } from '../roofline.ts';

export interface LatencyCeilings {
  ceilings: DeviceCeilings;
  /** What each row records under "ceilings": the ceilings.py file as written, or the known card's rates. */
  record: Record<string, unknown>;
}

export function latencyCeilings(device: DeviceKind, deviceName: string, file: string | undefined): LatencyCeilings | null {
  if (file) return { ceilings: readCeilingsFile(file), record: { source: 'measured here (scripts/device/ceilings.py)', ...readCeilingsJson(file) } };
  const c = device === 'cuda' ? ceilingsForDevice(deviceName, 'measured') : null;
  if (!c) return null;
  return { ceilings: c, record: { source: c.source, copyTBs: c.bandwidthTBs, bf16Tflops: c.tflops16, fp8Tflops: c.tflops8 } };
}

export interface StepCost {
  /** Bytes the step moves: weights read once, plus the KV cache read (decode) or written (prefill). */
  bytes: number;
  flops: number;
  /** Ideal ms under the roofline; null without ceilings. */
  rooflineMs: number | null;
}

/** A decode step's cost: its roofline (all bytes / bandwidth) and the bound of its parts. */
export interface DecodeCost extends StepCost {
  /**
   * The step's lower bound taken part by part, each at the larger of its bytes / bandwidth and FLOPs / peak: the
   * layers' linears (the precision's GEMM peak), lm_head (16-bit), attention over the KV cache (16-bit peak). At large
   * batch the linears are compute-bound (their FLOPs take longer than their weight bytes), so this is above rooflineMs
   * and rooflineMs / boundMs is the most of the roofline any implementation can reach. Null without ceilings.
   */
  boundMs: number | null;
  /** Which parts are compute-bound at this batch and context (empty without ceilings). */
  computeBound: string[];
}

export function decodeCost(a: LlamaConfig, p: Precision, batch: number, context: number, c: DeviceCeilings | null, kvBytesPerToken?: number): DecodeCost {
  const cost = modelCost(a, p, kvBytesPerToken);
  const bytes = cost.weightBytes + batch * context * cost.kvBytesPerToken;
  const flops = 2 * cost.linearParams * batch + cost.attnFlopsPerPair * batch * context;
  if (!c) return { bytes, flops, rooflineMs: null, boundMs: null, computeBound: [] };
  const lmHead = a.hiddenSize * a.vocabSize;
  const lmHeadBytes = lmHead * (p === 'fp32' ? 4 : 2);
  const msOf = (b: number, tb: number) => (b / (tb * 1e12)) * 1e3;
  const parts: [string, number, number][] = [  // name, bandwidth ms, compute ms
    ['linears', msOf(cost.weightBytes - lmHeadBytes, c.bandwidthTBs), msOf(2 * (cost.linearParams - lmHead) * batch, peakTflops(c, p))],
    ['lm_head', msOf(lmHeadBytes, c.bandwidthTBs), msOf(2 * lmHead * batch, c.tflops16)],
    ['attention', msOf(batch * context * cost.kvBytesPerToken, c.bandwidthTBs), msOf(cost.attnFlopsPerPair * batch * context, c.tflops16)],
  ];
  return {
    bytes,
    flops,
    rooflineMs: msOf(bytes, c.bandwidthTBs),
    boundMs: parts.reduce((sum, [, bw, f]) => sum + Math.max(bw, f), 0),
    computeBound: parts.filter(([, bw, f]) => f > bw).map(([name]) => name),
  };
}

export function prefillCost(a: LlamaConfig, p: Precision, tokens: number, c: DeviceCeilings | null, kvBytesPerToken?: number): StepCost {
  const cost = modelCost(a, p, kvBytesPerToken);
  const lmHead = a.hiddenSize * a.vocabSize;
  const T = tokens;
  const linFlops = 2 * T * (cost.linearParams - lmHead);
  // causal attention: QK^T and PV over T*T/2 pairs; lm_head on the one sampled row
  const attnFlops = (a.numLayers * 2 * 2 * (T * T)) / 2 * a.headDim * a.numHeads;
  const headFlops = 2 * lmHead;
  const bytes = cost.weightBytes + T * cost.kvBytesPerToken;
  const rooflineMs = c ? (linFlops / (peakTflops(c, p) * 1e12) + (attnFlops + headFlops) / (c.tflops16 * 1e12)) * 1e3 : null;
  return { bytes, flops: linFlops + attnFlops + headFlops, rooflineMs };
}
