/** End-of-run outputs: summary.json (BenchSummary), summary.csv (one row per point) and a console table. */
import fs from 'node:fs';
import path from 'node:path';
import Table from 'cli-table3';
import { stringify } from 'csv-stringify/sync';
import { SUMMARY_CSV, SUMMARY_JSON } from './run_dir.ts';
import { BENCH_SCHEMA_VERSION, type BenchPoint, type BenchSummary, type Distribution } from './schema.ts';

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
    workload: p.workload.name,
    input_len: p.workload.inputLen,
    output_len: p.workload.outputLen,
    range_ratio: p.workload.rangeRatio,
    num_prompts: p.workload.numPrompts,
    seed: p.workload.seed,
    precision: p.precision,
    kv_cache_dtype: p.provenance.kv_cache_dtype ?? null,
    max_num_seqs: p.engine.maxNumSeqs,
    max_num_batched_tokens: p.engine.maxNumBatchedTokens,
    num_kv_blocks: p.engine.numKvBlocks,
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
    device: p.provenance.device,
    model: p.provenance.model,
    weights: p.provenance.weights,
    commit: p.provenance.commit,
  };
}

/** `complete: false` marks the summary of an interrupted run (its points are the finished ones). */
export function writeSummary(runDir: string, run: string, command: string, points: BenchPoint[], complete = true): { json: string; csv: string } {
  const summary: BenchSummary = { schema: 'quantbench.bench.summary', version: BENCH_SCHEMA_VERSION, run, command, complete, points };
  const json = path.join(runDir, SUMMARY_JSON);
  const csv = path.join(runDir, SUMMARY_CSV);
  fs.writeFileSync(json, JSON.stringify(summary, null, 2) + '\n');
  fs.writeFileSync(csv, stringify(points.map(pointRow), { header: true }));
  return { json, csv };
}

const f1 = (x: number) => x.toFixed(1);

export function renderTable(points: BenchPoint[]): string {
  const t = new Table({
    style: { head: [], border: [] },
    head: ['workload', 'precision', 'batch', 'rate', 'ok', 'req/s', 'out tok/s', 'TTFT p50 ms', 'TTFT p99 ms', 'TPOT p50 ms', 'ITL p50 ms', 'preempt', 'roofline'],
  });
  for (const p of points) {
    const m = p.metrics;
    t.push([
      p.workload.name,
      (p.provenance.kv_cache_dtype ?? 'auto') === 'auto' ? p.precision : `${p.precision} (kv ${p.provenance.kv_cache_dtype})`,
      p.engine.maxNumSeqs,
      String(p.requestRate),
      `${m.completed}/${m.completed + m.failed}`,
      m.requestThroughput.toFixed(2),
      f1(m.outputThroughput),
      f1(m.ttftMs.median),
      f1(m.ttftMs.p99),
      f1(m.tpotMs.median),
      f1(m.itlMs.median),
      m.preemptions,
      p.roofline ? `${(p.roofline.ratio * 100).toFixed(0)}% ${p.roofline.bound}` : 'n/a',
    ]);
  }
  return t.toString();
}
