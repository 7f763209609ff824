/**
 * Roofline ceilings of the known cards, read from native/device_ceilings.json (the one table; the C++ harness reads
 * it too). A card is found by its CUDA device name; an unknown device gets no ceilings rather than another card's.
 */
import table from '../device_ceilings.json' with { type: 'json' };
import { isQuantized, type Precision } from './precision.ts';

/** The ceilings a roofline ratio is taken against. */
export interface DeviceCeilings {
  /** Achievable memory bandwidth, TB/s (bytes read + written per second by a large device copy). */
  bandwidthTBs: number;
  /** Tensor-core peak for 16-bit operands, TFLOP/s. */
  tflops16: number;
  /** Tensor-core peak for 8-bit operands (fp8, int8), TFLOP/s (TOP/s). */
  tflops8: number;
  /** fp32 (no tensor cores) peak, TFLOP/s. */
  tflops32: number;
  /** Where the numbers come from, for the result's note. */
  source: string;
}

/** One card of device_ceilings.json: rates per second. */
export interface KnownCard {
  name: string;
  /** Matched case-insensitively against the CUDA device name ("NVIDIA H100 80GB HBM3", "NVIDIA H200"). */
  match: RegExp;
  memoryBytesPerS: number;
  memorySource: string;
  memoryDate: string;
  /** Dense datasheet peaks. */
  datasheetFlopsPerS: { bf16: number; fp8: number; int8: number; fp32: number };
  datasheetSource: string;
  /** GEMM 8192^3 measured on the card (int8 taken as the fp8 rate). */
  measuredFlopsPerS: { bf16: number; fp8: number; int8: number };
  measuredSource: string;
  measuredDate: string;
}

/**
 * Which peaks bound the compute side: the datasheet's (`pnpm bench` serving points) or the GEMM rates measured on
 * the card (`pnpm bench latency` and the kernel harness: what a well-tuned GEMM reaches there).
 */
export type PeakBasis = 'datasheet' | 'measured';

export const KNOWN_CARDS: readonly KnownCard[] = table.cards.map((c) => ({ ...c, match: new RegExp(c.match, 'i') }));

export function knownCard(deviceName: string): KnownCard | null {
  return KNOWN_CARDS.find((c) => c.match.test(deviceName)) ?? null;
}

/** The ceilings of a known card, or null (no ratio: pass --ceilings FILE). */
export function ceilingsForDevice(deviceName: string, basis: PeakBasis = 'datasheet'): DeviceCeilings | null {
  const card = knownCard(deviceName);
  if (!card) return null;
  const bandwidthTBs = card.memoryBytesPerS / 1e12;
  const copy = `${card.name}: ${bandwidthTBs.toFixed(1)} TB/s measured copy (${card.memorySource})`;
  const d = card.datasheetFlopsPerS;
  if (basis === 'datasheet') {
    return { bandwidthTBs, tflops16: d.bf16 / 1e12, tflops8: d.fp8 / 1e12, tflops32: d.fp32 / 1e12, source: `${copy}, datasheet dense tensor-core peaks` };
  }
  const m = card.measuredFlopsPerS;
  return { bandwidthTBs, tflops16: m.bf16 / 1e12, tflops8: m.fp8 / 1e12, tflops32: d.fp32 / 1e12, source: `${copy}, measured GEMM peaks (${card.measuredSource})` };
}

/** The peak that bounds a precision's GEMMs. */
export function peakTflops(c: DeviceCeilings, p: Precision): number {
  if (p === 'fp32') return c.tflops32;
  return isQuantized(p) ? c.tflops8 : c.tflops16;
}
