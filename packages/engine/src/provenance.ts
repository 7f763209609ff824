import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { AttentionDtype, DeviceKind, KvCacheDtype, PrecisionRecipe, WeightsKind } from './types.ts';

/** Recorded in every result file (bench points, eval results, kernel timings). */
export interface Provenance {
  /** Human-readable device, e.g. "NVIDIA H100 80GB HBM3" or "cpu: AMD EPYC ... (2 threads)". */
  device: string;
  deviceKind: DeviceKind;
  /** git commit of the code that produced the result; "+dirty" suffix when the tree had changes. */
  commit: string;
  /** Model directory (basename) or synthetic:NAME. */
  model: string;
  weights: WeightsKind;
  recipe: PrecisionRecipe;
  /**
   * KV-cache dtype of the run, named as vLLM's flag (--kv-cache-dtype auto|fp8); the recipe says where its scales
   * came from. Absent in results written before it was recorded (those ran 'auto').
   */
  kv_cache_dtype?: KvCacheDtype;
  /** ISO timestamp. */
  date: string;
  node: string;
  host: string;
  /** Results measured through an OpenAI-compatible server (`pnpm bench --backend openai`, eval local-completions). */
  backend?: 'in-process' | 'openai';
  baseUrl?: string;
  /** The model name the server answered under. */
  servedModel?: string;
  /** The user's label for the server (--label), e.g. "vllm-fp8". */
  label?: string;
}

/** The KV-cache dtype a result ran with ('auto' for results written before it was recorded). */
export function kvCacheDtypeOf(p: Pick<Provenance, 'kv_cache_dtype' | 'recipe'> | undefined | null): KvCacheDtype {
  return p?.kv_cache_dtype ?? p?.recipe?.kvCacheDtype ?? 'auto';
}

/** The attention dtype a result ran with ('auto' when the recipe does not say fp8). */
export function attentionDtypeOf(p: Pick<Provenance, 'recipe'> | undefined | null): AttentionDtype {
  return p?.recipe?.attentionDtype ?? 'auto';
}

let commitCache: string | undefined;

/** Current git commit (with +dirty when there are uncommitted changes), or "unknown" outside a checkout. */
export function gitCommit(cwd: string = process.cwd()): string {
  if (process.env.QB_COMMIT) return process.env.QB_COMMIT;
  if (commitCache !== undefined) return commitCache;
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
    commitCache = dirty ? `${head}+dirty` : head;
  } catch {
    commitCache = 'unknown';
  }
  return commitCache;
}

export function cpuDeviceName(threads: number): string {
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown cpu';
  return `cpu: ${cpu} (${threads} threads)`;
}

export function makeProvenance(args: {
  device: string;
  deviceKind: DeviceKind;
  model: string;
  weights: WeightsKind;
  recipe: PrecisionRecipe;
}): Provenance {
  return {
    ...args,
    kv_cache_dtype: args.recipe.kvCacheDtype ?? 'auto',
    commit: gitCommit(),
    date: new Date().toISOString(),
    node: process.version,
    host: os.hostname(),
  };
}
