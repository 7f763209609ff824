/**
 * Typed binding to the native core (quantbench_native.node). The engine talks to native code only through here.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type NativeDtype = 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'I8' | 'I32' | 'F64';
export * from './precision.ts';
export * from './device_ceilings.ts';
import type { ActDtype, KvCacheDtype, Precision, AttentionDtype } from './precision.ts';

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
  /** Length of the RoPE table: the largest position + 1 this model instance can run. */
  maxPositions: number;
  actDtype: ActDtype;
  /**
   * KV-cache dtype (default 'auto' = actDtype). 'fp8' reads the per-layer scales from the tensors
   * `model.layers.{i}.self_attn.k_scale` / `.v_scale` (F32, shape [] or [1]) when they were set or loaded before
   * finalize(), else uses 1.0.
   */
  kvCacheDtype?: KvCacheDtype;
  /**
   * Attention dtype (default 'auto': fp32 math on the cache's values). 'fp8' (needs kvCacheDtype 'fp8'): every row
   * attends as FlashAttention-3's FP8 path — Q in e4m3 per row and head, P = 2^8 exp(s - max) in e4m3
   * (native/model/config.h AttnDtype). The CPU reference only, for now.
   */
  attentionDtype?: AttentionDtype;
  device: 'cpu' | 'cuda';
  threads: number;
  /** CUDA backend options (ignored on the CPU); the engine records them in provenance. */
  cuda?: NativeCudaOptions;
}

/** Run-time options of the CUDA backend (native/model/config.h CudaOptions). Defaults: all on, no trace. */
export interface NativeCudaOptions {
  /** Programmatic dependent launch between a step's kernels. */
  pdl?: boolean;
  /** Decode-only steps replay a CUDA graph per batch-size bucket. */
  cudaGraphs?: boolean;
  /** One-row steps run the fused decode linears. */
  fusedDecode?: boolean;
  /** A decode graph bucket's library (cuBLASLt) GEMMs run the fastest of the library's top heuristic algorithms, timed once. */
  gemmTuning?: boolean;
  /** A -DQB_TRACE build writes the block timeline trace here (measurement only). */
  traceFile?: string;
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
  /** Per sample row: temperature (0 = greedy), top-p, and [seed lo, seed hi, counter] (counter = position sampled). */
  temperature?: Float32Array;
  topP?: Float32Array;
  seeds?: Uint32Array; // [3 * n]
  /** Rows whose log-probability of a target token is gathered (scoring). */
  gatherRows?: Int32Array;
  gatherTargets?: Int32Array;
  /** Rows whose full fp32 logits are returned. */
  logitRows?: Int32Array;
  /** Time each block (attention, MLP, quantization, other) of this step. */
  profile?: boolean;
  /**
   * Async scheduling: [T], j >= 0 where token i is entry j of the sampled tokens of the step submitted just before
   * this one (its `tokens` entry is then a placeholder), -1 where `tokens` holds it.
   */
  tokenSources?: Int32Array;
}

export interface BlockTimesMs {
  attention: number;
  mlp: number;
  quantization: number;
  other: number;
  total: number;
}

export interface NativeStepResult {
  sampled: Int32Array;
  sampledLogprob: Float32Array;
  gatherLogprob: Float32Array;
  gatherIsArgmax: Uint8Array;
  /** [logitRows.length * vocab] */
  logits: Float32Array;
  blockMs: BlockTimesMs;
}

export interface NativeTensor {
  dtype: NativeDtype;
  shape: number[];
  data: Uint8Array;
}

export interface CalibrationStats {
  /**
   * linear input name ('attn_in', 'o_in', 'mlp_in', 'down_in') -> per-input-channel absmax, Float32Array [layers * K];
   * 'k_cache' / 'v_cache' -> per-channel absmax of K (after RoPE) and V as written to the KV cache (before any FP8
   * encoding), Float32Array [layers * numKvHeads * headDim]. A layer's KV scale is its max / 448.
   */
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
  finalize(precision: Precision, opts: FinalizeOptions): void;
  allocateKvCache(numBlocks: number): void;
  /** One step, synchronously (nothing may be in flight). */
  forward(batch: NativeBatch): NativeStepResult;
  /**
   * Async steps: submit() queues a step and returns (the CPU backend runs it inside submit); finish() waits for the
   * oldest submitted step and returns its result. At most two steps are submitted and not finished.
   */
  submit(batch: NativeBatch): void;
  finish(): NativeStepResult;
  /** Steps submitted and not finished. */
  inFlight(): number;
  /** Calibration: while enabled, forward() records per-channel input absmax of every linear. */
  setCalibration(on: boolean): void;
  calibrationStats(): Record<string, Float32Array>;
  /** A raw tensor as loaded/synthesized. */
  getTensor(name: string): NativeTensor;
  tensorNames(): string[];
  /** Names and contents of the prepared (possibly quantized) weights, under HF / compressed-tensors names. */
  exportNames(): string[];
  exportTensor(name: string): NativeTensor;
  /** Bytes of one KV block (all layers, K and V; 1 byte per element with kvCacheDtype 'fp8'). */
  kvBlockBytes(): number;
  /** KV blocks fitting in `utilization` of GPU memory after weights and a workspace for maxTokens per step (0 on the CPU). */
  suggestKvBlocks(utilization: number, maxTokens: number): number;
  /** Timing runs: fill the KV cache with seeded random values. */
  fillKvRandom(seed: number): void;
  deviceName(): string;
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
  NativeModel: new (cfg: NativeModelConfig) => NativeModel;
  /** Element-wise codec helpers exposed for tests. */
  fp8e4m3Encode(x: Float32Array): Uint8Array;
  fp8e4m3Decode(x: Uint8Array): Float32Array;
  roundAct(x: Float32Array, dtype: ActDtype): Float32Array;
  int8Quantize(x: Float32Array, scale: number): Int8Array;
  scaleFromAbsmax(absmax: number, kind: 'fp8' | 'int8'): number;
  /** CPU reference ops exposed for tests against float64 references (see native/kernels/reference.h). */
  ops: NativeOps;
  /** True when this build has a working CUDA model and a GPU is visible. */
  cudaAvailable(): boolean;
  builtWithCuda(): boolean;
  /** Brackets a region for `ncu --profile-from-start off` (no-op on a CPU-only build). */
  cudaProfiler(on: boolean): void;
  hardwareThreads(): number;
}

type A = ActDtype;
export interface NativeOps {
  embedding(table: Float32Array, tokens: Int32Array, D: number, act: A): Float32Array;
  rmsnormResidual(x: Float32Array, residual: Float32Array | null, w: Float32Array, T: number, D: number, eps: number, act: A): { out: Float32Array; residual: Float32Array };
  gemmF(x: Float32Array, w: Float32Array, T: number, N: number, K: number, act: A): Float32Array;
  gemmInt8(xq: Int8Array, sa: Float32Array, perToken: boolean, wq: Int8Array, sw: Float32Array, T: number, N: number, K: number, act: A): Float32Array;
  gemmFp8(xq: Uint8Array, sa: Float32Array, perToken: boolean, wq: Uint8Array, sw: Float32Array, T: number, N: number, K: number, act: A): Float32Array;
  quantPerToken(x: Float32Array, T: number, K: number, kind: 'fp8'): { q: Uint8Array; scale: Float32Array };
  quantPerToken(x: Float32Array, T: number, K: number, kind: 'int8'): { q: Int8Array; scale: Float32Array };
  quantStaticFp8(x: Float32Array, T: number, K: number, scale: number): Uint8Array;
  ropeTables(cfg: { headDim: number; maxPositions: number; ropeTheta: number; ropeFactor?: number; ropeLowFreqFactor?: number; ropeHighFreqFactor?: number; ropeOriginalMaxPos?: number }): { cos: Float32Array; sin: Float32Array };
  rope(x: Float32Array, positions: Int32Array, T: number, H: number, Dh: number, cos: Float32Array, sin: Float32Array, act: A): Float32Array;
  siluMul(g: Float32Array, u: Float32Array, T: number, F: number, act: A): Float32Array;
  attentionPaged(q: Float32Array, kCache: Float32Array, vCache: Float32Array, seqStarts: Int32Array, positions: Int32Array, blockTables: Int32Array, maxBlocks: number, H: number, Hkv: number, Dh: number, blockSize: number, scale: number, act: A, attentionDtype?: AttentionDtype): Float32Array;
  sampleRow(logits: Float32Array, temperature: number, topP: number, seedLo: number, seedHi: number, counter: number): { token: number; logprob: number };
  gatherLogprob(logits: Float32Array, target: number): { logprob: number; isArgmax: boolean };
  quantWeight(w: Float32Array, N: number, K: number, kind: 'int8-channel'): { q: Int8Array; scale: Float32Array };
  quantWeight(w: Float32Array, N: number, K: number, kind: 'fp8-channel' | 'fp8-tensor'): { q: Uint8Array; scale: Float32Array };
  smoothquantFactors(actAbsmax: Float32Array, weights: Float32Array[], K: number, alpha: number): Float32Array;
  rngUniform(seedLo: number, seedHi: number, counter: number): number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The built addon; QB_NATIVE_ADDON points elsewhere (a copy for long runs, or a bundle's neighbour on the GPU machine). */
export const ADDON_PATH = process.env.QB_NATIVE_ADDON ? path.resolve(process.env.QB_NATIVE_ADDON) : path.resolve(here, '../build/quantbench_native.node');

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
