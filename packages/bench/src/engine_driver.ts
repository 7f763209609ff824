/**
 * The bench's only contact with the engine: loading a model (LLM.load) and driving the continuous-batching
 * EngineCore over its ModelRunner. Everything else in the bench sees the types re-exported here.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ADDON_PATH,
  EngineCore,
  LLM,
  cpuDeviceName,
  cudaAvailable,
  hardwareThreads,
  nativeAddonBuilt,
  type DeviceKind,
  type EngineCoreOptions,
  type KvCacheDtype,
  type LlamaConfig,
  type ModelRunner,
  type Precision,
  type PrecisionRecipe,
  type WeightsKind,
} from '@quantbench/engine';
export { EngineCore, cudaAvailable };
export type { EngineCoreOptions, ModelRunner, RequestOutput, StepResult, StepStats } from '@quantbench/engine';

export interface BenchEngineInfo {
  /** synthetic:NAME or a model directory */
  model: string;
  weights: WeightsKind;
  precision: Precision;
  recipe: PrecisionRecipe;
  device: DeviceKind;
  /** Human-readable device for provenance. */
  deviceName: string;
  vocabSize: number;
  /** Token ids a random prompt must not contain (BOS/EOS/special). */
  specialTokenIds: number[];
  /** Architecture, when known (roofline estimates need it). */
  arch?: LlamaConfig;
  /** KV cache dtype the engine runs (absent: 'auto', the activation dtype). */
  kvCacheDtype?: KvCacheDtype;
  /** Bytes of one KV block, from the native model (kvBlockBytes(): 1 byte per element with fp8), when known. */
  kvBlockBytes?: number;
}

export interface BenchEngine {
  info: BenchEngineInfo;
  runner: ModelRunner;
  createCore(opts: EngineCoreOptions): EngineCore;
  close(): void;
}

export interface LoadEngineOptions {
  model: string;
  precision: Precision;
  device: DeviceKind;
  /** Override the KV cache size (blocks of 16 tokens); default: the engine's choice. */
  numKvBlocks?: number;
  /** CPU threads; default: the engine's choice. */
  threads?: number;
  /** CUDA: fraction of GPU memory for weights + KV cache + workspace; the KV cache gets what is left (default 0.9). */
  gpuMemoryUtilization?: number;
  /** CUDA: the largest token budget per step the sweep will use (the workspace is reserved for it when sizing the KV cache). */
  maxNumBatchedTokens?: number;
  /** vLLM's --kv-cache-dtype (default 'auto'): the flag's value, or the protocol's ('fp8' for the FP8 precisions under --protocol peer). */
  kvCacheDtype?: KvCacheDtype;
}

export type EngineLoader = (o: LoadEngineOptions) => Promise<BenchEngine>;

export class EngineUnavailableError extends Error {
  readonly code = 'ENGINE_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'EngineUnavailableError';
  }
}

/** Loads a model through the engine's LLM.load; the LLM itself is the ModelRunner the EngineCore drives. */
export const loadBenchEngine: EngineLoader = async (o) => {
  if (!nativeAddonBuilt()) {
    throw new EngineUnavailableError(`native addon not built (${ADDON_PATH}); run \`pnpm build\` first`);
  }
  const llm = await LLM.load({
    model: o.model,
    precision: o.precision,
    device: o.device,
    kvBlocks: o.numKvBlocks,
    threads: o.threads,
    gpuMemoryUtilization: o.gpuMemoryUtilization,
    maxNumBatchedTokens: o.maxNumBatchedTokens,
    kvCacheDtype: o.kvCacheDtype,
  });
  const info = llm.info;
  const special = new Set<number>(llm.eosTokenIds);
  if (info.arch.bosTokenId !== null) special.add(info.arch.bosTokenId);
  return {
    info: {
      model: info.model,
      weights: info.weights,
      precision: info.precision,
      recipe: info.recipe,
      device: info.device,
      // Provenance wants the CPU model and thread count, not just "cpu".
      deviceName: info.device === 'cpu' && !info.deviceName.includes(':') ? cpuDeviceName(o.threads ?? hardwareThreads()) : info.deviceName,
      vocabSize: info.arch.vocabSize,
      specialTokenIds: [...special],
      arch: info.arch,
      kvCacheDtype: llm.kvCacheDtype,
      kvBlockBytes: llm.kvBlockBytes,
    },
    runner: llm,
    createCore: (opts) => llm.engineCore(opts),
    close: () => llm.close(),
  };
};

/** Loads a module that exports `loadEngine: EngineLoader` (--engine-module: another engine, or a test double). */
export async function loaderFromModule(file: string): Promise<EngineLoader> {
  const mod = (await import(pathToFileURL(path.resolve(file)).href)) as { loadEngine?: EngineLoader };
  if (typeof mod.loadEngine !== 'function') {
    throw new EngineUnavailableError(`${file} does not export loadEngine(options)`);
  }
  return mod.loadEngine;
}
