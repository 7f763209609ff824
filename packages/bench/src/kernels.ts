/**
 * `pnpm bench kernels`: native op microbenchmarks with tinybench on the CPU reference ops (GEMM per precision and
 * shape, activation quantization, paged decode attention). Timings include the binding's copies of the inputs.
 * On a GPU machine the CLI runs the CUDA kernel harness instead (device events; see cli.ts), unless --cpu.
 */
import { Bench } from 'tinybench';
import { cpuDeviceName, hardwareThreads, makeProvenance, referenceOps, type NativeOps, type PrecisionRecipe } from '@quantbench/engine';
import { appendKernel } from './run_dir.ts';
import { BENCH_SCHEMA_VERSION, type KernelTiming } from './schema.ts';
import { SeededRng } from './rng.ts';
import { CPU_ROOFLINE_NOTE } from './roofline.ts';

export interface KernelBenchConfig {
  runDir: string;
  /** Token counts (GEMM M). */
  tokens: number[];
  /** GEMM N = K. */
  dim: number;
  /** Decode attention: sequences x context. */
  attention: { batch: number; context: number; heads: number; kvHeads: number; headDim: number };
  timeMs: number;
  seed: number;
}

function randn(rng: SeededRng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

const NONE_RECIPE: PrecisionRecipe = { precision: 'fp32', actDtype: 'fp32', weights: 'n/a (op benchmark)', activations: 'n/a', source: 'none' };

interface KernelCase {
  op: string;
  precision: string;
  shape: Record<string, number>;
  flops?: number;
  bytes?: number;
  fn: () => void;
}

export function kernelCases(ops: NativeOps, cfg: KernelBenchConfig): KernelCase[] {
  const rng = new SeededRng(cfg.seed);
  const K = cfg.dim;
  const N = cfg.dim;
  const w = randn(rng, N * K, 0.02);
  const wi8 = ops.quantWeight(w, N, K, 'int8-channel');
  const wf8 = ops.quantWeight(w, N, K, 'fp8-channel');
  const wf8t = ops.quantWeight(w, N, K, 'fp8-tensor');
  const cases: KernelCase[] = [];
  for (const T of cfg.tokens) {
    const x = randn(rng, T * K);
    const xi8 = ops.quantPerToken(x, T, K, 'int8');
    const xf8 = ops.quantPerToken(x, T, K, 'fp8');
    const staticScale = 0.05;
    const xf8s = ops.quantStaticFp8(x, T, K, staticScale);
    const shape = { M: T, N, K };
    const flops = 2 * T * N * K;
    cases.push({ op: 'gemm', precision: 'fp16', shape, flops, bytes: 2 * (N * K + T * K + T * N), fn: () => ops.gemmF(x, w, T, N, K, 'fp16') });
    cases.push({
      op: 'gemm',
      precision: 'int8-w8a8',
      shape,
      flops,
      bytes: N * K + T * K + 2 * T * N,
      fn: () => ops.gemmInt8(xi8.q, xi8.scale, true, wi8.q, wi8.scale, T, N, K, 'fp16'),
    });
    cases.push({
      op: 'gemm',
      precision: 'fp8-dynamic',
      shape,
      flops,
      bytes: N * K + T * K + 2 * T * N,
      fn: () => ops.gemmFp8(xf8.q, xf8.scale, true, wf8.q, wf8.scale, T, N, K, 'fp16'),
    });
    cases.push({
      op: 'gemm',
      precision: 'fp8-static',
      shape,
      flops,
      bytes: N * K + T * K + 2 * T * N,
      fn: () => ops.gemmFp8(xf8s, new Float32Array([staticScale]), false, wf8t.q, wf8t.scale, T, N, K, 'fp16'),
    });
    cases.push({ op: 'quant_per_token', precision: 'int8', shape: { T, K }, bytes: 3 * T * K, fn: () => ops.quantPerToken(x, T, K, 'int8') });
    cases.push({ op: 'quant_per_token', precision: 'fp8', shape: { T, K }, bytes: 3 * T * K, fn: () => ops.quantPerToken(x, T, K, 'fp8') });
    cases.push({ op: 'quant_static', precision: 'fp8', shape: { T, K }, bytes: 3 * T * K, fn: () => ops.quantStaticFp8(x, T, K, staticScale) });
  }
  const a = cfg.attention;
  const bs = 16;
  const blocksPer = Math.ceil(a.context / bs);
  const numBlocks = a.batch * blocksPer;
  const kc = randn(rng, numBlocks * bs * a.kvHeads * a.headDim);
  const vc = randn(rng, numBlocks * bs * a.kvHeads * a.headDim);
  const q = randn(rng, a.batch * a.heads * a.headDim);
  const seqStarts = Int32Array.from({ length: a.batch + 1 }, (_, i) => i);
  const positions = new Int32Array(a.batch).fill(a.context - 1);
  const tables = Int32Array.from({ length: a.batch * blocksPer }, (_, i) => i);
  cases.push({
    op: 'attention_decode',
    precision: 'fp16',
    shape: { batch: a.batch, context: a.context, heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim },
    flops: 4 * a.batch * a.heads * a.headDim * a.context,
    bytes: 2 * 2 * a.batch * a.context * a.kvHeads * a.headDim,
    fn: () => ops.attentionPaged(q, kc, vc, seqStarts, positions, tables, blocksPer, a.heads, a.kvHeads, a.headDim, bs, 1 / Math.sqrt(a.headDim), 'fp16'),
  });
  return cases;
}

export async function runKernelBench(cfg: KernelBenchConfig, log: (m: string) => void = () => {}): Promise<KernelTiming[]> {
  const threads = hardwareThreads();
  const cases = kernelCases(referenceOps(), cfg);
  const bench = new Bench({ time: cfg.timeMs, iterations: 3, warmupIterations: 1 });
  for (const c of cases) bench.add(`${c.op} ${c.precision} ${JSON.stringify(c.shape)}`, c.fn);
  await bench.run();
  const provenance = makeProvenance({ device: cpuDeviceName(threads), deviceKind: 'cpu', model: 'n/a', weights: 'synthetic', recipe: NONE_RECIPE });
  const out: KernelTiming[] = [];
  bench.tasks.forEach((task, i) => {
    const c = cases[i];
    const r = task.result;
    if (!('latency' in r)) {
      log(`${task.name}: no result (${r.state})`);
      return;
    }
    const sec = r.latency.p50 / 1000;
    const k: KernelTiming = {
      schema: 'quantbench.bench.kernel',
      version: BENCH_SCHEMA_VERSION,
      provenance,
      op: c.op,
      precision: c.precision,
      shape: c.shape,
      medianUs: r.latency.p50 * 1000,
      note: `CPU reference op through the JS binding (input copies included). ${CPU_ROOFLINE_NOTE}`,
    };
    if (c.bytes && sec > 0) k.achievedTBs = c.bytes / sec / 1e12;
    if (c.flops && sec > 0) k.achievedTflops = c.flops / sec / 1e12;
    appendKernel(cfg.runDir, k);
    out.push(k);
  });
  return out;
}
