/**
 * Request cache: one JSONL file per model+precision, a line per answered request keyed by the request's hash.
 * Lines are appended (synchronously) after every batch, so an interrupted run keeps everything already computed and
 * a rerun skips it; runs of different precisions can be compared request by request. The file is keyed by the
 * checkpoint's content fingerprint (engine's checkpointFingerprint), so a re-quantized checkpoint never reuses it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { checkpointFingerprint } from '@quantbench/engine';
import type { GenerateRequest, LoglikelihoodRequest, LoglikelihoodResponse } from '@quantbench/lm-eval-ts-shim';

export type CachedValue = { ll: LoglikelihoodResponse } | { gen: string };

export function llKey(r: LoglikelihoodRequest): string {
  return createHash('sha256').update(JSON.stringify(['ll', r.context, r.continuation])).digest('hex').slice(0, 32);
}

export function genKey(r: GenerateRequest): string {
  return createHash('sha256').update(JSON.stringify(['gen', r.context, r.until, r.maxGenToks])).digest('hex').slice(0, 32);
}

/** Identity of a model+precision configuration: what must match for a cached answer to be reusable. */
export interface CacheIdentity {
  model: string;
  precision: string;
  dtype?: string;
  device?: string;
  calib?: string;
  addBosToken?: boolean;
  /** Chat-templated prompts (--apply_chat_template): the template's sha256, the few-shot layout, the system text. */
  chat?: { templateSha: string; fewshotAsMultiturn: boolean } | null;
  systemInstruction?: string;
  /** vLLM's --kv-cache-dtype ('auto' leaves the key as before). */
  kvCacheDtype?: string;
  /** The engine's attention dtype ('auto' leaves the key as before). */
  attentionDtype?: string;
}

/** A calibration file's identity: path, size and mtime (re-written in place, it calibrates differently). */
function calibIdentity(calib: string | undefined): string {
  if (!calib) return '';
  try {
    const st = fs.statSync(calib);
    return `${path.resolve(calib)}:${st.size}:${Math.round(st.mtimeMs)}`;
  } catch {
    return path.resolve(calib);
  }
}

/**
 * The cache file of a configuration, keyed by the checkpoint's content fingerprint (config, safetensors headers,
 * file sizes and mtimes), not its path: a checkpoint re-quantized in place gets a fresh cache (issue 20).
 */
export function cacheFileName(id: CacheIdentity): string {
  const parts: unknown[] = [checkpointFingerprint(id.model), id.precision, id.dtype ?? '', id.device ?? '', calibIdentity(id.calib)];
  if (id.addBosToken) parts.push('add_bos_token');
  // as lm-eval's request cache key (ConfigurableTask.build_all_requests: -chat_template, -fewshot_as_multiturn,
  // -system_prompt_hash): unchatted answers are never reused for chatted prompts
  if (id.chat) parts.push('chat_template', id.chat.templateSha, id.chat.fewshotAsMultiturn ? 'fewshot_as_multiturn' : '');
  if (id.systemInstruction !== undefined) parts.push('system_instruction', id.systemInstruction);
  // answers of an FP8 KV cache are never reused for a 16-bit one (or the other way round)
  if (id.kvCacheDtype !== undefined && id.kvCacheDtype !== 'auto') parts.push('kv_cache_dtype', id.kvCacheDtype);
  // nor answers of FP8 attention for the default attention
  if (id.attentionDtype !== undefined && id.attentionDtype !== 'auto') parts.push('attention_dtype', id.attentionDtype);
  const h = createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 12);
  const base = path.basename(id.model).replace(/[^A-Za-z0-9._-]/g, '_');
  return `${base}_${id.precision}_${h}.jsonl`;
}

export class RequestCache {
  private readonly map = new Map<string, CachedValue>();
  readonly file: string;

  constructor(dir: string, id: CacheIdentity) {
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, cacheFileName(id));
    if (fs.existsSync(this.file)) {
      for (const line of fs.readFileSync(this.file, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const { k, v } = JSON.parse(line) as { k: string; v: CachedValue };
          this.map.set(k, v);
        } catch {
          // a line cut by a hard kill: ignore it, the request is simply recomputed
        }
      }
    }
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): CachedValue | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Record answers and append them to disk before returning. */
  put(entries: [string, CachedValue][]): void {
    if (!entries.length) return;
    let text = '';
    for (const [k, v] of entries) {
      this.map.set(k, v);
      text += `${JSON.stringify({ k, v })}\n`;
    }
    fs.appendFileSync(this.file, text);
  }
}
