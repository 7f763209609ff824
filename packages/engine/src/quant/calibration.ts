/**
 * Calibration: run the 16-bit model over calibration text and collect, per linear input, the per-channel absmax.
 * These give FP8-static activation scales and SmoothQuant factors.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NativeModel } from '@quantbench/native';
import { EngineError } from '../errors.ts';
import { REPO_ROOT } from '../datadir.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';

/** Our own small calibration text (shipped in the repo), used when no --calib is given. */
export const DEFAULT_CALIBRATION = path.join(REPO_ROOT, 'datasets/calibration/default.txt');

/**
 * Read calibration samples: .txt (blank-line separated paragraphs) or .jsonl (fields text | question | content |
 * prompt, first found).
 */
export function readCalibrationSamples(file: string): string[] {
  if (!fs.existsSync(file)) throw new EngineError('BAD_CALIBRATION', `calibration file ${file} does not exist`);
  const raw = fs.readFileSync(file, 'utf8');
  let samples: string[];
  if (file.endsWith('.jsonl')) {
    samples = raw
      .split('\n')
      .filter((l) => l.trim())
      .map((l, i) => {
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(l) as Record<string, unknown>;
        } catch {
          throw new EngineError('BAD_CALIBRATION', `${file}:${i + 1} is not JSON`);
        }
        const t = o.text ?? o.question ?? o.content ?? o.prompt;
        if (typeof t !== 'string') throw new EngineError('BAD_CALIBRATION', `${file}:${i + 1} has no text/question/content/prompt field`);
        return t;
      });
  } else {
    samples = raw.split(/\n\s*\n/).map((s) => s.trim()).filter(Boolean);
  }
  if (samples.length === 0) throw new EngineError('BAD_CALIBRATION', `calibration file ${file} holds no text`);
  return samples;
}

export interface CalibrationOptions {
  file: string;
  /** Most samples used (default 256) */
  maxSamples?: number;
  /** Tokens per sample (default 512, capped by the model length) */
  maxTokens?: number;
  maxModelLen: number;
  blockSize: number;
  numKvBlocks: number;
  onProgress?: (done: number, total: number) => void;
}

/** Runs prefill-only forwards (one sample per step) with calibration recording on; returns the stats. */
export function calibrate(model: NativeModel, tok: TextTokenizer, o: CalibrationOptions): Record<string, Float32Array> {
  const max = o.maxSamples ?? 256;
  if (!Number.isInteger(max) || max < 1) {
    // 0 samples would leave every input scale at its floor (4.4e-6) under a recipe that says "calibrated"
    throw new EngineError('BAD_CALIBRATION', `calibration needs at least 1 sample, got calibSamples=${max}`);
  }
  const samples = readCalibrationSamples(o.file).slice(0, max);
  let used = 0;
  const maxTok = Math.min(o.maxTokens ?? 512, o.maxModelLen, o.numKvBlocks * o.blockSize);
  model.setCalibration(true);
  try {
    samples.forEach((s, i) => {
      const ids = tok.encode(s, true).slice(0, maxTok);
      if (ids.length === 0) return;
      used++;
      const nb = Math.ceil(ids.length / o.blockSize);
      model.forward({
        tokens: Int32Array.from(ids),
        positions: Int32Array.from(ids.keys()),
        seqStarts: Int32Array.from([0, ids.length]),
        contextLens: Int32Array.from([ids.length]),
        blockTables: Int32Array.from({ length: nb }, (_, b) => b),
        maxBlocksPerSeq: nb,
      });
      o.onProgress?.(i + 1, samples.length);
    });
  } finally {
    model.setCalibration(false);
  }
  if (used === 0) throw new EngineError('BAD_CALIBRATION', `no calibration sample of ${o.file} produced any token`);
  return model.calibrationStats();
}
