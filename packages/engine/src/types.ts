/**
 * Public types of @quantbench/engine. Everything that crosses a package boundary is typed here.
 */

export {
  PRECISIONS,
  BENCH_PRECISIONS,
  QUANTIZED_PRECISIONS,
  isPrecision,
  isQuantized,
  linearWeightBytes,
  type Precision,
  type QuantizedPrecision,
  type ActDtype,
  KV_CACHE_DTYPES,
  isKvCacheDtype,
  kvElementBytes,
  type KvCacheDtype,
  ATTENTION_DTYPES,
  isAttentionDtype,
  type AttentionDtype,
} from '@quantbench/native';
import type { ActDtype, KvCacheDtype, Precision, AttentionDtype } from '@quantbench/native';

export type DeviceKind = 'cpu' | 'cuda';
export type WeightsKind = 'synthetic' | 'real';
/** synthetic:NAME models are seeded synthetic weights; anything else (a checkpoint, a served model) is real. */
export function weightsKindOf(model: string): WeightsKind {
  return model.startsWith('synthetic:') ? 'synthetic' : 'real';
}

/** How a precision is realised: recorded in every result. */
export interface PrecisionRecipe {
  precision: Precision;
  actDtype: ActDtype;
  /** e.g. "int8 symmetric per-channel", "fp8-e4m3 per-tensor", "none (16-bit)" */
  weights: string;
  /** e.g. "int8 per-token dynamic", "fp8-e4m3 per-tensor static", "none (16-bit)" */
  activations: string;
  smoothquantAlpha?: number;
  /** Calibration text used for static scales / SmoothQuant ("checkpoint" when scales came from a file). */
  calibration?: string;
  /** Where the quantized weights came from: quantized at load time or read from a compressed-tensors checkpoint. */
  source: 'load-time' | 'checkpoint' | 'none';
  /** CUDA backend options the run used (absent on the CPU reference). */
  cuda?: CudaEngineOptions;
  /**
   * KV-cache dtype (vLLM's --kv-cache-dtype): 'auto' = the activation dtype, 'fp8' = FP8 E4M3 with per-layer
   * k_scale / v_scale. Absent in results written before it was an axis (they ran 'auto').
   */
  kvCacheDtype?: KvCacheDtype;
  /** With kvCacheDtype 'fp8': where the per-layer k/v scales came from. */
  kvScales?: 'checkpoint' | 'calibrated' | 'default 1.0';
  /**
   * 'fp8': attention as FlashAttention-3's FP8 path (Q and P in e4m3; LoadOptions.attentionDtype).
   * Absent: 'auto' (fp32 math on the cache's values), as every result before it existed.
   */
  attentionDtype?: 'fp8';
}

/** Run-time options of the CUDA backend: all on by default; turning one off is for comparisons (recorded). */
export interface CudaEngineOptions {
  /** Programmatic dependent launch between a step's kernels. */
  pdl: boolean;
  /** Decode-only steps replay a CUDA graph per batch-size bucket. */
  cudaGraphs: boolean;
  /** One-row (batch-1 decode) steps run the fused decode linears. */
  fusedDecode: boolean;
  /** A decode graph bucket's cuBLASLt GEMMs run the fastest of the library's top heuristic algorithms (timed once, before capture). */
  gemmTuning: boolean;
}
export const DEFAULT_CUDA_OPTIONS: CudaEngineOptions = { pdl: true, cudaGraphs: true, fusedDecode: true, gemmTuning: true };

export interface ModelInfo {
  /** Directory or synthetic:NAME */
  model: string;
  weights: WeightsKind;
  arch: LlamaConfig;
  precision: Precision;
  recipe: PrecisionRecipe;
  device: DeviceKind;
  deviceName: string;
}

/** The subset of an HF LlamaConfig we use. */
export interface LlamaConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: null | {
    type: 'llama3';
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositionEmbeddings: number;
  };
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

export interface SamplingParams {
  /** 0 (default) = greedy */
  temperature?: number;
  topP?: number;
  seed?: number;
}

export interface GenerateOptions extends SamplingParams {
  maxTokens?: number;
  /** Stop strings: generation ends when the text contains one; it is cut before the stop string. */
  stop?: string[];
  /** Extra token ids that end generation (in addition to EOS unless ignoreEos). */
  stopTokenIds?: number[];
  ignoreEos?: boolean;
  /** Return the log-probability of every generated token. */
  logprobs?: boolean;
  /** Apply the tokenizer's chat template (instruct models) to each prompt, given as a user message. */
  chat?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'eos';

export interface GenerateOutput {
  prompt: string;
  promptIds: number[];
  ids: number[];
  text: string;
  /** Per generated token, when requested. */
  logprobs?: number[];
  finishReason: FinishReason;
}

export interface LoglikelihoodRequest {
  context: string;
  continuation: string;
}

export interface LoglikelihoodResult {
  /** Sum of log p(continuation token | prefix) over the continuation tokens. */
  logprob: number;
  /** True when every continuation token is the argmax at its position (lm-eval's is_greedy). */
  isGreedy: boolean;
  /** Per continuation token, when requested. */
  tokenLogprobs?: number[];
  /** Number of continuation tokens. */
  numTokens: number;
}
