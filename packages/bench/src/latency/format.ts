/** One line per latency row for the terminal (stderr), beside the JSON line on stdout. */
import type { LatencyRow } from './run.ts';

const ms = (v: number) => (v >= 100 ? v.toFixed(1) : v >= 10 ? v.toFixed(2) : v.toFixed(3));
const int = (v: number) => Math.round(v).toLocaleString('en-US');

export function formatLatencyRow(r: LatencyRow): string {
  const kv = r.kv_cache_dtype === 'auto' ? '' : ` kv ${r.kv_cache_dtype}`;
  if (r.kind === 'prefill') {
    const roof = r.rooflineRatio !== undefined ? `, roofline ${r.rooflineRatio.toFixed(2)}` : '';
    return `prefill ${r.precision}${kv} ${r.tokens} tokens: ${ms(r.ms)} ms, ${r.tflops.toFixed(1)} TFLOP/s${roof}`;
  }
  const head = `decode ${r.precision}${kv} batch ${r.batch} x context ${r.context}`;
  if (r.skipped !== undefined || r.ms === undefined) return `${head}: skipped (${r.skipped ?? 'no time'})`;
  const parts = [`${ms(r.ms)} ms`, `${int(r.tokPerS ?? 0)} tok/s`, `${(r.achievedTBs ?? 0).toFixed(2)} TB/s`];
  if (r.rooflineRatio !== undefined) parts.push(`roofline ${r.rooflineRatio.toFixed(2)}`);
  if (r.boundRatio !== undefined) parts.push(`of its bound ${r.boundRatio.toFixed(2)}`);
  const shared = r.kvDistinctSequences !== undefined ? ` (KV of ${r.kvDistinctSequences} sequences, read by ${r.batch} rows)` : '';
  return `${head}: ${parts.join(', ')}${shared}`;
}
