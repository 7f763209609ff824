/**
 * `pnpm bench latency`: step latency of the model outside the scheduler, on synthetic Llama-3.1-8B by default —
 * decode steps at batch × context (the CUDA-graph path), the same with per-block timing (eager, device events per
 * block), and one prefill, per precision. The KV cache is filled with seeded random values before timing. Each row:
 * the median wall time of the forward call (host packing + copies + device + sync), the bytes the step moves and the
 * TB/s that makes, and the roofline ratio against the ceilings (latency/roofline.ts).
 * --ncu: no timing; the forwards are bracketed for `ncu --profile-from-start off` (scripts/device/gpu.sh profile).
 */
import fs from 'node:fs';
import { cudaProfiler, KV_BLOCK_SIZE, LLM, type CudaEngineOptions, type KvCacheDtype, type NativeBatch, type Precision, type Provenance } from '@quantbench/engine';
import { SeededRng } from '../rng.ts';
import { decodeBatch, decodeBlocks, decodeSequencesThatFit, prefillBatch, type KvBlockOrder } from './batches.ts';
import { decodeCost, latencyCeilings, prefillCost } from './roofline.ts';

export interface LatencyOptions {
  model: string;
  device: 'cpu' | 'cuda';
  precisions: Precision[];
  /** KV-cache dtypes (vLLM's --kv-cache-dtype), swept inside each precision (default ['auto']). */
  kvCacheDtypes?: KvCacheDtype[];
  batches: number[];
  contexts: number[];
  /** Where each decode sequence's KV blocks lie (batches.ts); every order is timed per point (default contiguous). */
  kvBlockOrders?: KvBlockOrder[];
  /** Contiguous order: sequences lie this many tokens' blocks apart, as a serving run reserves them (0: packed). */
  kvReserveTokens?: number;
  /**
   * A decode point whose KV does not fit runs anyway with sequences sharing blocks (batches.ts: sequence s reads
   * sequence s mod S's, S the sequences that fit) instead of being skipped: the step reads the bytes of the whole
   * batch; sharers lie S sequences apart (S x context x the per-token KV of a layer: gigabytes at batch 1024, far
   * beyond the L2), so neither serves the other's reads. Their new tokens land in the same cache slots: timing only.
   */
  kvShareToFit?: boolean;
  /** Timed forwards per decode point (after 3 warm-ups); the per-block run takes half, at least 5. */
  iters: number;
  /** Prompt length of the prefill point; 0: no prefill. */
  prefillTokens: number;
  /** Fraction of GPU memory for weights + KV (batch 256 × context 2048 needs 32768 KV blocks). */
  gpuMemoryUtilization: number;
  /** KV blocks (CPU; on CUDA what fits in gpuMemoryUtilization). */
  kvBlocks?: number;
  ceilingsFile?: string;
  commit: string;
  seed: number;
  ncu: boolean;
  /** Decode steps captured with ncu (batch, context). */
  ncuDecode: { batch: number; context: number }[];
  out?: string;
  /** CUDA engine options (default all on); recorded in each row's recipe.cuda. */
  cuda?: Partial<CudaEngineOptions>;
}

/** The provenance fields a latency row carries (flat, as results/*\/gpu_latency.jsonl have them). */
type RowProvenance = Pick<Provenance, 'device' | 'commit' | 'model' | 'weights' | 'recipe'> & Required<Pick<Provenance, 'kv_cache_dtype'>>;

export interface LatencyRowBase extends RowProvenance {
  precision: Precision;
  kvBlocks: number;
  /** Bytes of one KV block (the native kvBlockBytes(): 1 byte per element with fp8). */
  kvBlockBytes: number;
  gpuMemoryUtilization: number;
  /** The ceilings the ratios use (null: none known, no ratio). */
  ceilings: Record<string, unknown> | null;
}

export interface DecodeRow extends LatencyRowBase {
  kind: 'decode';
  batch: number;
  context: number;
  /** Placement of each sequence's KV blocks (batches.ts). */
  kvBlockOrder: KvBlockOrder;
  /** --kv-reserve-tokens when given (contiguous order: sequences that far apart). */
  kvReserveTokens?: number;
  /** --kv-share-to-fit on a point that does not fit: the distinct sequences whose KV blocks the batch reads. */
  kvDistinctSequences?: number;
  skipped?: string;
  ms?: number;
  msEagerProfiled?: number;
  blocksMs?: Record<string, number>;
  bytes?: number;
  rooflineMs?: number;
  rooflineRatio?: number;
  /** decodeCost's boundMs: each part at the larger of its bytes and FLOPs time (the most of rooflineMs reachable). */
  boundMs?: number;
  /** boundMs / ms: the step against what its parts' own bounds allow. */
  boundRatio?: number;
  /** Parts whose FLOPs outlast their bytes at this batch (linears, lm_head, attention). */
  computeBound?: string[];
  tokPerS?: number;
  /** bytes / ms: what the step achieves of the memory bandwidth, TB/s. */
  achievedTBs?: number;
}

export interface PrefillRow extends LatencyRowBase {
  kind: 'prefill';
  tokens: number;
  ms: number;
  blocksMs?: Record<string, number>;
  flops: number;
  rooflineMs?: number;
  rooflineRatio?: number;
  tflops: number;
  bytes: number;
  achievedTBs: number;
}

export type LatencyRow = DecodeRow | PrefillRow;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const WARMUP = 3;

/** Median wall ms of `iters` forwards after warm-ups, and the median per-block ms of the profiled ones. */
function time(llm: LLM, make: () => NativeBatch, iters: number): { ms: number; blocks?: Record<string, number> } {
  const ts: number[] = [];
  const blocks: Record<string, number[]> = {};
  for (let i = 0; i < iters + WARMUP; i++) {
    const batch = make();
    const s = process.hrtime.bigint();
    const r = llm.forward(batch);
    const ms = Number(process.hrtime.bigint() - s) / 1e6;
    if (i >= WARMUP) {
      ts.push(ms);
      if (batch.profile) for (const [k, v] of Object.entries(r.blockMs)) (blocks[k] ??= []).push(v);
    }
  }
  const medians = Object.fromEntries(Object.entries(blocks).map(([k, v]) => [k, median(v)]));
  return { ms: median(ts), blocks: Object.keys(medians).length ? medians : undefined };
}

const tbs = (bytes: number, ms: number) => bytes / (ms * 1e9);

export async function runLatency(o: LatencyOptions, log: (m: string) => void, emit: (row: LatencyRow) => void): Promise<LatencyRow[]> {
  const rows: LatencyRow[] = [];
  const lines: string[] = [];
  const put = (row: LatencyRow) => {
    rows.push(row);
    lines.push(JSON.stringify(row));
    if (o.out) fs.writeFileSync(o.out, lines.join('\n') + '\n');
    emit(row);
  };
  const rng = new SeededRng(o.seed);
  for (const precision of o.precisions) for (const kvCacheDtype of o.kvCacheDtypes ?? ['auto' as const]) {
    const t0 = Date.now();
    const label = kvCacheDtype === 'auto' ? precision : `${precision} (kv ${kvCacheDtype})`;
    const llm = await LLM.load({
      model: o.model,
      precision,
      kvCacheDtype,
      device: o.device,
      maxModelLen: 4096,
      gpuMemoryUtilization: o.gpuMemoryUtilization,
      kvBlocks: o.kvBlocks,
      cuda: o.cuda,
      onProgress: (s) => log(`  ${s}`),
    });
    try {
      const info = llm.info;
      const a = info.arch;
      const V = a.vocabSize;
      const roof = latencyCeilings(info.device, info.deviceName, o.ceilingsFile);
      const c = roof?.ceilings ?? null;
      const base: LatencyRowBase = {
        device: info.deviceName,
        commit: o.commit,
        model: info.model,
        weights: info.weights,
        precision,
        recipe: info.recipe,
        kv_cache_dtype: llm.kvCacheDtype,
        kvBlocks: llm.numKvBlocks,
        kvBlockBytes: llm.kvBlockBytes,
        gpuMemoryUtilization: o.gpuMemoryUtilization,
        ceilings: roof?.record ?? null,
      };
      const kvPerToken = llm.kvBlockBytes / KV_BLOCK_SIZE;
      log(`${label}: loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s on ${info.deviceName}; KV ${llm.numKvBlocks} blocks`);
      llm.fillKvRandom(12345);
      if (o.ncu) {
        // Eager forwards (--no-cuda-graphs), warmed up, then captured in this order: the prefill, then the
        // --ncu-decode steps; each forward ends with the sampling kernel (the summary splits there).
        const prefillT = o.prefillTokens > 0 ? o.prefillTokens : 2048;
        const runs = [() => prefillBatch(rng, prefillT, V, false), ...o.ncuDecode.map((d) => () => decodeBatch(rng, d.batch, d.context, V, false))];
        log(`${label}: ncu forwards: prefill ${prefillT}, ${o.ncuDecode.map((d) => `decode b${d.batch} ctx${d.context}`).join(', ')}`);
        for (const r of runs) for (let i = 0; i < 2; i++) llm.forward(r());
        cudaProfiler(true);
        for (const r of runs) llm.forward(r());
        cudaProfiler(false);
        log(`${label}: profiled region done`);
        continue;
      }
      for (const ctx of o.contexts) {
        for (const B of o.batches) for (const order of o.kvBlockOrders ?? ['contiguous' as const]) {
          const reserve = order === 'contiguous' ? o.kvReserveTokens ?? 0 : 0;
          const placement = { kvBlockOrder: order, ...(reserve > 0 ? { kvReserveTokens: reserve } : {}) };
          const need = decodeBlocks(B, ctx, reserve);
          let distinct = B;
          if (need > llm.numKvBlocks) {
            const fit = decodeSequencesThatFit(llm.numKvBlocks, ctx, reserve);
            if (!o.kvShareToFit || fit < 1) {
              const room = info.device === 'cuda' ? `fit in ${Math.round(o.gpuMemoryUtilization * 100)}% of GPU memory` : 'in the cache (--kv-blocks)';
              put({ ...base, kind: 'decode', batch: B, context: ctx, ...placement, skipped: `needs ${need} KV blocks, ${llm.numKvBlocks} ${room}` });
              continue;
            }
            distinct = fit;
            log(`${label}: decode b${B} ctx${ctx} needs ${need} KV blocks, ${llm.numKvBlocks} fit: ${B} sequences read the blocks of ${fit} (--kv-share-to-fit)`);
          }
          const shared = distinct < B ? { kvDistinctSequences: distinct } : {};
          const cost = decodeCost(a, precision, B, ctx, c, kvPerToken);
          const g = time(llm, () => decodeBatch(rng, B, ctx, V, false, order, reserve, distinct), o.iters);
          const p = time(llm, () => decodeBatch(rng, B, ctx, V, true, order, reserve, distinct), Math.max(5, Math.floor(o.iters / 2)));
          put({
            ...base, kind: 'decode', batch: B, context: ctx, ...placement, ...shared, ms: g.ms, msEagerProfiled: p.ms, blocksMs: p.blocks, bytes: cost.bytes,
            rooflineMs: cost.rooflineMs ?? undefined, rooflineRatio: cost.rooflineMs !== null ? cost.rooflineMs / g.ms : undefined,
            ...(cost.boundMs !== null ? { boundMs: cost.boundMs, boundRatio: cost.boundMs / g.ms, computeBound: cost.computeBound } : {}),
            tokPerS: (B / g.ms) * 1e3, achievedTBs: tbs(cost.bytes, g.ms),
          });
        }
      }
      if (o.prefillTokens > 0) {
        const T = o.prefillTokens;
        const cost = prefillCost(a, precision, T, c, kvPerToken);
        const r = time(llm, () => prefillBatch(rng, T, V, false), 5);
        const p = time(llm, () => prefillBatch(rng, T, V, true), 3);
        put({
          ...base, kind: 'prefill', tokens: T, ms: r.ms, blocksMs: p.blocks, flops: cost.flops,
          rooflineMs: cost.rooflineMs ?? undefined, rooflineRatio: cost.rooflineMs !== null ? cost.rooflineMs / r.ms : undefined,
          tflops: cost.flops / (r.ms * 1e9), bytes: cost.bytes, achievedTBs: tbs(cost.bytes, r.ms),
        });
      }
    } finally {
      llm.close();
    }
  }
  return rows;
}
