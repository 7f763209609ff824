import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ADDON_PATH } from '@quantbench/engine';
import { loadBenchEngine } from '../src/engine_driver.ts';
import { arrivalOffsetsMs } from '../src/arrivals.ts';
import { readPoints } from '../src/run_dir.ts';
import type { BenchSummary } from '../src/schema.ts';
import { writeSummary } from '../src/summary.ts';
import { runSweep, type SweepConfig } from '../src/sweep.ts';
import { loadEngine as fakeLoader } from './fake_engine.ts';

function tmpRun(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'qb-bench-'));
}

function baseConfig(runDir: string): SweepConfig {
  return {
    runDir,
    model: 'fake:test',
    device: 'cpu',
    precisions: ['fp16', 'int8-w8a8'],
    batches: [1, 4],
    rates: ['inf', 4],
    workload: { name: 'custom', inputLen: 48, outputLen: 6, rangeRatio: 0.5, numPrompts: 8, seed: 3 },
    burstiness: 1,
    maxConcurrency: null,
    maxNumBatchedTokens: 64,
    enableChunkedPrefill: true,
    goodput: { ttft: 1e6 },
    resume: false,
    saveRequests: true,
  };
}

test('CI sweep: 2 precisions x 2 batch sizes x rate inf and 4 -> points.jsonl, summary JSON and CSV', async () => {
  const runDir = tmpRun();
  const out = await runSweep(baseConfig(runDir), { loader: fakeLoader });
  assert.equal(out.interrupted, false);
  assert.equal(out.newPoints.length, 8);
  const points = readPoints(runDir);
  assert.deepEqual(
    points.map((p) => p.key).sort(),
    ['fp16', 'int8-w8a8'].flatMap((p) => ['1', '4'].flatMap((b) => ['inf', '4'].map((r) => `custom-48x6r0.5|${p}|${b}|${r}|64`))).sort(),
  );
  for (const p of points) {
    assert.equal(p.metrics.completed, 8);
    assert.equal(p.metrics.failed, 0);
    assert.equal(p.requests!.length, 8);
    assert.equal(p.metrics.totalOutputTokens, p.requests!.reduce((a, r) => a + r.outputLen, 0));
    assert.ok(p.requests!.every((r) => r.outputLen >= 3 && r.outputLen <= 9 && r.inputLen >= 24 && r.inputLen <= 72));
    assert.ok(p.metrics.outputThroughput > 0 && p.metrics.ttftMs.median >= 0 && p.metrics.e2elMs.max >= p.metrics.ttftMs.max);
    assert.equal(p.metrics.goodput!.fraction, 1);
    assert.ok(p.provenance.commit.length > 0 && p.provenance.date);
    assert.equal(p.provenance.weights, 'synthetic');
    assert.equal(p.roofline, undefined);
    assert.match(p.rooflineNote!, /CPU/);
    assert.equal(p.engine.maxNumSeqs, Number(p.key.split('|')[2]));
  }
  // Rate 4 req/s: requests enter at their (seeded) arrival times, so the point lasts at least until the last one.
  const lastArrivalMs = arrivalOffsetsMs(8, 4, 1, 3).at(-1)!;
  assert.ok(lastArrivalMs > 0);
  for (const p of points.filter((q) => q.requestRate === 4)) assert.ok(p.metrics.durationS * 1000 >= lastArrivalMs);

  const files = writeSummary(runDir, 'ci', 'test', points);
  const summary = JSON.parse(fs.readFileSync(files.json, 'utf8')) as BenchSummary;
  assert.equal(summary.schema, 'quantbench.bench.summary');
  assert.equal(summary.points.length, 8);
  // No CSV parser is installed; the fake engine's fields hold no commas or quotes, so a split suffices here.
  const [header, ...lines] = fs.readFileSync(files.csv, 'utf8').trim().split('\n');
  const cols = header.split(',');
  const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
  assert.equal(rows.length, 8);
  assert.equal(Number(rows[0].completed), 8);
  assert.ok('median_ttft_ms' in rows[0] && 'p99_itl_ms' in rows[0] && 'output_throughput' in rows[0]);
});

test('KV exhaustion inside a serving point: preempts and still completes every request', async () => {
  const runDir = tmpRun();
  const cfg = baseConfig(runDir);
  cfg.precisions = ['fp16'];
  cfg.batches = [8];
  cfg.rates = ['inf'];
  cfg.numKvBlocks = 10; // 8 prompts of up to 72 tokens need ~40 blocks at once
  cfg.workload = { ...cfg.workload, outputLen: 20, numPrompts: 8 };
  const out = await runSweep(cfg, { loader: fakeLoader });
  const p = out.newPoints[0];
  assert.ok(p.metrics.preemptions > 0, 'preemptions happened');
  assert.equal(p.metrics.completed, 8);
  assert.equal(p.metrics.failed, 0);
  assert.equal(p.metrics.totalOutputTokens, p.requests!.reduce((a, r) => a + r.outputLen, 0));
});

test('an aborted sweep keeps finished points only; resume completes the rest without repeating', async () => {
  const runDir = tmpRun();
  const cfg = baseConfig(runDir);
  cfg.rates = ['inf'];
  const ac = new AbortController();
  let finished = 0;
  const out1 = await runSweep(cfg, {
    loader: fakeLoader,
    signal: ac.signal,
    log: (m) => {
      if (!m.startsWith('interrupted') && ++finished === 1) ac.abort();
    },
  });
  assert.equal(out1.interrupted, true);
  assert.equal(readPoints(runDir).length, 1);
  await assert.rejects(runSweep(cfg, { loader: fakeLoader }), { code: 'RUN_EXISTS' });
  const out2 = await runSweep({ ...cfg, resume: true }, { loader: fakeLoader });
  assert.equal(out2.skipped, 1);
  assert.equal(out2.newPoints.length, 3);
  const keys = readPoints(runDir).map((p) => p.key);
  assert.equal(new Set(keys).size, 4);
});

const nativeSkip = fs.existsSync(ADDON_PATH) ? false : `skipped: native addon not built (${ADDON_PATH}); run pnpm build`;

test('CI sweep on the real CPU backend (synthetic:tiny): 2 precisions x 2 batch sizes x rate inf and 4', { skip: nativeSkip }, async () => {
  const runDir = tmpRun();
  const cfg: SweepConfig = {
    ...baseConfig(runDir),
    model: 'synthetic:tiny',
    precisions: ['fp16', 'fp8-dynamic'],
    batches: [1, 4],
    rates: ['inf', 4],
    workload: { name: 'custom', inputLen: 24, outputLen: 4, rangeRatio: 0, numPrompts: 4, seed: 1 },
    numKvBlocks: 64,
  };
  const out = await runSweep(cfg, { loader: loadBenchEngine });
  assert.equal(out.newPoints.length, 8);
  const points = readPoints(runDir);
  assert.equal(points.length, 8);
  for (const p of points) {
    assert.equal(p.metrics.completed, 4);
    assert.equal(p.metrics.totalOutputTokens, 16);
    assert.equal(p.metrics.totalInputTokens, 96);
    assert.equal(p.provenance.model, 'synthetic:tiny');
    assert.equal(p.provenance.deviceKind, 'cpu');
    assert.equal(p.provenance.recipe.precision, p.precision);
    assert.ok(p.metrics.hostOverheadFraction! >= 0 && p.metrics.hostOverheadFraction! < 1);
  }
  const files = writeSummary(runDir, 'ci-real', 'test', points);
  assert.ok(fs.statSync(files.csv).size > 0);
});
