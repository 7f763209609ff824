/**
 * Serving workloads with vLLM "random" dataset semantics: per request, input and output lengths are integer-uniform
 * in [floor(L*(1-r)), ceil(L*(1+r))] (output at least 1), and the prompt is the token-id run
 * (offset + index + arange(inputLen)) mod |allowed| over the allowed (non-special) token ids, offset uniform in
 * [0, vocab). Deterministic by seed (our generator, so the ids differ from vLLM's numpy ones; the distribution is
 * the same). No tokenizer round-trip: ids go straight to the engine, so lengths are exact.
 */
import { SeededRng } from './rng.ts';
import type { WorkloadSpec } from './schema.ts';

/**
 * prefill-heavy and decode-heavy are TensorRT-LLM's 2048/128 and 128/2048; 128/128 is named as TensorRT-LLM's perf
 * overview names its ISL/OSL rows (protocol.ts: the peer protocol runs all three).
 */
export const WORKLOAD_PRESETS = {
  'prefill-heavy': { inputLen: 2048, outputLen: 128 },
  'decode-heavy': { inputLen: 128, outputLen: 2048 },
  '128/128': { inputLen: 128, outputLen: 128 },
} as const;
/** --quick lengths: the same shape, small enough for the CPU backend. */
export const QUICK_PRESETS: Record<keyof typeof WORKLOAD_PRESETS, { inputLen: number; outputLen: number }> = {
  'prefill-heavy': { inputLen: 128, outputLen: 8 },
  'decode-heavy': { inputLen: 16, outputLen: 64 },
  '128/128': { inputLen: 16, outputLen: 16 },
};
export type WorkloadName = keyof typeof WORKLOAD_PRESETS | 'custom';

/** The study's protocol: 256 requests, 1024 when the max batch size is 256 (the peer protocol states its own: protocol.ts). */
export function defaultNumPrompts(maxBatch: number): number {
  return maxBatch >= 256 ? 1024 : 256;
}

/** The sweep's workload flags (SweepConfig.workload). */
export interface WorkloadFlags {
  name: WorkloadName;
  inputLen: number;
  outputLen: number;
  rangeRatio: number;
  /** null: the study's default for the batch size (256, or 1024 at batch 256) */
  numPrompts: number | null;
  /** When set (and numPrompts is null): max(2, round(promptsPerBatch * batch)) prompts per point. */
  promptsPerBatch?: number | null;
  seed: number;
}

/** One point's workload at max batch size `batch`: the prompt count resolved from the flags. */
export function pointWorkload(w: WorkloadFlags, batch: number): WorkloadSpec {
  const ppb = w.promptsPerBatch;
  const numPrompts = w.numPrompts ?? (ppb ? Math.max(2, Math.round(ppb * batch)) : defaultNumPrompts(batch));
  return { name: w.name, inputLen: w.inputLen, outputLen: w.outputLen, rangeRatio: w.rangeRatio, numPrompts, seed: w.seed };
}

export interface BenchRequest {
  index: number;
  promptIds: number[];
  outputLen: number;
}

export class WorkloadError extends Error {
  readonly code = 'BAD_WORKLOAD';
  constructor(message: string) {
    super(message);
    this.name = 'WorkloadError';
  }
}

export function lengthBounds(len: number, rangeRatio: number, minimum: number): [number, number] {
  if (!(rangeRatio >= 0 && rangeRatio < 1)) throw new WorkloadError(`--range-ratio must be in [0, 1), got ${rangeRatio}`);
  const lo = Math.max(Math.floor(len * (1 - rangeRatio)), minimum);
  const hi = Math.max(Math.ceil(len * (1 + rangeRatio)), minimum);
  return [lo, hi];
}

export function sampleRequests(spec: WorkloadSpec, vocabSize: number, specialIds: readonly number[]): BenchRequest[] {
  const rng = new SeededRng(spec.seed);
  const [inLo, inHi] = lengthBounds(spec.inputLen, spec.rangeRatio, 0);
  const [outLo, outHi] = lengthBounds(spec.outputLen, spec.rangeRatio, 1);
  if (inLo < 1) throw new WorkloadError(`input length ${spec.inputLen} with range ratio ${spec.rangeRatio} can give empty prompts`);
  const special = new Set(specialIds);
  const allowed: number[] = [];
  for (let t = 0; t < vocabSize; t++) if (!special.has(t)) allowed.push(t);
  if (allowed.length === 0) throw new WorkloadError('no allowed token ids (vocabulary is all special tokens)');
  const n = spec.numPrompts;
  // Same draw order as vLLM: all input lengths, then all output lengths, then all offsets.
  const inputLens = Array.from({ length: n }, () => rng.integers(inLo, inHi + 1));
  const outputLens = Array.from({ length: n }, () => rng.integers(outLo, outHi + 1));
  const offsets = Array.from({ length: n }, () => rng.integers(0, vocabSize));
  return inputLens.map((len, i) => ({
    index: i,
    promptIds: Array.from({ length: len }, (_, j) => allowed[(offsets[i] + i + j) % allowed.length]),
    outputLen: outputLens[i],
  }));
}
