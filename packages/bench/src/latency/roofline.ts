/**
 * Roofline of a raw step (`pnpm bench latency`): a decode step reads every weight once plus the KV cache of its
 * context (bytes / memory bandwidth); a prefill is bounded by its FLOPs (linears at the precision's GEMM peak,
 * attention and lm_head at the 16-bit peak). Ceilings: a scripts/device/ceilings.py file (--ceilings), else the known
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

export function decodeCost(a: LlamaConfig, p: Precision, batch: number, context: number, c: DeviceCeilings | null, kvBytesPerToken?: number): StepCost {
  const cost = modelCost(a, p, kvBytesPerToken);
  const bytes = cost.weightBytes + batch * context * cost.kvBytesPerToken;
  const flops = 2 * cost.linearParams * batch + cost.attnFlopsPerPair * batch * context;
  return { bytes, flops, rooflineMs: c ? (bytes / (c.bandwidthTBs * 1e12)) * 1e3 : null };
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
