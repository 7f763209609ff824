/**
 * Roofline ceilings per device: the memory bandwidth and tensor-core peaks a bench point's roofline ratio is taken
 * against. Known cards by name (bandwidth as measured with a device-to-device copy on our device machines, dense
 * tensor-core peaks from the datasheet, the same for every Hopper SXM part), or a file written by
 * scripts/device/ceilings.py on the machine at hand (`--ceilings FILE`: everything measured there).
 * An unknown CUDA device gets no ratio rather than another card's.
 */
import fs from 'node:fs';
import type { Precision } from '@quantbench/engine';

export interface DeviceCeilings {
  /** Achievable memory bandwidth, TB/s (bytes read + written per second by a large device copy). */
  bandwidthTBs: number;
  /** Dense tensor-core peak for 16-bit operands, TFLOP/s. */
  tflops16: number;
  /** Dense tensor-core peak for 8-bit operands (fp8, int8), TFLOP/s (TOP/s). */
  tflops8: number;
  /** fp32 (no tensor cores) peak, TFLOP/s. */
  tflops32: number;
  /** Where the numbers come from, for the result's note. */
  source: string;
}

export class CeilingsError extends Error {
  readonly code = 'BAD_CEILINGS';
  constructor(message: string) {
    super(message);
    this.name = 'CeilingsError';
  }
}

/** Hopper SXM datasheet dense peaks (TFLOP/s): H100 and H200 share the chip. */
const HOPPER_SXM = { tflops16: 989, tflops8: 1979, tflops32: 67 };

interface KnownCard {
  /** Matched against the CUDA device name: the SXM parts measured here only ("NVIDIA H100 80GB HBM3", "NVIDIA H200");
   * the PCIe and NVL parts have other memory (an H100 PCIe ~2 TB/s) and get no ratio without --ceilings. */
  match: RegExp;
  ceilings: DeviceCeilings;
}

export const KNOWN_CARDS: readonly KnownCard[] = [
  {
    match: /\bH100 80GB HBM3$/i,
    ceilings: {
      bandwidthTBs: 3.0,
      ...HOPPER_SXM,
      source: 'H100 SXM: 3.0 TB/s measured copy (shared/device/NOTES.md), datasheet dense tensor-core peaks',
    },
  },
  {
    match: /\bH200$/i,
    ceilings: {
      bandwidthTBs: 4.1,
      ...HOPPER_SXM,
      source: 'H200 SXM: 4.1 TB/s measured copy (results/gpu-h200-ab90752, -d6c4bd9: 4.14, 4.05), datasheet dense tensor-core peaks',
    },
  },
];

/** The ceilings of a known card, or null (no ratio: pass --ceilings FILE). */
export function ceilingsForDevice(deviceName: string): DeviceCeilings | null {
  const card = KNOWN_CARDS.find((c) => c.match.test(deviceName));
  return card ? { ...card.ceilings } : null;
}

function positive(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

/** Reads a ceilings.py file: {"device", "copyTBs", "bf16Tflops", "fp8Tflops", ...}. */
export function readCeilingsFile(file: string): DeviceCeilings {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CeilingsError(`--ceilings ${file}: cannot read it (${(e as Error).message})`);
  }
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new CeilingsError(`--ceilings ${file}: not JSON (${(e as Error).message}); scripts/device/ceilings.py writes the file`);
  }
  const { copyTBs, bf16Tflops, fp8Tflops } = j;
  if (!positive(copyTBs) || !positive(bf16Tflops) || !positive(fp8Tflops)) {
    throw new CeilingsError(
      `--ceilings ${file}: needs positive numbers copyTBs, bf16Tflops and fp8Tflops (as scripts/device/ceilings.py writes)`,
    );
  }
  const device = typeof j.device === 'string' ? j.device : 'unknown device';
  return {
    bandwidthTBs: copyTBs,
    tflops16: bf16Tflops,
    tflops8: fp8Tflops,
    tflops32: positive(j.fp32Tflops) ? j.fp32Tflops : HOPPER_SXM.tflops32,
    source: `measured on ${device} (${file})`,
  };
}

/** The peak that bounds a precision's GEMMs. */
export function peakTflops(c: DeviceCeilings, p: Precision): number {
  if (p === 'fp32') return c.tflops32;
  if (p === 'fp16' || p === 'bf16') return c.tflops16;
  return c.tflops8;
}
