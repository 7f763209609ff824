/**
 * End-of-run outputs: summary.json (BenchSummary), summary.csv (one row per point) and a console table. The table
 * and summary.json put the published peer number (peers.ts: same card, precision and lengths) beside ours, with its
 * source and where the protocols differ.
 */
import fs from 'node:fs';
import path from 'node:path';
import Table from 'cli-table3';
import { stringify } from 'csv-stringify/sync';
import { SUMMARY_CSV, SUMMARY_JSON } from './run_dir.ts';
import { BENCH_SCHEMA_VERSION, type BenchPoint, type BenchSummary, type Distribution } from './schema.ts';
import { comparePeers, MAX_BATCH_PREFIX, readPeers, type Peers, type PeerThroughput } from './peers.ts';

/** The committed peers file, or null when it cannot be read (the summary then goes without peer numbers). */
function defaultPeers(): Peers | null {
  try {
    return readPeers();
  } catch {
    return null;
  }
}

type Row = Record<string, string | number | null>;

function dist(prefix: string, d: Distribution): Row {
  return {
    [`mean_${prefix}_ms`]: d.mean,
    [`median_${prefix}_ms`]: d.median,
    [`p90_${prefix}_ms`]: d.p90,
    [`p99_${prefix}_ms`]: d.p99,
    [`std_${prefix}_ms`]: d.std,
  };
}

/** Flat row of a point; column names follow `vllm bench serve`'s result keys where one exists. */
export function pointRow(p: BenchPoint): Row {
  const m = p.metrics;
  return {
    key: p.key,
    protocol: p.protocol?.name ?? 'study',
    workload: p.workload.name,
    input_len: p.workload.inputLen,
    output_len: p.workload.outputLen,
    range_ratio: p.workload.rangeRatio,
    num_prompts: p.workload.numPrompts,
    seed: p.workload.seed,
    precision: p.precision,
    max_num_seqs: p.engine.maxNumSeqs,
    max_num_batched_tokens: p.engine.maxNumBatchedTokens,
    num_kv_blocks: p.engine.numKvBlocks,
    kv_cache_dtype: p.engine.kvCacheDtype ?? null,
    kv_cache_dtype_wanted: p.protocol?.kvCacheDtypeWanted ?? null,
    gpu_memory_utilization: p.engine.gpuMemoryUtilization ?? null,
    request_rate: String(p.requestRate),
    burstiness: p.burstiness,
    max_concurrency: p.maxConcurrency,
    completed: m.completed,
    failed: m.failed,
    duration: m.durationS,
    total_input_tokens: m.totalInputTokens,
    total_output_tokens: m.totalOutputTokens,
    request_throughput: m.requestThroughput,
    output_throughput: m.outputThroughput,
    total_token_throughput: m.totalTokenThroughput,
    request_goodput: m.goodput?.requestsPerS ?? null,
    ...dist('ttft', m.ttftMs),
    ...dist('tpot', m.tpotMs),
    ...dist('itl', m.itlMs),
    ...dist('e2el', m.e2elMs),
    preemptions: m.preemptions,
    host_overhead_fraction: m.hostOverheadFraction ?? null,
    roofline_bound: p.roofline?.bound ?? null,
    roofline_ratio: p.roofline?.ratio ?? null,
    gpu_sm_clock_mhz_p50: p.gpuTelemetry?.smClockMHz.median ?? null,
    gpu_power_w_p50: p.gpuTelemetry?.powerW?.median ?? null,
    gpu_power_capped_fraction: p.gpuTelemetry?.powerCappedFraction ?? null,
    device: p.provenance.device,
    model: p.provenance.model,
    weights: p.provenance.weights,
    commit: p.provenance.commit,
  };
}

/** `complete: false` marks the summary of an interrupted run (its points are the finished ones). */
export function writeSummary(
  runDir: string,
  run: string,
  command: string,
  points: BenchPoint[],
  complete = true,
  peers: Peers | null = defaultPeers(),
): { json: string; csv: string } {
  const protocols = [...new Set(points.map((p) => p.protocol?.name ?? 'study'))];
  const summary: BenchSummary = {
    schema: 'quantbench.bench.summary',
    version: BENCH_SCHEMA_VERSION,
    run,
    command,
    complete,
    protocols,
    peers: peers ? comparePeers(points, peers) : [],
    points,
  };
  const json = path.join(runDir, SUMMARY_JSON);
  const csv = path.join(runDir, SUMMARY_CSV);
  fs.writeFileSync(json, JSON.stringify(summary, null, 2) + '\n');
  fs.writeFileSync(csv, stringify(points.map(pointRow), { header: true }));
  return { json, csv };
}

const f1 = (x: number) => x.toFixed(1);
const thousands = (x: number) => Math.round(x).toLocaleString('en-US');

/**
 * The console table; its "peer" column holds the published output tok/s for the same card, precision and lengths,
 * with a numbered note under the table giving its source and where the protocols differ.
 */
export function renderTable(points: BenchPoint[], peers: Peers | null = defaultPeers()): string {
  const t = new Table({
    style: { head: [], border: [] },
    head: ['workload', 'precision', 'batch', 'max tok', 'rate', 'ok', 'req/s', 'out tok/s', 'peer', 'TTFT p50 ms', 'TTFT p99 ms', 'TPOT p50 ms', 'ITL p50 ms', 'preempt', 'host %', 'roofline'],
  });
  // One numbered note per published number: its source and where our protocol differs (the max batch and token
  // budget, which vary by row, are in the row).
  const notes: string[] = [];
  const noteOf = new Map<PeerThroughput, number>();
  const comparisons = peers ? comparePeers(points, peers) : [];
  for (const p of points) {
    const m = p.metrics;
    const c = comparisons.find((x) => x.key === p.key);
    let peerCell = 'n/a';
    if (c) {
      let n = noteOf.get(c.peer);
      if (n === undefined) {
        const diffs = c.protocolDifferences.filter((d) => !d.startsWith(MAX_BATCH_PREFIX));
        notes.push(
          `[${notes.length + 1}] ${c.peer.engine}, ${c.peer.device}, ${c.peer.model}, ${c.peer.inputLen}/${c.peer.outputLen}: ` +
            `${thousands(c.peer.outTokS)} out tok/s (${c.peer.source}). Their protocol: ${c.peer.protocol}. ` +
            `Ours differs: ${diffs.join('; ')}; max batch and batched tokens per row (theirs: ${c.peer.maxBatch ?? 'see their protocol'}).`,
        );
        n = notes.length;
        noteOf.set(c.peer, n);
      }
      peerCell = `${thousands(c.peer.outTokS)} (${(c.ratio * 100).toFixed(0)}%) [${n}]`;
    }
    t.push([
      p.workload.name,
      (p.engine.kvCacheDtype ?? 'auto') === 'auto' ? p.precision : `${p.precision} (kv ${p.engine.kvCacheDtype})`,
      p.engine.maxNumSeqs,
      p.engine.maxNumBatchedTokens,
      String(p.requestRate),
      `${m.completed}/${m.completed + m.failed}`,
      m.requestThroughput.toFixed(2),
      f1(m.outputThroughput),
      peerCell,
      f1(m.ttftMs.median),
      f1(m.ttftMs.p99),
      f1(m.tpotMs.median),
      f1(m.itlMs.median),
      m.preemptions,
      m.hostOverheadFraction !== undefined ? (m.hostOverheadFraction * 100).toFixed(1) : 'n/a',
      p.roofline ? `${(p.roofline.ratio * 100).toFixed(0)}% ${p.roofline.bound}` : 'n/a',
    ]);
  }
  const notePoints = points.filter((p) => p.protocol?.numPromptsNote);
  const promptNotes = [...new Set(notePoints.map((p) => p.protocol!.numPromptsNote!))].map((n) => `note: ${n}`);
  const peerLegend = peers
    ? ['peer: published output tok/s for the same card, precision and input/output lengths (packages/bench/data/peers.json), (ours as % of it); n/a: none published.']
    : ['peer: n/a (peers file unreadable)'];
  return [t.toString(), ...peerLegend, ...notes, ...promptNotes].join('\n');
}
