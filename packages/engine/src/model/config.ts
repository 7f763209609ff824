/** HF config.json -> LlamaConfig, and the synthetic model configs. */
import type { LlamaConfig } from '../types.ts';
import { EngineError } from '../errors.ts';

function num(cfg: Record<string, unknown>, key: string, def?: number): number {
  const v = cfg[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v === undefined && def !== undefined) return def;
  throw new EngineError('BAD_CONFIG', `config.json: "${key}" must be a number (got ${JSON.stringify(v)})`);
}

/** Parse a Llama-architecture HF config. Refuses other architectures by name. */
export function parseLlamaConfig(cfg: Record<string, unknown>, where = 'config.json'): LlamaConfig {
  const arch = cfg.architectures;
  const modelType = cfg.model_type;
  if (modelType !== undefined && modelType !== 'llama') {
    throw new EngineError('BAD_CONFIG', `${where}: model_type "${String(modelType)}" is not supported (quantbench runs Llama-architecture models)`);
  }
  if (Array.isArray(arch) && arch.length > 0 && !arch.includes('LlamaForCausalLM')) {
    throw new EngineError('BAD_CONFIG', `${where}: architectures ${JSON.stringify(arch)} is not LlamaForCausalLM`);
  }
  const hiddenSize = num(cfg, 'hidden_size');
  const numHeads = num(cfg, 'num_attention_heads');
  const numKvHeads = num(cfg, 'num_key_value_heads', numHeads);
  const headDim = num(cfg, 'head_dim', hiddenSize / numHeads);
  if (!Number.isInteger(headDim) || numHeads % numKvHeads !== 0) {
    throw new EngineError('BAD_CONFIG', `${where}: head sizes are inconsistent (hidden ${hiddenSize}, heads ${numHeads}, kv heads ${numKvHeads})`);
  }
  if (cfg.hidden_act !== undefined && cfg.hidden_act !== 'silu') {
    throw new EngineError('BAD_CONFIG', `${where}: hidden_act "${String(cfg.hidden_act)}" is not supported (silu only)`);
  }
  let ropeScaling: LlamaConfig['ropeScaling'] = null;
  const rs = (cfg.rope_scaling ?? null) as Record<string, unknown> | null;
  if (rs) {
    const type = rs.rope_type ?? rs.type;
    if (type === 'llama3') {
      ropeScaling = {
        type: 'llama3',
        factor: num(rs, 'factor'),
        lowFreqFactor: num(rs, 'low_freq_factor'),
        highFreqFactor: num(rs, 'high_freq_factor'),
        originalMaxPositionEmbeddings: num(rs, 'original_max_position_embeddings'),
      };
    } else if (type !== 'default' && type !== undefined) {
      throw new EngineError('BAD_CONFIG', `${where}: rope_scaling type "${String(type)}" is not supported (llama3 or none)`);
    }
  }
  const eos = cfg.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : typeof eos === 'number' ? [eos] : [];
  return {
    hiddenSize,
    intermediateSize: num(cfg, 'intermediate_size'),
    numLayers: num(cfg, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: num(cfg, 'vocab_size'),
    maxPositionEmbeddings: num(cfg, 'max_position_embeddings', 2048),
    rmsNormEps: num(cfg, 'rms_norm_eps', 1e-6),
    ropeTheta: num(cfg, 'rope_theta', 10000),
    ropeScaling,
    tieWordEmbeddings: cfg.tie_word_embeddings === true,
    bosTokenId: typeof cfg.bos_token_id === 'number' ? cfg.bos_token_id : null,
    eosTokenIds,
  };
}

/** Synthetic models: exact shapes, seeded weights. */
export const SYNTHETIC_CONFIGS: Record<string, LlamaConfig> = {
  'llama-3.1-8b': {
    hiddenSize: 4096,
    intermediateSize: 14336,
    numLayers: 32,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 128,
    vocabSize: 128256,
    maxPositionEmbeddings: 131072,
    rmsNormEps: 1e-5,
    ropeTheta: 500000,
    ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    tieWordEmbeddings: false,
    bosTokenId: 128000,
    eosTokenIds: [128001, 128008, 128009],
  },
  /** Small enough for CI and a newcomer's first run on a CPU; same structure (GQA, untied, llama3 RoPE). */
  tiny: {
    hiddenSize: 128,
    intermediateSize: 352,
    numLayers: 4,
    numHeads: 8,
    numKvHeads: 2,
    headDim: 16,
    vocabSize: 512,
    maxPositionEmbeddings: 4096,
    rmsNormEps: 1e-5,
    ropeTheta: 500000,
    ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 1024 },
    tieWordEmbeddings: false,
    bosTokenId: 1,
    eosTokenIds: [2],
  },
  /** tiny with Llama-3.1-8B's head dim (128): the GPU kernels only that head dim takes, checked against the CPU. */
  'tiny-hd128': {
    hiddenSize: 512,
    intermediateSize: 1024,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 128,
    vocabSize: 512,
    maxPositionEmbeddings: 4096,
    rmsNormEps: 1e-5,
    ropeTheta: 500000,
    ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 1024 },
    tieWordEmbeddings: false,
    bosTokenId: 1,
    eosTokenIds: [2],
  },
};

export function syntheticConfig(name: string): LlamaConfig {
  const c = SYNTHETIC_CONFIGS[name];
  if (!c) {
    throw new EngineError('UNKNOWN_MODEL', `unknown synthetic model "synthetic:${name}" (known: ${Object.keys(SYNTHETIC_CONFIGS).map((k) => `synthetic:${k}`).join(', ')})`);
  }
  return c;
}

/** Bytes of weights as the engine stores them for a precision (linears 8-bit when quantized). */
export function weightBytes(c: LlamaConfig, eightBitLinears: boolean): number {
  const lin = c.numLayers * (c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize);
  const emb = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  const norms = (2 * c.numLayers + 1) * c.hiddenSize;
  return lin * (eightBitLinears ? 1 : 2) + (emb + norms) * 2;
}
