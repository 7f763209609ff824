/**
 * Builds a native model from an HF directory (plain or compressed-tensors) or a synthetic spec, and prepares it for
 * one precision: loads tensors straight from the safetensors files into native memory (never through the JS heap),
 * calibrates when the precision needs it, quantizes, and allocates the paged KV cache.
 */
import path from 'node:path';
import { loadNative, type NativeDtype, type NativeModel } from '@quantbench/native';
import { openCheckpoint } from '../checkpoint/index.ts';
import { parseQuantizationConfig } from '../checkpoint/compressed_tensors.ts';
import { EngineError, wrapNative } from '../errors.ts';
import { dataPath } from '../datadir.ts';
import { cpuDeviceName } from '../provenance.ts';
import { calibrate, DEFAULT_CALIBRATION } from '../quant/calibration.ts';
import { ByteTokenizer, loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer.ts';
import { DEFAULT_CUDA_OPTIONS, isPrecision, isQuantized, type ActDtype, type CudaEngineOptions, type DeviceKind, type LlamaConfig, type Precision, type PrecisionRecipe, type WeightsKind } from '../types.ts';
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

export function loadModel(o: LoadOptions): LoadedModel {
  const progress = o.onProgress ?? (() => {});
  const device = resolveDevice(o.device ?? 'auto');
  const native = loadNative();
  const threads = o.threads ?? native.hardwareThreads();
  const synthetic = o.model.startsWith('synthetic:');
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
  const nativeCfg = toNativeConfig(arch, { actDtype: dtype, device, threads, maxPositions: maxModelLen });
  if (device === 'cuda') nativeCfg.cuda = { ...cudaOptions, ...(traceFile ? { traceFile } : {}) };
  const model = wrapNative('creating the model', () => new native.NativeModel(nativeCfg));

  try {
    if (synthetic) {
      progress(`synthesizing ${o.model} weights (seed ${o.seed ?? 0})`);
      wrapNative('synthesizing weights', () => model.synthesize(o.seed ?? 0, o.outlierChannels ?? 4, o.outlierGain ?? 20));
    } else if (ckpt) {
      const names = [...ckpt.tensors.keys()].filter((n) => !n.endsWith('rotary_emb.inv_freq'));
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
    if (scheme) {
      wrapNative('preparing quantized weights', () => model.finalize(precision, { prequantized: true }));
      recipe = recipeFor(precision, dtype, 'checkpoint', undefined, 'checkpoint');
    } else if (isQuantized(precision)) {
      const alpha = precision === 'int8-w8a8' ? (o.smoothquantAlpha ?? 0.5) : -1;
      const needsCalib = precision === 'fp8-static' || (precision === 'int8-w8a8' && alpha >= 0);
      let calib: Record<string, Float32Array> | undefined;
      const calibFile = o.calib ?? DEFAULT_CALIBRATION;
      if (needsCalib) {
        wrapNative('preparing weights for calibration', () => model.finalize(dtype === 'fp32' ? 'fp32' : dtype === 'bf16' ? 'bf16' : 'fp16', {}));
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
