/**
 * Structural checks of result records against the schemas in bench/src/schema.ts and eval/src/schema.ts.
 * Each check returns null when the value conforms, or a short reason naming the first bad field
 * (e.g. "metrics.ttftMs.p90: expected a finite number, got string"). Only fields the schema marks required,
 * plus optional fields when present, are checked; unknown extra fields are allowed.
 *
 * Hand-written because no JSON-schema validator is among the kept dependencies.
 */
import type {
  BenchPoint,
  BenchSummary,
  BlockBreakdownPoint,
  EvalResult,
  FidelityResult,
  KernelTiming,
  PerplexityResult,
} from '../results-types.ts';
import { SUPPORTED_BENCH_VERSION, SUPPORTED_EVAL_VERSION } from '../results-types.ts';

type Obj = Record<string, unknown>;
type Check = (v: unknown, path: string) => string | null;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v;
}
function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const at = (path: string, key: string): string => (path ? `${path}.${key}` : key);

const num: Check = (v, p) =>
  typeof v === 'number' && Number.isFinite(v) ? null : `${p}: expected a finite number, got ${describe(v)}`;
const str: Check = (v, p) => (typeof v === 'string' ? null : `${p}: expected a string, got ${describe(v)}`);
const bool: Check = (v, p) => (typeof v === 'boolean' ? null : `${p}: expected a boolean, got ${describe(v)}`);
const oneOf =
  (...allowed: string[]): Check =>
  (v, p) =>
    typeof v === 'string' && allowed.includes(v) ? null : `${p}: expected one of ${allowed.join('|')}, got ${JSON.stringify(v)}`;
const nullable =
  (c: Check): Check =>
  (v, p) =>
    v === null ? null : c(v, p);
const either =
  (a: Check, b: Check): Check =>
  (v, p) =>
    a(v, p) === null || b(v, p) === null ? null : (a(v, p) as string);
const arrayOf =
  (c: Check): Check =>
  (v, p) => {
    if (!Array.isArray(v)) return `${p}: expected an array, got ${describe(v)}`;
    for (let i = 0; i < v.length; i++) {
      const r = c(v[i], `${p}[${i}]`);
      if (r) return r;
    }
    return null;
  };
const recordOf =
  (c: Check): Check =>
  (v, p) => {
    if (!isObj(v)) return `${p}: expected an object, got ${describe(v)}`;
    for (const [k, x] of Object.entries(v)) {
      const r = c(x, at(p, k));
      if (r) return r;
    }
    return null;
  };

/** Shape: required keys map to checks; keys ending in "?" are optional (checked when present). */
function shape(fields: Record<string, Check>): Check {
  return (v, p) => {
    if (!isObj(v)) return `${p || 'record'}: expected an object, got ${describe(v)}`;
    for (const [rawKey, c] of Object.entries(fields)) {
      const optional = rawKey.endsWith('?');
      const key = optional ? rawKey.slice(0, -1) : rawKey;
      if (!(key in v) || v[key] === undefined) {
        if (optional) continue;
        return `${at(p, key)}: missing`;
      }
      const r = c(v[key], at(p, key));
      if (r) return r;
    }
    return null;
  };
}

const provenance = shape({
  device: str,
  deviceKind: oneOf('cpu', 'cuda'),
  commit: str,
  model: str,
  weights: oneOf('synthetic', 'real'),
  recipe: shape({ precision: str, actDtype: str, weights: str, activations: str, source: str }),
  date: str,
  'node?': str,
  'host?': str,
  'kv_cache_dtype?': oneOf('auto', 'fp8'),
});

const distribution = shape({ mean: num, median: num, p90: num, p99: num, std: num, min: num, max: num });

const roofline = shape({
  bound: oneOf('bandwidth', 'compute'),
  ratio: num,
  'peakBandwidthTBs?': num,
  'peakTflops?': num,
  'note?': str,
});

const servingMetrics = shape({
  completed: num,
  failed: num,
  durationS: num,
  totalInputTokens: num,
  totalOutputTokens: num,
  requestThroughput: num,
  outputThroughput: num,
  totalTokenThroughput: num,
  ttftMs: distribution,
  tpotMs: distribution,
  itlMs: distribution,
  e2elMs: distribution,
  preemptions: num,
  'hostOverheadFraction?': num,
  'goodput?': shape({ slo: recordOf(num), requestsPerS: num, fraction: num }),
});

function header(schema: string, supported: number): Check {
  return (v, p) => {
    if (!isObj(v)) return `${p || 'record'}: expected an object, got ${describe(v)}`;
    if (v.schema !== schema) return `schema: expected "${schema}", got ${JSON.stringify(v.schema)}`;
    if (v.version !== supported)
      return `version: this report reads ${schema} version ${supported}, file has ${JSON.stringify(v.version)} (update packages/report)`;
    return null;
  };
}

function all(...checks: Check[]): Check {
  return (v, p) => {
    for (const c of checks) {
      const r = c(v, p);
      if (r) return r;
    }
    return null;
  };
}

const benchPointCheck = all(
  header('quantbench.bench.point', SUPPORTED_BENCH_VERSION),
  shape({
    key: str,
    provenance,
    workload: shape({ name: str, inputLen: num, outputLen: num, rangeRatio: num, numPrompts: num, seed: num }),
    precision: str,
    engine: shape({
      maxNumSeqs: num,
      maxNumBatchedTokens: num,
      blockSize: num,
      numKvBlocks: num,
      'gpuMemoryUtilization?': num,
      'cudaGraphs?': bool,
      'asyncScheduling?': bool,
      'ncuSteps?': arrayOf(num),
    }),
    requestRate: either(num, oneOf('inf')),
    burstiness: num,
    maxConcurrency: nullable(num),
    metrics: servingMetrics,
    'roofline?': roofline,
    'gpuTelemetry?': shape({ smClockMHz: shape({ median: num, min: num, max: num }), busySamples: num, powerCappedFraction: num }),
    'requests?': arrayOf(shape({ ttftMs: num, tpotMs: num, e2elMs: num, inputLen: num, outputLen: num })),
  }),
);

const breakdownCheck = all(
  header('quantbench.bench.breakdown', SUPPORTED_BENCH_VERSION),
  shape({
    provenance,
    precision: str,
    batchSize: num,
    contextLen: num,
    blocksMs: shape({ attention: num, mlp: num, quantization: num, other: num }),
    stepMs: num,
  }),
);

const kernelCheck = all(
  header('quantbench.bench.kernel', SUPPORTED_BENCH_VERSION),
  shape({
    provenance,
    op: str,
    precision: str,
    shape: recordOf(num),
    medianUs: num,
    'achievedTBs?': num,
    'achievedTflops?': num,
    'roofline?': roofline,
    'baseline?': shape({ name: str, medianUs: num }),
  }),
);

const summaryCheck = all(
  header('quantbench.bench.summary', SUPPORTED_BENCH_VERSION),
  shape({ run: str, command: str, points: (v, p) => (Array.isArray(v) ? null : `${p}: expected an array, got ${describe(v)}`) }),
);

const metricValue = shape({ value: num, stderr: nullable(num) });

const evalCheck = all(
  header('quantbench.eval.result', SUPPORTED_EVAL_VERSION),
  shape({
    provenance,
    precision: str,
    results: recordOf(
      shape({
        metrics: recordOf(metricValue),
        numSamples: num,
        numFewshot: num,
        fewshotSource: str,
        'recoveryPct?': num,
        primaryMetric: str,
        'version?': str,
        'evalSource?': str,
        'deviations?': arrayOf(str),
      }),
    ),
    groups: recordOf(
      shape({
        aggregation: oneOf('micro', 'macro'),
        metrics: recordOf(metricValue),
        subtasks: arrayOf(str),
        'recoveryPct?': num,
        primaryMetric: str,
        'macroMetrics?': recordOf(metricValue),
        'numSamples?': num,
      }),
    ),
    'n-shot': recordOf(num),
    config: shape({
      limit: nullable(num),
      batchSize: num,
      dataDir: str,
      seed: num,
      'numFewshot?': nullable(num),
      'fewshotFallback?': str,
      'requests?': shape({ total: num, computed: num, fromCache: num }),
    }),
    versions: recordOf(str),
    durationS: num,
  }),
);

const fidelityCheck = all(
  header('quantbench.eval.fidelity', SUPPORTED_EVAL_VERSION),
  shape({
    provenance,
    precision: str,
    reference: str,
    perTask: recordOf(
      shape({
        flipsRightToWrong: num,
        flipsWrongToRight: num,
        numCompared: num,
        choiceKl: nullable(num),
        top1Agreement: num,
        'refScore?': num,
        'quantScore?': num,
      }),
    ),
    'text?': shape({ file: str, tokens: num, kl: num, top1Agreement: num, pplRef: num, pplQuant: num }),
    'flipRule?': str,
  }),
);

const perplexityCheck = all(
  header('quantbench.eval.perplexity', SUPPORTED_EVAL_VERSION),
  shape({
    file: str,
    chunkChars: num,
    chunks: num,
    perPrecision: recordOf(shape({ ppl: num, tokens: num, provenance })),
    vsReference: recordOf(shape({ kl: num, top1Agreement: num, tokens: num })),
  }),
);

function guard<T>(check: Check): (v: unknown) => { ok: true; value: T } | { ok: false; reason: string } {
  return (v) => {
    const r = check(v, '');
    return r === null ? { ok: true, value: v as T } : { ok: false, reason: r };
  };
}

export const checkBenchPoint = guard<BenchPoint>(benchPointCheck);
export const checkBreakdown = guard<BlockBreakdownPoint>(breakdownCheck);
export const checkKernel = guard<KernelTiming>(kernelCheck);
export const checkSummary = guard<BenchSummary>(summaryCheck);
export const checkEvalResult = guard<EvalResult>(evalCheck);
export const checkFidelity = guard<FidelityResult>(fidelityCheck);
export const checkPerplexity = guard<PerplexityResult>(perplexityCheck);
