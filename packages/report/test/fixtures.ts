/**
 * FIXTURE result files for report tests and development: schema-conformant bench points, summary, block
 * breakdown, kernel timings, eval results, fidelity and perplexity files with plausible (made-up) numbers.
 * Every record has provenance.device = "fixture" so the report marks them as fixture data.
 *
 *   node --import tsx packages/report/test/fixtures.ts OUT_DIR [SEED]   writes OUT_DIR/fixture-bench, OUT_DIR/fixture-eval
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  BenchPoint,
  BenchSummary,
  BlockBreakdownPoint,
  Distribution,
  EvalResult,
  FidelityResult,
  KernelTiming,
  PerplexityResult,
  Provenance,
  TaskResult,
} from '../src/results-types.ts';

export const FIXTURE_PRECISIONS = ['fp16', 'int8-w8a8', 'fp8-dynamic', 'fp8-static'] as const;
type FixturePrecision = (typeof FIXTURE_PRECISIONS)[number];
export const FIXTURE_BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
export const FIXTURE_RATE = 4;

/** Seeded PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RECIPES: Record<FixturePrecision, Provenance['recipe']> = {
  fp16: { precision: 'fp16', actDtype: 'fp16', weights: 'none (16-bit)', activations: 'none (16-bit)', source: 'none' },
  'int8-w8a8': {
    precision: 'int8-w8a8',
    actDtype: 'fp16',
    weights: 'int8 symmetric per-channel',
    activations: 'int8 per-token dynamic',
    smoothquantAlpha: 0.5,
    calibration: 'fixture',
    source: 'load-time',
  },
  'fp8-dynamic': {
    precision: 'fp8-dynamic',
    actDtype: 'fp16',
    weights: 'fp8-e4m3 per-channel',
    activations: 'fp8-e4m3 per-token dynamic',
    source: 'load-time',
  },
  'fp8-static': {
    precision: 'fp8-static',
    actDtype: 'fp16',
    weights: 'fp8-e4m3 per-tensor',
    activations: 'fp8-e4m3 per-tensor static',
    calibration: 'fixture',
    source: 'load-time',
  },
};

export interface FixtureOptions {
  seed?: number;
  commit?: string;
  /** ISO date stamped on every record. */
  date?: string;
  benchModel?: string;
  evalModel?: string;
}

function prov(p: FixturePrecision, o: Required<FixtureOptions>, model: string, weights: Provenance['weights']): Provenance {
  return {
    device: 'fixture',
    deviceKind: 'cuda',
    commit: o.commit,
    model,
    weights,
    recipe: RECIPES[p],
    date: o.date,
    node: 'v20.0.0-fixture',
    host: 'fixture',
  };
}

function dist(median: number, spread: number, r: () => number): Distribution {
  const min = median * (0.55 + 0.1 * r());
  const p90 = median * (1 + spread * (0.8 + 0.4 * r()));
  const p99 = p90 * (1.15 + 0.3 * r());
  const max = p99 * (1.05 + 0.2 * r());
  const mean = median * (1 + spread * 0.3);
  return { mean, median, p90, p99, std: (p90 - median) * 0.8, min, max };
}

const SPEED: Record<FixturePrecision, { decode: number; prefill: number }> = {
  fp16: { decode: 1, prefill: 1 },
  'int8-w8a8': { decode: 1.45, prefill: 1.55 },
  'fp8-dynamic': { decode: 1.5, prefill: 1.6 },
  'fp8-static': { decode: 1.56, prefill: 1.68 },
};

export function makeBenchPoints(o: Required<FixtureOptions>, r: () => number): BenchPoint[] {
  const points: BenchPoint[] = [];
  const workloads = [
    { name: 'prefill-heavy', inputLen: 2048, outputLen: 128, peak: 9000 },
    { name: 'decode-heavy', inputLen: 128, outputLen: 1024, peak: 14000 },
  ];
  for (const w of workloads)
    for (const p of FIXTURE_PRECISIONS) {
      const rates: (number | 'inf')[] = ['inf', FIXTURE_RATE];
      for (const b of FIXTURE_BATCHES)
        for (const rate of rates) {
          if (rate !== 'inf' && b !== 64) continue;
          const isDecode = w.name === 'decode-heavy';
          // Quantization pays most where weight bandwidth dominates (small batch, decode), less at large batch.
          const gainAt = 1 + (SPEED[p][isDecode ? 'decode' : 'prefill'] - 1) * (isDecode ? 1 - 0.4 * Math.log2(b) / 8 : 0.5 + 0.5 * Math.log2(b) / 8);
          const sat = b / (b + (isDecode ? 48 : 12));
          const tokS = w.peak * sat * gainAt * (0.97 + 0.06 * r()) * (rate === 'inf' ? 1 : 0.6);
          const numPrompts = Math.max(64, 4 * b);
          const durationS = (numPrompts * w.outputLen) / tokS;
          const tpot = (1000 * b) / tokS;
          const ttft = (isDecode ? 25 : 180) * (1 + Math.log2(b) / 3) / gainAt;
          const bound: 'bandwidth' | 'compute' = b <= (isDecode ? 64 : 8) ? 'bandwidth' : 'compute';
          points.push({
            schema: 'quantbench.bench.point',
            version: 1,
            key: `${w.name}|${p}|${b}|${rate}`,
            provenance: prov(p, o, o.benchModel, 'synthetic'),
            workload: { name: w.name, inputLen: w.inputLen, outputLen: w.outputLen, rangeRatio: 1, numPrompts, seed: o.seed },
            precision: p,
            engine: { maxNumSeqs: b, maxNumBatchedTokens: 8192, blockSize: 16, numKvBlocks: 4096, gpuMemoryUtilization: 0.9, cudaGraphs: true },
            requestRate: rate,
            burstiness: 1,
            maxConcurrency: null,
            metrics: {
              completed: numPrompts,
              failed: 0,
              durationS,
              totalInputTokens: numPrompts * w.inputLen,
              totalOutputTokens: numPrompts * w.outputLen,
              requestThroughput: numPrompts / durationS,
              outputThroughput: tokS,
              totalTokenThroughput: (numPrompts * (w.inputLen + w.outputLen)) / durationS,
              ttftMs: dist(ttft, rate === 'inf' ? 2 : 0.6, r),
              tpotMs: dist(tpot, 0.25, r),
              itlMs: dist(tpot, 0.4, r),
              e2elMs: dist(ttft + tpot * w.outputLen, 0.3, r),
              preemptions: b >= 128 ? Math.floor(r() * 5) : 0,
              hostOverheadFraction: 0.05 + 0.1 * r(),
            },
            roofline: {
              bound,
              ratio: Math.min(0.95, (bound === 'bandwidth' ? 0.45 : 0.3) + 0.35 * r() * (p === 'fp16' ? 1 : 0.8)),
              peakBandwidthTBs: 3.35,
              peakTflops: p === 'fp16' ? 989 : 1979,
            },
          });
        }
    }
  return points;
}

export function makeBreakdown(o: Required<FixtureOptions>, r: () => number): BlockBreakdownPoint[] {
  const out: BlockBreakdownPoint[] = [];
  for (const p of FIXTURE_PRECISIONS)
    for (const b of [1, 4, 16, 64, 128, 256])
      for (const ctx of [128, 512, 1024, 2048, 4096]) {
        const w = SPEED[p].decode;
        const attention = 0.004 * b * (ctx / 128) ** 0.9 * (0.95 + 0.1 * r()) + 0.05;
        const mlp = (3.2 / w) * (1 + b / 160) * (0.95 + 0.1 * r());
        const quantization = p === 'fp16' ? 0 : (p === 'fp8-static' ? 0.02 : 0.09) * (1 + b / 64);
        const other = 0.6 + 0.002 * b;
        out.push({
          schema: 'quantbench.bench.breakdown',
          version: 1,
          provenance: prov(p, o, o.benchModel, 'synthetic'),
          precision: p,
          batchSize: b,
          contextLen: ctx,
          blocksMs: { attention, mlp, quantization, other },
          stepMs: attention + mlp + quantization + other,
        });
      }
  return out;
}

export function makeKernels(o: Required<FixtureOptions>, r: () => number): KernelTiming[] {
  const out: KernelTiming[] = [];
  for (const p of FIXTURE_PRECISIONS)
    for (const M of [1, 16, 256]) {
      const N = 4096;
      const K = 4096;
      const bytes = (p === 'fp16' ? 2 : 1) * N * K;
      const ideal = Math.max(bytes / 3.35e12, (2 * M * N * K) / ((p === 'fp16' ? 989 : 1979) * 1e12)) * 1e6;
      const medianUs = ideal / (0.5 + 0.35 * r());
      out.push({
        schema: 'quantbench.bench.kernel',
        version: 1,
        provenance: prov(p, o, o.benchModel, 'synthetic'),
        op: 'gemm',
        precision: p,
        shape: { M, N, K },
        medianUs,
        achievedTBs: bytes / (medianUs * 1e-6) / 1e12,
        roofline: { bound: M < 64 ? 'bandwidth' : 'compute', ratio: ideal / medianUs, peakBandwidthTBs: 3.35 },
        baseline: { name: 'cublas', medianUs: medianUs * (0.85 + 0.2 * r()) },
      });
    }
  for (const p of ['int8-w8a8', 'fp8-dynamic'] as const)
    out.push({
      schema: 'quantbench.bench.kernel',
      version: 1,
      provenance: prov(p, o, o.benchModel, 'synthetic'),
      op: 'quant_per_token',
      precision: p,
      shape: { M: 256, K: 4096 },
      medianUs: 4 + 3 * r(),
      roofline: { bound: 'bandwidth', ratio: 0.4 + 0.3 * r() },
    });
  return out;
}

const TASKS: { name: string; metric: string; fp16: number; n: number; shots: number; source: string }[] = [
  { name: 'arc_challenge', metric: 'acc_norm', fp16: 0.55, n: 1172, shots: 0, source: 'none (0-shot): ARC train absent' },
  { name: 'arc_easy', metric: 'acc_norm', fp16: 0.79, n: 2376, shots: 0, source: 'none (0-shot): ARC train absent' },
  { name: 'hellaswag', metric: 'acc_norm', fp16: 0.8, n: 10042, shots: 0, source: 'none (0-shot): HellaSwag train absent' },
  { name: 'winogrande', metric: 'acc', fp16: 0.74, n: 1267, shots: 0, source: 'none (0-shot): WinoGrande train absent' },
  { name: 'truthfulqa_mc2', metric: 'mc2', fp16: 0.54, n: 817, shots: 6, source: 'truthfulqa fixed 6 QA pairs' },
  { name: 'gsm8k', metric: 'exact_match,strict-match', fp16: 0.77, n: 1319, shots: 5, source: 'gsm8k train' },
];
const MMLU_SUBTASKS = ['mmlu_abstract_algebra', 'mmlu_anatomy', 'mmlu_astronomy'];
const DEGRADE: Record<FixturePrecision, number> = { fp16: 0, 'int8-w8a8': 0.012, 'fp8-dynamic': 0.006, 'fp8-static': 0.009 };

export function makeEvalResults(o: Required<FixtureOptions>, r: () => number): EvalResult[] {
  const out: EvalResult[] = [];
  for (const p of FIXTURE_PRECISIONS) {
    const results: Record<string, TaskResult> = {};
    const score = (base: number) => Math.max(0, Math.min(1, base * (1 - DEGRADE[p] * (0.5 + r())) + (p === 'fp16' ? 0 : 0.004 * (r() - 0.5))));
    for (const t of TASKS) {
      const v = score(t.fp16);
      results[t.name] = {
        metrics: { [t.metric]: { value: v, stderr: Math.sqrt((v * (1 - v)) / t.n) } },
        numSamples: t.n,
        numFewshot: t.shots,
        fewshotSource: t.source,
        primaryMetric: t.metric,
        ...(t.name === 'gsm8k' ? { deviations: ['fixture: answers extracted with the strict regex only'] } : {}),
        // int8 leaves recovery to the report (computed vs fp16); the fp8 files carry it.
        ...(p.startsWith('fp8') ? { recoveryPct: (100 * v) / t.fp16 } : {}),
      };
    }
    let sum = 0;
    let count = 0;
    for (const [i, s] of MMLU_SUBTASKS.entries()) {
      const v = score(0.6 + 0.05 * i);
      const n = 100 + 35 * i;
      sum += v * n;
      count += n;
      results[s] = {
        metrics: { acc: { value: v, stderr: Math.sqrt((v * (1 - v)) / n) } },
        numSamples: n,
        numFewshot: 5,
        fewshotSource: 'mmlu dev',
        primaryMetric: 'acc',
      };
    }
    const mmlu = sum / count;
    out.push({
      schema: 'quantbench.eval.result',
      version: 1,
      provenance: prov(p, o, o.evalModel, 'real'),
      precision: p,
      results,
      groups: {
        'leaderboard-v1': {
          aggregation: 'macro',
          metrics: {
            score: {
              value: (['arc_challenge', 'hellaswag', 'winogrande', 'truthfulqa_mc2', 'gsm8k'].reduce((a, t) => a + Object.values(results[t].metrics)[0].value, 0) + mmlu) / 6,
              stderr: null,
            },
          },
          subtasks: ['arc_challenge', 'hellaswag', 'mmlu', 'truthfulqa_mc2', 'winogrande', 'gsm8k'],
          primaryMetric: 'score',
        },
        mmlu: {
          aggregation: 'micro',
          metrics: { acc: { value: mmlu, stderr: Math.sqrt((mmlu * (1 - mmlu)) / count) } },
          subtasks: MMLU_SUBTASKS,
          primaryMetric: 'acc',
        },
      },
      'n-shot': Object.fromEntries([...TASKS.map((t) => [t.name, t.shots]), ...MMLU_SUBTASKS.map((s) => [s, 5])]),
      config: { limit: null, batchSize: 16, dataDir: '../shared', seed: o.seed },
      versions: Object.fromEntries(Object.keys(results).map((k) => [k, '1.0'])),
      durationS: 100 + 50 * r(),
    });
  }
  return out;
}

export function makeFidelity(o: Required<FixtureOptions>, r: () => number): FidelityResult[] {
  return FIXTURE_PRECISIONS.filter((p) => p !== 'fp16').map((p) => ({
    schema: 'quantbench.eval.fidelity',
    version: 1,
    provenance: prov(p, o, o.evalModel, 'real'),
    precision: p,
    reference: 'fp16',
    perTask: Object.fromEntries(
      TASKS.map((t) => {
        const n = Math.min(t.n, 500);
        const flips = Math.round(n * DEGRADE[p] * (1 + r()) * 2);
        return [
          t.name,
          {
            flipsRightToWrong: flips,
            flipsWrongToRight: Math.round(flips * (0.4 + 0.4 * r())),
            numCompared: n,
            // Generation tasks (gsm8k) have no choice distribution.
            choiceKl: t.name === 'gsm8k' ? null : DEGRADE[p] * 0.05 * (0.5 + r()),
            top1Agreement: 1 - DEGRADE[p] * (2 + 2 * r()),
            refScore: t.fp16,
            quantScore: t.fp16 * (1 - DEGRADE[p]),
          },
        ];
      }),
    ),
    flipRule: 'primary metric >= 0.5 (fixture)',
    text: {
      file: 'fixture.txt',
      tokens: 4096,
      kl: DEGRADE[p] * 0.2 * (0.5 + r()),
      top1Agreement: 1 - DEGRADE[p] * (3 + r()),
      pplRef: 7.1,
      pplQuant: 7.1 * (1 + DEGRADE[p]),
    },
  }));
}

export function makePerplexity(o: Required<FixtureOptions>, r: () => number): PerplexityResult {
  const base = 7 + r();
  return {
    schema: 'quantbench.eval.perplexity',
    version: 1,
    file: 'fixture-text.txt',
    chunkChars: 4000,
    chunks: 12,
    perPrecision: Object.fromEntries(
      FIXTURE_PRECISIONS.map((p) => [p, { ppl: base * (1 + DEGRADE[p] * (0.5 + r())), tokens: 9000, provenance: prov(p, o, o.evalModel, 'real') }]),
    ),
    vsReference: Object.fromEntries(
      FIXTURE_PRECISIONS.filter((p) => p !== 'fp16').map((p) => [p, { kl: DEGRADE[p] * 0.2 * (0.5 + r()), top1Agreement: 1 - DEGRADE[p] * (3 + r()), tokens: 9000 }]),
    ),
  };
}

const jsonl = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n') + '\n';

/** Writes OUT/fixture-bench and OUT/fixture-eval; returns their paths. */
export function writeFixtureResults(out: string, opts: FixtureOptions = {}): { benchDir: string; evalDir: string } {
  const o: Required<FixtureOptions> = {
    seed: opts.seed ?? 1234,
    commit: opts.commit ?? 'fixture-commit',
    date: opts.date ?? '2025-01-01T00:00:00.000Z',
    benchModel: opts.benchModel ?? 'synthetic:fixture-llama-8b-shape',
    evalModel: opts.evalModel ?? 'fixture-model',
  };
  const r = rng(o.seed);
  const benchDir = path.join(out, 'fixture-bench');
  const evalDir = path.join(out, 'fixture-eval');
  fs.mkdirSync(benchDir, { recursive: true });
  fs.mkdirSync(evalDir, { recursive: true });
  const points = makeBenchPoints(o, r);
  fs.writeFileSync(path.join(benchDir, 'points.jsonl'), jsonl(points));
  const summary: BenchSummary = { schema: 'quantbench.bench.summary', version: 1, run: 'fixture-bench', command: 'fixture (not a real run)', points };
  fs.writeFileSync(path.join(benchDir, 'summary.json'), JSON.stringify(summary));
  fs.writeFileSync(path.join(benchDir, 'breakdown.jsonl'), jsonl(makeBreakdown(o, r)));
  fs.writeFileSync(path.join(benchDir, 'kernels.jsonl'), jsonl(makeKernels(o, r)));
  for (const e of makeEvalResults(o, r)) fs.writeFileSync(path.join(evalDir, `eval_${o.evalModel}_${e.precision}.json`), JSON.stringify(e, null, 1));
  for (const f of makeFidelity(o, r)) fs.writeFileSync(path.join(evalDir, `fidelity_${o.evalModel}_${f.precision}.json`), JSON.stringify(f, null, 1));
  fs.writeFileSync(path.join(evalDir, `perplexity_${o.evalModel}.json`), JSON.stringify(makePerplexity(o, r), null, 1));
  return { benchDir, evalDir };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node --import tsx packages/report/test/fixtures.ts OUT_DIR [SEED]');
    process.exit(2);
  }
  const dirs = writeFixtureResults(out, { seed: process.argv[3] ? Number(process.argv[3]) : undefined });
  console.log(`fixture results written: ${dirs.benchDir}, ${dirs.evalDir}`);
}
