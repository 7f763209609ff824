/**
 * Typed binding to the native core (quantbench_native.node). The engine talks to native code only through here.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type NativeDtype = 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'I8' | 'I32' | 'F64';
export type NativePrecision = 'fp32' | 'fp16' | 'bf16' | 'int8-w8a8' | 'fp8-dynamic' | 'fp8-static';
export type NativeActDtype = 'fp32' | 'fp16' | 'bf16';

export interface NativeModelConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** llama3 rope scaling; factor 0 = none */
  ropeFactor: number;
  ropeLowFreqFactor: number;
  ropeHighFreqFactor: number;
  ropeOriginalMaxPos: number;
  tieWordEmbeddings: boolean;
  actDtype: NativeActDtype;
  device: 'cpu' | 'cuda';
  threads: number;
}

/** One step's varlen batch: a mix of prefill chunks and decodes, run as one forward. */
export interface NativeBatch {
  /** [T] token ids of every sequence in the step, concatenated */
  tokens: Int32Array;
  /** [T] position of each token */
  positions: Int32Array;
  /** [S+1] row offsets of each sequence inside tokens (cu_seqlens) */
  seqStarts: Int32Array;
  /** [S] context length of each sequence after this step (tokens in the KV cache incl. this step's) */
  contextLens: Int32Array;
  /** [S * maxBlocks] block tables, padded with -1 */
  blockTables: Int32Array;
  maxBlocksPerSeq: number;
  /** Rows (indices into tokens) whose next token is sampled. */
  sampleRows?: Int32Array;
  /** Per sample row: temperature (0 = greedy), top-p, 64-bit seed split in two words, and a counter (step). */
  temperature?: Float32Array;
  topP?: Float32Array;
  seeds?: Uint32Array; // [2 * n]
  /** Rows whose log-probability of a target token is gathered (scoring). */
  gatherRows?: Int32Array;
  gatherTargets?: Int32Array;
  /** Rows whose full fp32 logits are returned. */
  logitRows?: Int32Array;
}

export interface NativeStepResult {
  sampled: Int32Array;
  sampledLogprob: Float32Array;
  gatherLogprob: Float32Array;
  gatherIsArgmax: Uint8Array;
  /** [logitRows.length * vocab] */
  logits: Float32Array;
}

export interface CalibrationStats {
  /** linear name ('q','o','gate','down' per layer) -> per-input-channel absmax, Float32Array [layers * K] */
  [linear: string]: Float32Array;
}

export interface NativeModel {
  /** Load one tensor from a file region (the engine validated the header). name is the HF tensor name. */
  loadTensor(name: string, file: string, offset: number, nbytes: number, dtype: NativeDtype, shape: number[]): void;
  /** Set a tensor from memory (synthetic weights, tests). */
  setTensor(name: string, dtype: NativeDtype, shape: number[], data: ArrayBufferView): void;
  /** Fill all weights with seeded synthetic values (on the device where they live). */
  synthesize(seed: number, outlierChannels: number, outlierGain: number): void;
  /** Check that every required tensor is present; fuse and prepare for the given precision. */
  finalize(precision: NativePrecision, opts: FinalizeOptions): void;
  allocateKvCache(numBlocks: number): void;
  forward(batch: NativeBatch): NativeStepResult;
  /** Calibration: while enabled, forward() records per-channel input absmax of every linear. */
  setCalibration(on: boolean): void;
  calibrationStats(): Record<string, Float32Array>;
  /** Read back a named tensor as stored (for export). */
  getTensor(name: string): { dtype: NativeDtype; shape: number[]; data: Uint8Array };
  tensorNames(): string[];
  kvBlockBytes(): number;
  free(): void;
}

export interface FinalizeOptions {
  /** SmoothQuant alpha (int8-w8a8); negative = no smoothing */
  smoothAlpha?: number;
  /** Per-linear calibrated stats (required for fp8-static and SmoothQuant when quantizing at load). */
  calib?: Record<string, Float32Array>;
  /** Weights already quantized (compressed-tensors checkpoint): skip quantization. */
  prequantized?: boolean;
}

export interface NativeAddon {
  createModel(cfg: NativeModelConfig): NativeModel;
  /** Element-wise codec helpers exposed for tests. */
  fp8e4m3Encode(x: Float32Array): Uint8Array;
  fp8e4m3Decode(x: Uint8Array): Float32Array;
  int8Quantize(x: Float32Array, scale: number): Int8Array;
  /** Ops exposed for tests against float64 references (CPU backend). */
  ops: Record<string, (...args: unknown[]) => unknown>;
  cudaAvailable(): boolean;
  deviceName(device: 'cpu' | 'cuda'): string;
  hardwareThreads(): number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const ADDON_PATH = path.resolve(here, '../build/quantbench_native.node');

let cached: NativeAddon | undefined;
export function loadNative(): NativeAddon {
  if (cached) return cached;
  if (!fs.existsSync(ADDON_PATH)) {
    throw new Error(`native addon not built: ${ADDON_PATH} is missing. Run \`pnpm -C native build\` (or \`pnpm build\`).`);
  }
  const require = createRequire(import.meta.url);
  cached = require(ADDON_PATH) as NativeAddon;
  return cached;
}
