/**
 * A "setup" is what must never be silently mixed inside one chart: device, code commit and model.
 * Every chart row carries its setup label; charts facet (or split) by it when more than one is present.
 */
import type { Provenance, WeightsKind } from './results-types.ts';

export interface Setup {
  key: string;
  label: string;
  device: string;
  deviceKind: string;
  commit: string;
  model: string;
  weights: WeightsKind;
}

export const FIXTURE_DEVICE = 'fixture';

export function shortCommit(commit: string): string {
  const dirty = commit.endsWith('+dirty');
  const base = dirty ? commit.slice(0, -'+dirty'.length) : commit;
  return (/^[0-9a-f]{12,}$/i.test(base) ? base.slice(0, 10) : base) + (dirty ? '+dirty' : '');
}

/** The KV cache dtype of a result: fp8 with an FP8 cache, else the activation dtype (K and V stored as activations). */
export function kvCacheLabel(p: Provenance): string {
  return p.kv_cache_dtype === 'fp8' ? 'fp8' : p.recipe.actDtype;
}

/**
 * An FP8 KV cache (vLLM's --kv-cache-dtype fp8) is part of the setup: its results never share a chart with 16-bit KV
 * ones; FP8 attention (recipe.attentionDtype) likewise never shares one with the default attention.
 */
export function setupOf(p: Provenance): Setup {
  const kv = p.kv_cache_dtype ?? 'auto';
  const attn = p.recipe.attentionDtype ?? 'auto';
  const key: string[] = [p.device, p.commit, p.model];
  if (kv !== 'auto' || attn !== 'auto') key.push(kv);
  if (attn !== 'auto') key.push(`attention ${attn}`);
  return {
    key: JSON.stringify(key),
    label: `${p.device} · ${shortCommit(p.commit)} · ${p.model}${kv === 'auto' ? '' : ` · KV cache ${kv}`}${attn === 'auto' ? '' : ` · attention ${attn}`}`,
    device: p.device,
    deviceKind: p.deviceKind,
    commit: p.commit,
    model: p.model,
    weights: p.weights,
  };
}

/** Canonical order of precisions in legends and tables; unknown ones sort after, alphabetically. */
export const PRECISION_ORDER = ['fp32', 'bf16', 'fp16', 'int8-w8a8', 'fp8-dynamic', 'fp8-static'];
const PRECISION_COLORS: Record<string, string> = {
  fp32: '#9d755d',
  bf16: '#72b7b2',
  fp16: '#4c78a8',
  'int8-w8a8': '#f58518',
  'fp8-dynamic': '#54a24b',
  'fp8-static': '#b279a2',
};

export function comparePrecision(a: string, b: string): number {
  const ia = PRECISION_ORDER.indexOf(a);
  const ib = PRECISION_ORDER.indexOf(b);
  if (ia >= 0 && ib >= 0) return ia - ib;
  if (ia >= 0) return -1;
  if (ib >= 0) return 1;
  return a.localeCompare(b);
}

/** Colors for precision names outside the known set (e.g. kernel-level "int8", "fp8"), in order of appearance. */
const EXTRA_COLORS = ['#e45756', '#eeca3b', '#ff9da6', '#79706e', '#d67195', '#439894', '#bcbd22', '#17becf'];

/** Domain + range for a precision color scale over the precisions present (stable colors across charts). */
export function precisionScale(present: Iterable<string>): { domain: string[]; range: string[] } {
  const domain = [...new Set(present)].sort(comparePrecision);
  let extra = 0;
  return { domain, range: domain.map((p) => PRECISION_COLORS[p] ?? EXTRA_COLORS[extra++ % EXTRA_COLORS.length]) };
}
