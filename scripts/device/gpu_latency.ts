/**
 * Step latency of the CUDA model on synthetic Llama-3.1-8B (run on the GPU machine: `bash scripts/device/gpu.sh
 * latency --commit SHA`): decode steps at batch 1/16/64/256 × context 128/2048 (CUDA-graph path), the same with
 * --profile-blocks timing (eager, device events per block), and one 2048-token prefill, per precision.
 * Inputs are fresh random token ids; the KV cache is filled with seeded random values before timing.
 * Each row: median wall time of the forward call (host packing + copies + GPU + sync), with the roofline
 * ratio: decode = bytes read (weights + KV) / 3.0 TB/s; prefill = FLOPs / measured peak (715 TFLOP/s 16-bit,
 * 1270 TFLOP/s 8-bit linears), over the measured time.
 */
import fs from 'node:fs';
import { loadModel } from '../../packages/engine/src/model/loader.ts';
import { loadNative } from '../../native/js/index.ts';
import type { NativeBatch } from '../../native/js/index.ts';
import type { Precision } from '../../packages/engine/src/types.ts';

// Roofline denominators: measured on the machine at hand by ceilings.py (--ceilings), else the H100's
// (shared/device/NOTES.md: 3.0 TB/s copy, 715 TFLOP/s bf16, 1270 TFLOP/s fp8).
let PEAK_BW = 3.0e12;
let PEAK_16 = 715e12;
let PEAK_8 = 1270e12;

function argv() {
  const a = process.argv.slice(2);
  const get = (k: string, d?: string) => {
    const i = a.indexOf(k);
    return i >= 0 ? a[i + 1]! : d;
  };
  return {
    out: get('--out'),
    commit: get('--commit', 'unknown')!,
    precisions: (get('--precision', 'fp16,int8-w8a8,fp8-dynamic,fp8-static') as string).split(',') as Precision[],
    batches: (get('--batch', '1,16,64,256') as string).split(',').map(Number),
    contexts: (get('--context', '128,2048') as string).split(',').map(Number),
    iters: Number(get('--iters', '20')),
    ceilings: get('--ceilings'),
    // Fraction of GPU memory for weights + KV (the engine's default 0.9); batch 256 x context 2048 needs 32768 KV blocks.
    gpuUtil: Number(get('--gpu-memory-utilization', '0.9')),
    // Per-kernel profile: run under `ncu --profile-from-start off` (gpu.sh kernels-profile); only the bracketed
    // forwards (one 2048-token prefill, eager decode at batch 1 / context 128 and batch 64 / context 2048) are captured.
    ncu: a.includes('--ncu'),
    prefill: !a.includes('--no-prefill'),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

let rngState = BigInt(Date.now()) & 0xffffffffn;
function randInt(n: number): number {
  rngState = (rngState * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
  return Number((rngState >> 33n) % BigInt(n));
}

function decodeBatch(B: number, ctx: number, V: number, profile: boolean): NativeBatch {
  const nb = Math.ceil(ctx / 16);
  const blockTables = new Int32Array(B * nb);
  for (let s = 0; s < B; s++) for (let j = 0; j < nb; j++) blockTables[s * nb + j] = s * nb + j;
  return {
    tokens: Int32Array.from({ length: B }, () => randInt(V)),
    positions: new Int32Array(B).fill(ctx - 1),
    seqStarts: Int32Array.from({ length: B + 1 }, (_, i) => i),
    contextLens: new Int32Array(B).fill(ctx),
    blockTables,
    maxBlocksPerSeq: nb,
    sampleRows: Int32Array.from({ length: B }, (_, i) => i),
    temperature: new Float32Array(B),
    topP: new Float32Array(B).fill(1),
    seeds: new Uint32Array(3 * B),
    profile,
  };
}

function prefillBatch(T: number, V: number): NativeBatch {
  const nb = Math.ceil(T / 16);
  return {
    tokens: Int32Array.from({ length: T }, () => randInt(V)),
    positions: Int32Array.from({ length: T }, (_, i) => i),
    seqStarts: Int32Array.from([0, T]),
    contextLens: Int32Array.from([T]),
    blockTables: Int32Array.from({ length: nb }, (_, i) => i),
    maxBlocksPerSeq: nb,
    sampleRows: Int32Array.from([T - 1]),
    temperature: new Float32Array(1),
    topP: new Float32Array(1).fill(1),
    seeds: new Uint32Array(3),
  };
}

async function main() {
  const o = argv();
  let ceilings: Record<string, unknown> = { source: 'H100 (shared/device/NOTES.md)', copyTBs: 3.0, bf16Tflops: 715, fp8Tflops: 1270 };
  if (o.ceilings && fs.existsSync(o.ceilings)) {
    const c = JSON.parse(fs.readFileSync(o.ceilings, 'utf8')) as { copyTBs: number; bf16Tflops: number; fp8Tflops: number };
    ceilings = { source: 'measured here (scripts/device/ceilings.py)', ...c };
    PEAK_BW = c.copyTBs * 1e12;
    PEAK_16 = c.bf16Tflops * 1e12;
    PEAK_8 = c.fp8Tflops * 1e12;
  }
  const lines: string[] = [];
  const emit = (row: Record<string, unknown>) => {
    const s = JSON.stringify(row);
    lines.push(s);
    console.log(s);
    if (o.out) fs.writeFileSync(o.out, lines.join('\n') + '\n');
  };
  for (const precision of o.precisions) {
    const t0 = Date.now();
    const m = loadModel({ model: 'synthetic:llama-3.1-8b', precision, device: 'cuda', maxModelLen: 4096, gpuMemoryUtilization: o.gpuUtil, onProgress: (s) => console.log(`  ${s}`) });
    const a = m.arch;
    const V = a.vocabSize;
    const loadS = (Date.now() - t0) / 1000;
    const linParams = a.numLayers * (a.hiddenSize * (a.numHeads + 2 * a.numKvHeads) * a.headDim + a.numHeads * a.headDim * a.hiddenSize + 3 * a.hiddenSize * a.intermediateSize);
    const wBytes = linParams * (precision === 'fp16' || precision === 'bf16' ? 2 : 1) + V * a.hiddenSize * 2;
    const kvPerTok = a.numLayers * 2 * a.numKvHeads * a.headDim * 2;
    const base = { device: m.deviceName, commit: o.commit, model: 'synthetic:llama-3.1-8b', weights: 'synthetic', precision, recipe: m.recipe, kvBlocks: m.numKvBlocks, gpuMemoryUtilization: o.gpuUtil, ceilings };
    console.log(`${precision}: loaded in ${loadS.toFixed(1)} s on ${m.deviceName}; KV ${m.numKvBlocks} blocks`);
    m.native.fillKvRandom(12345);
    const time = (b: () => NativeBatch, iters: number) => {
      const ts: number[] = [];
      const blocks: Record<string, number[]> = {};
      for (let i = 0; i < iters + 3; i++) {
        const batch = b();
        const s = process.hrtime.bigint();
        const r = m.native.forward(batch);
        const ms = Number(process.hrtime.bigint() - s) / 1e6;
        if (i >= 3) {
          ts.push(ms);
          if (batch.profile) for (const [k, v] of Object.entries(r.blockMs)) (blocks[k] ??= []).push(v);
        }
      }
      const blockMedians = Object.fromEntries(Object.entries(blocks).map(([k, v]) => [k, median(v)]));
      return { ms: median(ts), blocks: Object.keys(blockMedians).length ? blockMedians : undefined };
    };
    if (o.ncu) {
      // Eager forwards (QB_CUDA_GRAPHS=0 set by the caller), warmed up, then captured in this order: prefill,
      // decode b1 ctx128, decode b64 ctx2048; each forward ends with the sampling kernel (the summary splits there).
      const runs = [() => prefillBatch(2048, V), () => decodeBatch(1, 128, V, false), () => decodeBatch(64, 2048, V, false)];
      for (const r of runs) for (let i = 0; i < 2; i++) m.native.forward(r());
      loadNative().cudaProfiler(true);
      for (const r of runs) m.native.forward(r());
      loadNative().cudaProfiler(false);
      console.log(`${precision}: profiled region done`);
      m.native.free();
      continue;
    }
    for (const ctx of o.contexts) {
      for (const B of o.batches) {
        const need = B * Math.ceil(ctx / 16);
        if (need > m.numKvBlocks) {
          emit({ ...base, kind: 'decode', batch: B, context: ctx, skipped: `needs ${need} KV blocks, ${m.numKvBlocks} fit in ${Math.round(o.gpuUtil * 100)}% of GPU memory` });
          continue;
        }
        const bytes = wBytes + B * ctx * kvPerTok;
        const g = time(() => decodeBatch(B, ctx, V, false), o.iters);
        const p = time(() => decodeBatch(B, ctx, V, true), Math.max(5, Math.floor(o.iters / 2)));
        emit({ ...base, kind: 'decode', batch: B, context: ctx, ms: g.ms, msEagerProfiled: p.ms, blocksMs: p.blocks, bytes, rooflineMs: (bytes / PEAK_BW) * 1e3, rooflineRatio: (bytes / PEAK_BW) * 1e3 / g.ms, tokPerS: (B / g.ms) * 1e3 });
      }
    }
    if (o.prefill) {
      const T = 2048;
      const peak = precision === 'fp16' || precision === 'bf16' ? PEAK_16 : PEAK_8;
      const linFlops = 2 * T * linParams;
      const attnFlops = a.numLayers * 2 * 2 * (T * T) / 2 * a.headDim * a.numHeads;
      const headFlops = 2 * a.hiddenSize * V;
      const roof = (linFlops / peak + (attnFlops + headFlops) / PEAK_16) * 1e3;
      const r = time(() => prefillBatch(T, V), 5);
      const p = time(() => ({ ...prefillBatch(T, V), profile: true }), 3);
      emit({ ...base, kind: 'prefill', tokens: T, ms: r.ms, blocksMs: p.blocks, flops: linFlops + attnFlops + headFlops, rooflineMs: roof, rooflineRatio: roof / r.ms, tflops: (linFlops + attnFlops + headFlops) / (r.ms * 1e9) });
    }
    m.native.free();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
