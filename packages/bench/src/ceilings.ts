/**
 * Roofline ceilings of a bench run: a file written by scripts/device/ceilings.py on the machine at hand
 * (`--ceilings FILE`: everything measured there), else the known card's by device name (native/device_ceilings.json,
 * through the engine). An unknown CUDA device gets no ratio rather than another card's.
 */
import fs from 'node:fs';
import { KNOWN_CARDS, knownCard, type DeviceCeilings } from '@quantbench/engine';

export class CeilingsError extends Error {
  readonly code = 'BAD_CEILINGS';
  constructor(message: string) {
    super(message);
    this.name = 'CeilingsError';
  }
}

function positive(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

/** The raw JSON of a ceilings.py file (latency rows record it as written). */
export function readCeilingsJson(file: string): Record<string, unknown> {
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
  return j;
}

/** Reads a ceilings.py file: {"device", "copyTBs", "bf16Tflops", "fp8Tflops", ...}. */
export function readCeilingsFile(file: string): DeviceCeilings {
  const j = readCeilingsJson(file);
  const { copyTBs, bf16Tflops, fp8Tflops } = j;
  if (!positive(copyTBs) || !positive(bf16Tflops) || !positive(fp8Tflops)) {
    throw new CeilingsError(
      `--ceilings ${file}: needs positive numbers copyTBs, bf16Tflops and fp8Tflops (as scripts/device/ceilings.py writes)`,
    );
  }
  const device = typeof j.device === 'string' ? j.device : 'unknown device';
  // ceilings.py measures no fp32 rate: the card's datasheet one (every known card is a Hopper SXM part).
  const fp32Card = knownCard(device) ?? KNOWN_CARDS[0]!;
  return {
    bandwidthTBs: copyTBs,
    tflops16: bf16Tflops,
    tflops8: fp8Tflops,
    tflops32: positive(j.fp32Tflops) ? j.fp32Tflops : fp32Card.datasheetFlopsPerS.fp32 / 1e12,
    source: `measured on ${device} (${file})`,
  };
}
