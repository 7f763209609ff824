/**
 * GPU-vs-CPU end-to-end checks of the CUDA model (run on the GPU machine: `bash scripts/device/gpu.sh check`).
 *
 * For each precision, the same checkpoint runs on the CPU reference and on the GPU:
 *  - logits at every position of three story texts: KL(cpu || gpu) of the next-token distributions, top-1
 *    agreement, max |logit difference|;
 *  - greedy generation from several prompts at once (batched decode steps: the CUDA-graph path), and from one
 *    prompt (batch-1 steps: the fused decode linears) — ids must agree with the CPU's until a near-tie, reported as
 *    the matching prefix;
 *  - prefix-cache consistency: the GPU's logits for a text scored alone equal those scored inside a mixed batch.
 * Models: stories260K (real weights; head_dim 8, intermediate 172 padded to 176 on the GPU), synthetic:tiny
 * (weights generated on the GPU, compared with the CPU's host generation; head_dim 16) and synthetic:tiny-hd128 (head
 * dim 128: the tensor-core decode and warp-specialized prefill kernels, with either cache dtype).
 *
 * Tolerances (why): the CPU accumulates in double, the GPU in fp32 with other orders, and both round every
 * activation to 16 bits, so a rounding can land one ulp apart and propagate. fp16: mean KL < 1e-4 and top-1
 * ≥ 99%; bf16 (8 mantissa bits, 8x coarser): KL < 3e-4, top-1 ≥ 98%. Quantized: one ulp upstream moves a token's
 * per-token scale and so re-rounds every code of the row — a fresh draw of the quantization noise. Two draws differ
 * by about as much as one draw differs from fp16, so the bound is relative to the quantization's own error on the
 * CPU: KL(cpu || gpu) ≤ 1.5 x KL(cpu fp16 || cpu quantized) and top-1 ≥ (cpu fp16 vs quantized top-1) - 5 points.
 * A wiring bug (wrong scale, layout, padding) lands far outside: KL of order 1 and top-1 near chance.
 * `--kv-cache-dtype fp8`: both backends run an FP8 KV cache (unit scales). An upstream ulp can re-round an FP8 code
 * (3 mantissa bits) as it re-rounds a quantized row, so the logits bounds also admit 1.5 x the FP8 cache's own error
 * on the CPU (KL(cpu 16-bit KV || cpu FP8 KV), top-1 minus 5 points) when that is looser.
 * Greedy ids must match for ≥ 20 of 40 tokens on average for 16-bit stories260K; elsewhere (quantized, or the
 * flat random-weight distributions of synthetic:tiny) the matching prefix is reported, not asserted.
 */
import fs from 'node:fs';
import { dataPath, gitCommit, isKvCacheDtype, weightsKindOf, isPrecision, LLM, QUANTIZED_PRECISIONS, type Precision } from '@quantbench/engine';

const TEXTS = [
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she saw a big, red ball in the park.',
  'Tom and his dog went to the beach. They ran on the sand and jumped in the waves. Tom found a shiny shell and showed it to his mom.',
  'The little bird was sad because it could not fly. A kind boy helped the bird and gave it some food. Soon the bird was happy again.',
];
const PROMPTS = ['Once upon a time', 'The cat', 'Lily and Ben', 'One day, a little boy', 'The sun was', 'Mom said'];

interface Row {
  model: string;
  precision: Precision;
  check: string;
  pass: boolean;
  [k: string]: unknown;
}

function logSoftmax(x: Float32Array, off: number, V: number): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, x[off + i]!);
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(x[off + i]! - m);
  const l = Math.log(s) + m;
  const out = new Float64Array(V);
  for (let i = 0; i < V; i++) out[i] = x[off + i]! - l;
  return out;
}
function argmax(x: Float32Array, off: number, V: number): number {
  let b = 0;
  for (let i = 1; i < V; i++) if (x[off + i]! > x[off + b]!) b = i;
  return b;
}
function compare(a: Float32Array, b: Float32Array, V: number) {
  const n = a.length / V;
  let kl = 0;
  let agree = 0;
  let maxDiff = 0;
  for (let r = 0; r < n; r++) {
    const la = logSoftmax(a, r * V, V);
    const lb = logSoftmax(b, r * V, V);
    let k = 0;
    for (let i = 0; i < V; i++) k += Math.exp(la[i]!) * (la[i]! - lb[i]!);
    kl += Math.max(0, k);
    if (argmax(a, r * V, V) === argmax(b, r * V, V)) agree++;
    for (let i = 0; i < V; i++) maxDiff = Math.max(maxDiff, Math.abs(a[r * V + i]! - b[r * V + i]!));
  }
  return { meanKl: kl / n, top1: agree / n, maxAbsLogitDiff: maxDiff, positions: n };
}

function args() {
  const a = process.argv.slice(2);
  const get = (k: string) => {
    const i = a.indexOf(k);
    return i >= 0 ? a[i + 1] : undefined;
  };
  // --no-fused-decode / --no-cuda-graphs / --no-pdl: the same checks with that engine option off (CudaEngineOptions)
  const cuda = { fusedDecode: !a.includes('--no-fused-decode'), cudaGraphs: !a.includes('--no-cuda-graphs'), pdl: !a.includes('--no-pdl') };
  // --kv-cache-dtype fp8: both backends store the KV cache in FP8 (unit scales), the same bounds apply
  const kv = get('--kv-cache-dtype') ?? 'auto';
  if (!isKvCacheDtype(kv)) throw new Error(`--kv-cache-dtype ${kv}: use auto or fp8`);
  return { out: get('--out'), only: get('--precision'), cuda, kvCacheDtype: kv };
}

async function main() {
  const { out, only, cuda, kvCacheDtype } = args();
  const rows: Row[] = [];
  let device = 'unknown';
  const emit = (r: Row) => {
    r.weights = weightsKindOf(r.model);
    rows.push(r);
    console.log(`${r.pass ? 'PASS' : 'FAIL'} ${r.model} ${r.precision} ${r.check} ${JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !['model', 'precision', 'check', 'pass'].includes(k))))}`);
  };
  if (only && !isPrecision(only)) throw new Error(`--precision ${only}: not a precision`);
  const precisions: Precision[] = only ? ['fp16', only as Precision] : ['fp16', 'bf16', ...QUANTIZED_PRECISIONS];
  const stories = dataPath('models/stories260K/hf');
  if (!stories) console.log('SKIP stories260K: no data dir (set QB_DATA_DIR); checking synthetic:tiny and synthetic:tiny-hd128 only');
  const models: string[] = [...(stories ? [stories] : []), 'synthetic:tiny', 'synthetic:tiny-hd128'];
  for (const model of models) {
    const id = model.startsWith('synthetic:') ? model : 'stories260K';
    let cpuRef16: Float32Array[] | null = null;
    for (const precision of precisions) {
      const t0 = Date.now();
      const cpu = await LLM.load({ model, precision, device: 'cpu', kvBlocks: 256, kvCacheDtype });
      const gpu = await LLM.load({ model, precision, device: 'cuda', kvBlocks: 256, cuda, kvCacheDtype });
      const V = cpu.info.arch.vocabSize;
      const quant = !['fp16', 'bf16'].includes(precision);
      let klBound = precision === 'bf16' ? 3e-4 : 1e-4;
      let topBound = precision === 'bf16' ? 0.98 : 0.99;
      // 1. logits at every position
      const cpuL: Float32Array[] = [];
      const gpuL: Float32Array[] = [];
      for (const t of TEXTS) {
        const ids = cpu.tokenizer.encode(t, true);
        cpuL.push(await cpu.scoreLogits(ids));
        gpuL.push(await gpu.scoreLogits(ids));
      }
      const cat = (xs: Float32Array[]) => {
        const o = new Float32Array(xs.reduce((s, x) => s + x.length, 0));
        let p = 0;
        for (const x of xs) {
          o.set(x, p);
          p += x.length;
        }
        return o;
      };
      const c = compare(cat(cpuL), cat(gpuL), V);
      if (precision === 'fp16') cpuRef16 = cpuL;
      const own = cpuRef16 && precision !== 'fp16' ? compare(cat(cpuRef16), cat(cpuL), V) : undefined;
      if (quant) {
        if (!own) throw new Error('run fp16 first: quantized bounds are relative to the CPU quantization error');
        klBound = 1.5 * own.meanKl;
        topBound = own.top1 - 0.05;
      }
      let kvOwn: ReturnType<typeof compare> | undefined;
      if (kvCacheDtype === 'fp8') {  // the FP8 cache's own error on the CPU, same precision with a 16-bit cache
        const cpu16 = await LLM.load({ model, precision, device: 'cpu', kvBlocks: 256 });
        const l16: Float32Array[] = [];
        for (const t of TEXTS) l16.push(await cpu16.scoreLogits(cpu16.tokenizer.encode(t, true)));
        cpu16.close();
        kvOwn = compare(cat(l16), cat(cpuL), V);
        klBound = Math.max(klBound, 1.5 * kvOwn.meanKl);
        topBound = Math.min(topBound, kvOwn.top1 - 0.05);
      }
      const finite = gpuL.every((x) => x.every(Number.isFinite));
      emit({ model: id, precision, check: 'logits', pass: finite && c.meanKl < klBound && c.top1 >= topBound, ...c, klBound, topBound, cpuKlVsFp16: own?.meanKl, cpuTop1VsFp16: own?.top1, cpuKlKvFp8VsAuto: kvOwn?.meanKl, cpuTop1KvFp8VsAuto: kvOwn?.top1 });

      // 2. batched greedy generation (decode steps: CUDA graphs on the GPU)
      const g1 = await cpu.generate(PROMPTS, { maxTokens: 40, ignoreEos: true });
      const g2 = await gpu.generate(PROMPTS, { maxTokens: 40, ignoreEos: true });
      const prefix = g1.map((o, i) => {
        let k = 0;
        while (k < o.ids.length && o.ids[k] === g2[i]!.ids[k]) k++;
        return k;
      });
      const meanPrefix = prefix.reduce((a, b) => a + b, 0) / prefix.length;
      const asserted = !quant && !id.startsWith('synthetic:');
      const sameLength = g2.every((o) => o.ids.length === 40);
      emit({ model: id, precision, check: 'greedy', pass: sameLength && (!asserted || meanPrefix >= 20), asserted, matchingPrefix: prefix, tokens: 40, sample: g2[0]!.text.slice(0, 80) });

      // 2b. greedy generation from one prompt (batch-1 decode steps: the fused decode linears on the GPU)
      const h1 = await cpu.generate(PROMPTS.slice(0, 1), { maxTokens: 40, ignoreEos: true });
      const h2 = await gpu.generate(PROMPTS.slice(0, 1), { maxTokens: 40, ignoreEos: true });
      let k1 = 0;
      while (k1 < h1[0]!.ids.length && h1[0]!.ids[k1] === h2[0]!.ids[k1]) k1++;
      emit({ model: id, precision, check: 'greedy-batch1', pass: h2[0]!.ids.length === 40 && (!asserted || k1 >= 20), asserted, matchingPrefix: [k1], tokens: 40, sample: h2[0]!.text.slice(0, 80) });

      // 3. batch invariance on the GPU: a text alone vs inside the generation batch's mixed steps
      const alone = await gpu.scoreLogits(gpu.tokenizer.encode(TEXTS[0]!, true));
      const again = compare(gpuL[0]!, alone, V);
      emit({ model: id, precision, check: 'repeatable', pass: again.maxAbsLogitDiff === 0, ...again });

      // 4. sampling on the GPU: seeded temperature / top-p draws repeat exactly
      const s1 = await gpu.generate(PROMPTS.slice(0, 3), { maxTokens: 16, temperature: 0.8, topP: 0.9, seed: 7, ignoreEos: true });
      const s2 = await gpu.generate(PROMPTS.slice(0, 3), { maxTokens: 16, temperature: 0.8, topP: 0.9, seed: 7, ignoreEos: true });
      const same = s1.every((o, i) => o.ids.join() === s2[i]!.ids.join());
      emit({ model: id, precision, check: 'seeded-sampling', pass: same, sample: s1[0]!.text.slice(0, 60) });
      // 5. async scheduling on the GPU (decode inputs copied from the previous step's samples on the device, two steps
      // in flight): the same greedy and seeded tokens as one step at a time
      const a1 = await gpu.generate(PROMPTS, { maxTokens: 40, ignoreEos: true }, { asyncScheduling: true });
      const a2 = await gpu.generate(PROMPTS.slice(0, 3), { maxTokens: 16, temperature: 0.8, topP: 0.9, seed: 7, ignoreEos: true }, { asyncScheduling: true });
      const asyncSame = a1.every((o, i) => o.ids.join() === g2[i]!.ids.join()) && a2.every((o, i) => o.ids.join() === s1[i]!.ids.join());
      emit({ model: id, precision, check: 'async-scheduling', pass: asyncSame, sample: a1[0]!.text.slice(0, 60) });
      device = gpu.info.deviceName;
      console.log(`  (${id} ${precision}: ${((Date.now() - t0) / 1000).toFixed(1)} s; gpu ${device})`);
      cpu.close();
      gpu.close();
    }
  }
  const failed = rows.filter((r) => !r.pass).length;
  console.log(`${rows.length - failed} passed, ${failed} failed`);
  const weights = Object.fromEntries([...new Set(rows.map((r) => r.model))].map((m) => [m, weightsKindOf(m)]));
  if (out) fs.writeFileSync(out, JSON.stringify({ device, commit: gitCommit(), kv_cache_dtype: kvCacheDtype, weights, rows, failed }, null, 1));
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
