/**
 * The `latency` subcommand of `pnpm bench` (flags, defaults, checks); the work is in run.ts. On the GPU machine:
 * `bash scripts/device/gpu.sh latency` (rows -> $OUT/gpu_latency.jsonl) and `gpu.sh profile` (--ncu).
 */
import type { Argv } from 'yargs';
import { cudaAvailable, gitCommit } from '@quantbench/engine';
import { readCeilingsFile } from '../ceilings.ts';
import { OptionError, parseIntList, parseKvCacheDtypes, parsePrecisions } from '../options.ts';
import { KV_BLOCK_ORDERS, type KvBlockOrder } from './batches.ts';
import { formatLatencyRow } from './format.ts';
import { runLatency, type LatencyOptions } from './run.ts';

const KV_FLAG_DESCRIBE = "KV-cache dtype(s), vLLM's --kv-cache-dtype: auto (the activation dtype) or fp8 (FP8 E4M3, per-layer scales from the checkpoint, else 1.0); a comma list times each inside every precision";

export const LATENCY_DESCRIPTION =
  'step latency outside the scheduler: decode at batch x context and one prefill per precision, with bytes moved, TB/s and roofline ratios (jsonl rows)';

export function latencyBuilder(y: Argv) {
  return y
    .option('model', { type: 'string', describe: 'synthetic:NAME or a model directory (default synthetic:llama-3.1-8b on CUDA, synthetic:tiny on the CPU)' })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
    .option('precision', { type: 'string', describe: 'comma list (default: fp16,int8-w8a8,fp8-dynamic,fp8-static)' })
    .option('kv-cache-dtype', { type: 'string', default: 'auto', describe: KV_FLAG_DESCRIBE })
    .option('batch', { type: 'string', default: '1,16,64,256', describe: 'decode batch sizes, comma list' })
    .option('context', { type: 'string', default: '128,2048', describe: 'decode context lengths, comma list' })
    .option('kv-block-order', { type: 'string', default: 'contiguous', describe: "where each decode sequence's KV blocks lie: contiguous (side by side) or interleaved (block j of sequence s at j x batch + s, as a serving run allocates them when all sequences grow together); a comma list times each" })
    .option('kv-reserve-tokens', {
      type: 'number',
      describe:
        "contiguous order: each sequence's blocks start a full reservation of this many tokens after the previous one's, as a serving run places them (prompt + output: 2175 under the peer decode-heavy protocol); default packed",
    })
    .option('kv-share-to-fit', {
      type: 'boolean',
      default: false,
      describe:
        "a decode point whose KV does not fit runs with sequences sharing KV blocks instead of being skipped (sequence s reads sequence s mod S's, S the sequences that fit): the step reads the whole batch's KV bytes, sharers lie gigabytes apart so the L2 serves neither from the other; rows say kvDistinctSequences (e.g. batch 1024 x context 2048)",
    })
    .option('iters', { type: 'number', default: 20, describe: 'timed forwards per decode point (after 3 warm-ups)' })
    .option('prefill', { type: 'boolean', default: true, describe: 'time one prefill per precision (--no-prefill: decode only)' })
    .option('prefill-tokens', { type: 'number', default: 2048, describe: 'prompt length of the prefill point' })
    .option('gpu-memory-utilization', { type: 'number', default: 0.9, describe: 'fraction of GPU memory for weights + KV cache (batch 256 x context 2048 needs 32768 KV blocks)' })
    .option('kv-blocks', { type: 'number', describe: 'KV cache size in 16-token blocks (default: the engine decides)' })
    .option('ceilings', { type: 'string', describe: 'roofline ceilings JSON from scripts/device/ceilings.py (measured on this GPU); default: the known card\'s measured rates by name, else no ratio' })
    .option('commit', { type: 'string', describe: 'commit recorded in each row (default: this checkout\'s)' })
    .option('seed', { type: 'number', describe: 'token-id seed (default: a fresh one per run)' })
    .option('ncu', { type: 'boolean', default: false, describe: 'no timing: bracket one prefill (--prefill-tokens) and the --ncu-decode steps (eager) for `ncu --profile-from-start off`' })
    .option('ncu-decode', { type: 'string', default: '1:128,64:2048', describe: 'decode steps captured with --ncu, as BATCH:CONTEXT comma list' })
    .option('out', { type: 'string', describe: 'also write the rows to this .jsonl file (rewritten after each row)' })
    .option('cuda-graphs', { type: 'boolean', default: true, describe: 'replay decode steps as CUDA graphs (--no-cuda-graphs: eager, for comparisons and ncu)' })
    .option('pdl', { type: 'boolean', default: true, describe: 'programmatic dependent launch between kernels (--no-pdl for comparisons)' })
    .option('fused-decode', { type: 'boolean', default: true, describe: 'fused decode linears for one-row steps (--no-fused-decode for comparisons)' })
    .option('gemm-tuning', { type: 'boolean', default: true, describe: "time cuBLASLt's top algorithms for each decode graph bucket and keep the fastest (--no-gemm-tuning for comparisons)" });
}

type LatencyArgs = Awaited<ReturnType<typeof latencyBuilder>['argv']>;

function positiveInt(v: number, flag: string): number {
  if (!Number.isInteger(v) || v < 1) throw new OptionError(`--${flag} must be a positive integer, got ${v}`);
  return v;
}

/** --ncu-decode: "B:CTX,B:CTX" -> decode points. */
export function parseNcuDecode(v: string): { batch: number; context: number }[] {
  return v.split(',').map((item) => {
    const m = /^\s*(\d+):(\d+)\s*$/.exec(item);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new OptionError(`--ncu-decode takes BATCH:CONTEXT pairs (e.g. 800:1152), got "${item}"`);
    return { batch: Number(m[1]), context: Number(m[2]) };
  });
}

/** --kv-block-order: a comma list of KV_BLOCK_ORDERS. */
export function parseKvBlockOrders(v: string | undefined): KvBlockOrder[] {
  const out = (v ?? 'contiguous').split(',').map((x) => x.trim());
  for (const x of out) {
    if (!(KV_BLOCK_ORDERS as readonly string[]).includes(x)) throw new OptionError(`--kv-block-order takes ${KV_BLOCK_ORDERS.join(' or ')} (comma list), got "${x}"`);
  }
  return out as KvBlockOrder[];
}

/** Flags -> options, checked before any model loads. */
export function resolveLatency(a: LatencyArgs, cuda: boolean): { options: LatencyOptions; notices: string[] } {
  const notices: string[] = [];
  const device = a.device === 'auto' ? (cuda ? 'cuda' : 'cpu') : a.device;
  if (device === 'cuda' && !cuda) throw new OptionError('--device cuda: no CUDA device/backend available; use --device cpu');
  if (a.device === 'auto' && device === 'cpu' && !a.model) {
    notices.push('No GPU found: timing the CPU reference backend on synthetic:tiny (plumbing, not GPU performance).');
  }
  if (a.ncu && device !== 'cuda') throw new OptionError('--ncu profiles CUDA kernels: it needs a CUDA device');
  const util = a.gpuMemoryUtilization;
  if (!(util > 0 && util <= 1)) throw new OptionError(`--gpu-memory-utilization must be in (0, 1], got ${util}`);
  if (a.ceilings) readCeilingsFile(a.ceilings); // a bad file fails here, before any model loads
  const options: LatencyOptions = {
    model: a.model ?? (device === 'cuda' ? 'synthetic:llama-3.1-8b' : 'synthetic:tiny'),
    device,
    precisions: parsePrecisions(a.precision),
    kvCacheDtypes: parseKvCacheDtypes(a.kvCacheDtype),
    batches: parseIntList(a.batch, 'batch'),
    contexts: parseIntList(a.context, 'context'),
    kvBlockOrders: parseKvBlockOrders(a.kvBlockOrder),
    ...(a.kvReserveTokens !== undefined ? { kvReserveTokens: positiveInt(a.kvReserveTokens, 'kv-reserve-tokens') } : {}),
    ...(a.kvShareToFit ? { kvShareToFit: true } : {}),
    iters: positiveInt(a.iters, 'iters'),
    prefillTokens: a.prefill ? positiveInt(a.prefillTokens, 'prefill-tokens') : 0,
    gpuMemoryUtilization: util,
    kvBlocks: a.kvBlocks !== undefined ? positiveInt(a.kvBlocks, 'kv-blocks') : undefined,
    ceilingsFile: a.ceilings,
    commit: a.commit ?? gitCommit(),
    seed: a.seed ?? Date.now() % 2 ** 32,
    ncu: a.ncu,
    ncuDecode: parseNcuDecode(a.ncuDecode ?? '1:128,64:2048'),
    out: a.out,
    cuda: { cudaGraphs: a.cudaGraphs, pdl: a.pdl, fusedDecode: a.fusedDecode, gemmTuning: a.gemmTuning },
  };
  return { options, notices };
}

export async function latencyHandler(a: LatencyArgs): Promise<void> {
  const log = (m: string) => process.stderr.write(m + '\n');
  const { options, notices } = resolveLatency(a, cudaAvailable());
  for (const n of notices) log(n);
  // JSON lines on stdout (for files and tools), a readable line per row on stderr
  await runLatency(options, log, (row) => {
    process.stdout.write(JSON.stringify(row) + '\n');
    log(`  ${formatLatencyRow(row)}`);
  });
}
