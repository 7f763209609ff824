/**
 * Builds a native model from an HF directory (plain or compressed-tensors) or a synthetic spec, and prepares it for
 * one precision: loads tensors straight from the safetensors files into native memory (never through the JS heap),
 * calibrates when the precision needs it, quantizes, and allocates the paged KV cache.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadNative, type NativeDtype, type NativeModel } from '@quantbench/native';
import { openCheckpoint } from '../checkpoint/index.ts';
import { kvScaleNames, parseKvCacheScheme, parseQuantizationConfig } from '../checkpoint/compressed_tensors.ts';
import { decodeFloats } from '../checkpoint/quant_tensors.ts';
import { EngineError, wrapNative } from '../errors.ts';
import { dataPath } from '../datadir.ts';
import { cpuDeviceName } from '../provenance.ts';
import { calibrate, DEFAULT_CALIBRATION } from '../quant/calibration.ts';
import { ByteTokenizer, loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer.ts';
import { DEFAULT_CUDA_OPTIONS, weightsKindOf, isKvCacheDtype, isPrecision, isAttentionDtype, isQuantized, KV_CACHE_DTYPES, ATTENTION_DTYPES, type ActDtype, type CudaEngineOptions, type DeviceKind, type KvCacheDtype, type LlamaConfig, type Precision, type PrecisionRecipe, type AttentionDtype, type WeightsKind } from '../types.ts';
import { parseLlamaConfig, syntheticConfig, weightBytes } from './config.ts';
import { toNativeConfig } from './native_config.ts';

export const KV_BLOCK_SIZE = 16;

const NATIVE_DTYPES: readonly NativeDtype[] = ['F32', 'F16', 'BF16', 'F8_E4M3', 'I8', 'I32', 'F64'];
function isNativeDtype(d: string): d is NativeDtype {
  return (NATIVE_DTYPES as readonly string[]).includes(d);
}

export interface LoadOptions {
  /** HF model directory, or synthetic:llama-3.1-8b / synthetic:tiny */
  model: string;
  precision?: Precision;
  /** Activation dtype of the 16-bit parts (default: fp16; fp32/bf16 precisions imply theirs). */
  dtype?: ActDtype;
  /**
   * KV-cache dtype, vLLM's --kv-cache-dtype (default 'auto' = the activation dtype). 'fp8' stores FP8 E4M3 with the
   * checkpoint's per-layer k_scale / v_scale when it has them, else 1.0 (as vLLM); 'auto' ignores those scales.
   */
  kvCacheDtype?: KvCacheDtype;
  /**
   * Calibrate per-layer FP8 KV scales on the calibration text (per layer max |K| after RoPE / 448 and max |V| / 448,
   * measured on the 16-bit model) instead of reading them from the checkpoint (`pnpm quantize --kv-cache-dtype fp8`).
   * With kvCacheDtype 'fp8' the model runs with them (its calibration pass goes through the FP8 cache at scale 1.0,
   * so later layers' statistics see that rounding); with 'auto' they are only computed (LoadedModel.kvScales): a
   * quantize run calibrates with a 16-bit KV cache and writes the same weights as without KV scales.
   */
  calibrateKvScales?: boolean;
  /**
   * Attention dtype (default 'auto': fp32 math on the cache's values). 'fp8', with kvCacheDtype 'fp8': every row
   * attends as FlashAttention-3's FP8 path (what vLLM's FA3 backend runs with an FP8 cache, prefills and decodes): Q in
   * e4m3 per row and head, P = 2^8 exp(s - max) in e4m3. The CPU reference only for now (the CUDA kernels are issue
   * 18's next step: native/dev/prefill_attention v19); recorded as recipe.attentionDtype. Calibration passes
   * (fp8-static scales, SmoothQuant, KV scales) run through it too, as they run through the FP8 cache.
   */
  attentionDtype?: AttentionDtype;
  device?: DeviceKind | 'auto';
  threads?: number;
  /** Calibration text (.txt / .jsonl) for fp8-static scales and int8 SmoothQuant; default: our small built-in text. */
  calib?: string;
  calibSamples?: number;
  /** SmoothQuant alpha for int8-w8a8 (default 0.5; negative disables smoothing). */
  smoothquantAlpha?: number;
  /** Longest sequence (default min(max_position_embeddings, 4096)). */
  maxModelLen?: number;
  /** KV cache size in blocks of 16 tokens (default: 2048 on the CPU; on CUDA, what fits in gpuMemoryUtilization). */
  kvBlocks?: number;
  /** CUDA: fraction of GPU memory for weights + KV cache + workspace (default 0.9, as vLLM). */
  gpuMemoryUtilization?: number;
  /** CUDA: tokens per step the workspace is reserved for when sizing the KV cache (default 8192). */
  maxNumBatchedTokens?: number;
  /** CUDA backend options (default: all on); a -DQB_TRACE build writes its block trace to traceFile. */
  cuda?: Partial<CudaEngineOptions> & { traceFile?: string };
  /** Synthetic weights */
  seed?: number;
  outlierChannels?: number;
  outlierGain?: number;
  /** Tokenizer directory override (default: the model directory). */
  tokenizer?: string;
  dataDir?: string;
  onProgress?: (msg: string) => void;
}

export interface LoadedModel {
  native: NativeModel;
  tokenizer: TextTokenizer;
  arch: LlamaConfig;
  precision: Precision;
  recipe: PrecisionRecipe;
  weights: WeightsKind;
  device: DeviceKind;
  deviceName: string;
  maxModelLen: number;
  numKvBlocks: number;
  modelId: string;
  kvCacheDtype: KvCacheDtype;
  /** Bytes of one KV block of KV_BLOCK_SIZE tokens (the native model's kvBlockBytes()). */
  kvBlockBytes: number;
  /**
   * Per-layer KV scales: with 'fp8' those set on the model (layers a checkpoint lacks: 1.0); calibrated ones
   * (calibrateKvScales) with either dtype; null otherwise.
   */
  kvScales: { k: number[]; v: number[] } | null;
}

/** FP8 E4M3's largest finite value: a KV scale maps a layer's absmax onto it. */
export const FP8_E4M3_MAX = 448;

/**
 * Per-layer KV scales from the 'k_cache' / 'v_cache' calibration stats ([layers * numKvHeads * headDim] per-channel
 * absmax): scale = layer max / 448; a layer with no range (all zero, or no stats) gets 1.0.
 */
export function kvScalesFromStats(calib: Record<string, Float32Array>, arch: Pick<LlamaConfig, 'numLayers' | 'numKvHeads' | 'headDim'>): { k: number[]; v: number[] } {
  const per = arch.numKvHeads * arch.headDim;
  const scales = (key: 'k_cache' | 'v_cache'): number[] => {
    const stats = calib[key];
    if (!stats || stats.length !== arch.numLayers * per) {
      throw new EngineError('BAD_CALIBRATION', `calibration returned ${stats ? `${stats.length} values` : 'no values'} for ${key}; expected ${arch.numLayers} layers x ${per} channels (is the native side built with KV-cache calibration?)`);
    }
    return Array.from({ length: arch.numLayers }, (_, l) => {
      let m = 0;
      for (let i = l * per; i < (l + 1) * per; i++) if (stats[i]! > m) m = stats[i]!;
      const s = m / FP8_E4M3_MAX;
      return s > 0 && Number.isFinite(s) ? s : 1;
    });
  };
  return { k: scales('k_cache'), v: scales('v_cache') };
}

export const kScaleName = (layer: number) => `model.layers.${layer}.self_attn.k_scale`;
export const vScaleName = (layer: number) => `model.layers.${layer}.self_attn.v_scale`;

function setKvScales(model: NativeModel, s: { k: number[]; v: number[] }): void {
  s.k.forEach((x, l) => wrapNative(`setting ${kScaleName(l)}`, () => model.setTensor(kScaleName(l), 'F32', [], Float32Array.of(x))));
  s.v.forEach((x, l) => wrapNative(`setting ${vScaleName(l)}`, () => model.setTensor(vScaleName(l), 'F32', [], Float32Array.of(x))));
}

/** Reads a one-element F32/F16/BF16 tensor (a KV scale) from its file region. */
function readScalar(t: { name: string; file: string; offset: number; nbytes: number; dtype: string; shape: number[] }): number {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (n !== 1 || !['F32', 'F16', 'BF16'].includes(t.dtype)) {
    throw new EngineError('BAD_CONFIG', `KV scale ${t.name} in ${t.file} is ${t.dtype} ${JSON.stringify(t.shape)}; expected one F32/F16/BF16 value (a per-layer, per-tensor scale)`);
  }
  const fd = fs.openSync(t.file, 'r');
  try {
    const buf = Buffer.alloc(t.nbytes);
    fs.readSync(fd, buf, 0, t.nbytes, t.offset);
    const v = decodeFloats(t.dtype as 'F32', new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))[0]!;
    if (!(v > 0) || !Number.isFinite(v)) throw new EngineError('BAD_CONFIG', `KV scale ${t.name} in ${t.file} is ${v}; a scale must be a positive finite number`);
    return v;
  } finally {
    fs.closeSync(fd);
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function defaultDtype(p: Precision): ActDtype {
  return p === 'fp32' ? 'fp32' : p === 'bf16' ? 'bf16' : 'fp16';
}

function recipeFor(p: Precision, dtype: ActDtype, source: PrecisionRecipe['source'], alpha?: number, calibration?: string): PrecisionRecipe {
  const base = { precision: p, actDtype: dtype, source } as const;
  switch (p) {
    case 'int8-w8a8':
      return { ...base, weights: 'int8 symmetric per-channel', activations: 'int8 symmetric per-token dynamic', smoothquantAlpha: alpha, calibration };
    case 'fp8-dynamic':
      return { ...base, weights: 'fp8-e4m3 per-channel', activations: 'fp8-e4m3 per-token dynamic' };
    case 'fp8-static':
      return { ...base, weights: 'fp8-e4m3 per-tensor', activations: 'fp8-e4m3 per-tensor static', calibration };
    default:
      return { ...base, weights: `none (${dtype})`, activations: `none (${dtype})` };
  }
}

function resolveDevice(d: LoadOptions['device']): DeviceKind {
  const native = loadNative();
  if (d === 'cuda') {
    if (!native.builtWithCuda()) throw new EngineError('NO_CUDA', 'this build has no CUDA backend (nvcc was not found at build time); use --device cpu');
    if (!native.cudaAvailable()) throw new EngineError('NO_CUDA', 'no CUDA GPU is visible; use --device cpu');
    return 'cuda';
  }
  if (d === 'cpu') return 'cpu';
  return native.cudaAvailable() ? 'cuda' : 'cpu';
}

const FP8_ATTENTION_ON_CUDA = "attentionDtype 'fp8' runs on the CPU reference only in this build (its CUDA kernels are not written yet): use --device cpu, or leave the attention dtype at 'auto' on CUDA";

/** LoadOptions.attentionDtype, checked before anything is loaded (a CUDA device named outright included). */
function attentionDtypeOf(o: LoadOptions): AttentionDtype {
  const d = o.attentionDtype ?? 'auto';
  if (!isAttentionDtype(d)) throw new EngineError('BAD_CONFIG', `unknown attentionDtype "${String(d)}" (use ${ATTENTION_DTYPES.join(' or ')})`);
  if (d === 'fp8' && o.kvCacheDtype !== 'fp8') throw new EngineError('BAD_CONFIG', "attentionDtype 'fp8' computes on the FP8 cache's codes: it needs kvCacheDtype 'fp8'");
  if (d === 'fp8' && o.device === 'cuda') throw new EngineError('UNSUPPORTED_ON_CUDA', FP8_ATTENTION_ON_CUDA);
  return d;
}

export function loadModel(o: LoadOptions): LoadedModel {
  const progress = o.onProgress ?? (() => {});
  const attentionDtype = attentionDtypeOf(o);
  const device = resolveDevice(o.device ?? 'auto');
  if (attentionDtype === 'fp8' && device === 'cuda') throw new EngineError('UNSUPPORTED_ON_CUDA', FP8_ATTENTION_ON_CUDA);
  const native = loadNative();
  const threads = o.threads ?? native.hardwareThreads();
  const synthetic = weightsKindOf(o.model) === 'synthetic';
  let arch: LlamaConfig;
  let tokenizer: TextTokenizer;
  let ckpt: ReturnType<typeof openCheckpoint> | null = null;
  let scheme: ReturnType<typeof parseQuantizationConfig> = null;
  if (synthetic) {
    const name = o.model.slice('synthetic:'.length);
    arch = syntheticConfig(name);
    const tokDir = o.tokenizer ?? (name === 'llama-3.1-8b' ? dataPath('tokenizers/llama-3.1', o.dataDir) : null);
    tokenizer = tokDir ? loadTokenizer(tokDir, arch.eosTokenIds, arch.bosTokenId) : new ByteTokenizer();
  } else {
    ckpt = openCheckpoint(o.model);
    arch = parseLlamaConfig(ckpt.config, path.join(ckpt.dir, 'config.json'));
    scheme = parseQuantizationConfig(ckpt.config);
    tokenizer = loadTokenizer(o.tokenizer ?? ckpt.dir, arch.eosTokenIds, arch.bosTokenId);
  }

  let precision: Precision = o.precision ?? (scheme ? scheme.precision : 'fp16');
  if (!isPrecision(precision)) throw new EngineError('UNKNOWN_PRECISION', `unknown precision "${String(precision)}"`);
  if (scheme && precision !== scheme.precision) {
    throw new EngineError('BAD_CONFIG', `${o.model} is a ${scheme.precision} checkpoint (compressed-tensors); run it with --precision ${scheme.precision}, or quantize the 16-bit original to ${precision}`);
  }
  const kvCacheDtype: KvCacheDtype = o.kvCacheDtype ?? 'auto';
  if (!isKvCacheDtype(kvCacheDtype)) throw new EngineError('BAD_CONFIG', `unknown kvCacheDtype "${String(kvCacheDtype)}" (use ${KV_CACHE_DTYPES.join(' or ')})`);
  // A checkpoint's kv_cache_scheme is checked even when it is not used ('auto' ignores its scales, as vLLM).
  const kvScheme = ckpt ? parseKvCacheScheme(ckpt.config, path.join(ckpt.dir, 'config.json')) : null;
  const dtype = o.dtype ?? defaultDtype(precision);
  if ((precision === 'fp32' && dtype !== 'fp32') || (precision === 'bf16' && dtype !== 'bf16') || (precision === 'fp16' && dtype !== 'fp16')) {
    throw new EngineError('BAD_CONFIG', `precision ${precision} runs with dtype ${defaultDtype(precision)}, not ${dtype}`);
  }
  const maxModelLen = Math.min(o.maxModelLen ?? 4096, arch.maxPositionEmbeddings);
  // The CPU reference keeps weights as fp32: refuse models that cannot fit before allocating anything.
  const cpuBytes = 2 * weightBytes(arch, false);
  if (device === 'cpu' && cpuBytes > 12e9) {
    throw new EngineError('TOO_BIG_FOR_CPU', `${o.model} needs about ${Math.round(cpuBytes / 1e9)} GB as fp32 on the CPU reference backend; run it with --device cuda`);
  }
  const { traceFile, ...cudaFlags } = o.cuda ?? {};
  const cudaOptions: CudaEngineOptions = { ...DEFAULT_CUDA_OPTIONS, ...definedOnly(cudaFlags) };
  const nativeCfg = toNativeConfig(arch, { actDtype: dtype, device, threads, maxPositions: maxModelLen, kvCacheDtype, attentionDtype });
  if (device === 'cuda') nativeCfg.cuda = { ...cudaOptions, ...(traceFile ? { traceFile } : {}) };
  const model = wrapNative('creating the model', () => new native.NativeModel(nativeCfg));

  let kvScales: { k: number[]; v: number[] } | null = null;
  let kvScaleSource: PrecisionRecipe['kvScales'] = kvCacheDtype === 'fp8' ? 'default 1.0' : undefined;
  try {
    if (synthetic) {
      progress(`synthesizing ${o.model} weights (seed ${o.seed ?? 0})`);
      wrapNative('synthesizing weights', () => model.synthesize(o.seed ?? 0, o.outlierChannels ?? 4, o.outlierGain ?? 20));
    } else if (ckpt) {
      // KV scales are not weights: with fp8 they are set under their canonical names (legacy names remapped as vLLM
      // does), with 'auto' they are ignored.
      const all = [...ckpt.tensors.keys()].filter((n) => !n.endsWith('rotary_emb.inv_freq'));
      const scaleNames = all.filter((n) => kvScaleNames(n) !== null);
      if (kvCacheDtype === 'fp8' && scaleNames.length > 0) {
        const k = new Array<number>(arch.numLayers).fill(1);
        const v = new Array<number>(arch.numLayers).fill(1);
        for (const n of scaleNames) {
          const value = readScalar(ckpt.tensors.get(n)!);
          for (const target of kvScaleNames(n)!) {
            const layer = Number(/^model\.layers\.(\d+)\./.exec(target)![1]);
            if (layer >= arch.numLayers) throw new EngineError('BAD_CONFIG', `KV scale ${n} names layer ${layer}, but the model has ${arch.numLayers} layers`);
            (target.endsWith('.k_scale') ? k : v)[layer] = value;
          }
        }
        kvScales = { k, v };
        kvScaleSource = 'checkpoint';
        setKvScales(model, kvScales);
      } else if (kvCacheDtype === 'fp8' && kvScheme) {
        progress(`note: ${o.model} declares kv_cache_scheme but holds no k_scale / v_scale tensors: KV scales are 1.0`);
      }
      const names = all.filter((n) => kvScaleNames(n) === null);
      names.forEach((name, i) => {
        const t = ckpt!.tensors.get(name)!;
        if (!isNativeDtype(t.dtype)) {
          throw new EngineError('BAD_CONFIG', `tensor ${name} in ${t.file} has dtype ${t.dtype}; quantbench loads ${NATIVE_DTYPES.join(', ')}`);
        }
        const dtype = t.dtype;
        wrapNative(`loading tensor ${name} from ${t.file}`, () => model.loadTensor(name, t.file, t.offset, t.nbytes, dtype, t.shape));
        if (i % 16 === 0) progress(`loading tensors ${i + 1}/${names.length}`);
      });
    }

    let numKvBlocks = o.kvBlocks ?? 2048;
    let recipe: PrecisionRecipe;
    const sixteen: Precision = dtype === 'fp32' ? 'fp32' : dtype === 'bf16' ? 'bf16' : 'fp16';
    let kvCalibStats: Record<string, Float32Array> | undefined;
    if (o.calibrateKvScales && scheme) {
      throw new EngineError('BAD_CONFIG', `${o.model} is a ${scheme.precision} checkpoint: calibrate KV scales on the 16-bit original`);
    }
    if (o.calibrateKvScales) {
      // KV scales from the 16-bit model's K (after RoPE) and V on the calibration text; set before the final finalize.
      const calibFile = o.calib ?? DEFAULT_CALIBRATION;
      wrapNative('preparing weights for KV calibration', () => model.finalize(sixteen, {}));
      wrapNative('allocating the KV cache', () => model.allocateKvCache(numKvBlocks));
      progress(`calibrating KV scales on ${calibFile}`);
      const stats = wrapNative('calibrating KV scales', () =>
        calibrate(model, tokenizer, { file: calibFile, maxSamples: o.calibSamples, maxModelLen, blockSize: KV_BLOCK_SIZE, numKvBlocks }),
      );
      kvCalibStats = stats;
      kvScales = kvScalesFromStats(stats, arch);
      if (kvCacheDtype === 'fp8') {
        kvScaleSource = 'calibrated';
        setKvScales(model, kvScales);
      }
    }
    if (scheme) {
      wrapNative('preparing quantized weights', () => model.finalize(precision, { prequantized: true }));
      recipe = recipeFor(precision, dtype, 'checkpoint', undefined, 'checkpoint');
    } else if (isQuantized(precision)) {
      const alpha = precision === 'int8-w8a8' ? (o.smoothquantAlpha ?? 0.5) : -1;
      const needsCalib = precision === 'fp8-static' || (precision === 'int8-w8a8' && alpha >= 0);
      let calib: Record<string, Float32Array> | undefined;
      const calibFile = o.calib ?? DEFAULT_CALIBRATION;
      if (needsCalib && kvCalibStats) {
        calib = kvCalibStats; // the same 16-bit model on the same text: one calibration pass serves both
      } else if (needsCalib) {
        wrapNative('preparing weights for calibration', () => model.finalize(sixteen, {}));
        wrapNative('allocating the KV cache', () => model.allocateKvCache(numKvBlocks));
        progress(`calibrating on ${calibFile}`);
        calib = wrapNative('calibrating', () =>
          calibrate(model, tokenizer, { file: calibFile, maxSamples: o.calibSamples, maxModelLen, blockSize: KV_BLOCK_SIZE, numKvBlocks }),
        );
      }
      progress(`quantizing to ${precision}`);
      wrapNative(`quantizing to ${precision}`, () => model.finalize(precision, { smoothAlpha: alpha, calib }));
      recipe = recipeFor(precision, dtype, 'load-time', alpha >= 0 ? alpha : undefined, needsCalib ? path.relative(process.cwd(), calibFile) : undefined);
    } else {
      wrapNative('preparing weights', () => model.finalize(precision, {}));
      recipe = recipeFor(precision, dtype, 'none');
    }
    if (device === 'cuda' && o.kvBlocks === undefined) {
      const util = o.gpuMemoryUtilization ?? 0.9;
      if (!(util > 0 && util <= 1)) throw new EngineError('BAD_CONFIG', `gpuMemoryUtilization must be in (0, 1], got ${util}`);
      wrapNative('releasing the calibration KV cache', () => model.allocateKvCache(1));  // before measuring free memory
      const fit = wrapNative('sizing the KV cache', () => model.suggestKvBlocks(util, o.maxNumBatchedTokens ?? 8192));
      const need = Math.ceil(maxModelLen / KV_BLOCK_SIZE);
      if (fit < need) {
        throw new EngineError('CUDA_OOM', `after the weights, ${Math.round(util * 100)}% of GPU memory leaves room for ${fit} KV blocks of ${KV_BLOCK_SIZE} tokens; one ${maxModelLen}-token sequence needs ${need}: raise gpuMemoryUtilization or lower maxModelLen`);
      }
      numKvBlocks = fit;
      progress(`KV cache: ${fit} blocks (${fit * KV_BLOCK_SIZE} tokens) in ${Math.round(util * 100)}% of GPU memory`);
    }
    wrapNative('allocating the KV cache', () => model.allocateKvCache(numKvBlocks));
    if (device === 'cuda') recipe = { ...recipe, cuda: cudaOptions };
    recipe = { ...recipe, kvCacheDtype, ...(kvScaleSource ? { kvScales: kvScaleSource } : {}), ...(attentionDtype === 'fp8' ? { attentionDtype } : {}) };
    return {
      native: model,
      tokenizer,
      arch,
      precision,
      recipe,
      weights: synthetic ? 'synthetic' : 'real',
      device,
      deviceName: device === 'cpu' ? cpuDeviceName(threads) : model.deviceName(),
      maxModelLen,
      numKvBlocks,
      modelId: synthetic ? o.model : modelIdOf(o.model),
      kvCacheDtype,
      kvBlockBytes: wrapNative('kvBlockBytes', () => model.kvBlockBytes()),
      kvScales,
    };
  } catch (e) {
    model.free();
    throw e;
  }
}

/** A readable id for a model directory: its last two path components (".../stories260K/hf" -> "stories260K/hf"). */
export function modelIdOf(dir: string): string {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  return parts.slice(-2).join('/');
}
