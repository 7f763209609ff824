/** Chart specs compile cleanly, setups are never mixed, tables/CSV/specs agree, and the HTML is self-contained. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { compile, type TopLevelSpec } from 'vega-lite';
import { buildCharts, buildReport, writeExports } from '../src/build-report.ts';
import { loadResults } from '../src/load/discover.ts';
import { writeFixtureResults } from './fixtures.ts';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-report-charts-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Compiles a Vega-Lite spec in node, collecting every warning/error the compiler logs. */
function compileWarnings(spec: TopLevelSpec): string[] {
  const problems: string[] = [];
  let lvl = 0;
  const logger = {
    level(l?: number) {
      if (l === undefined) return lvl;
      lvl = l;
      return logger;
    },
    error: (...a: unknown[]) => (problems.push(`error: ${a.join(' ')}`), logger),
    warn: (...a: unknown[]) => (problems.push(`warn: ${a.join(' ')}`), logger),
    info: () => logger,
    debug: () => logger,
  };
  compile(spec, { logger: logger as never });
  return problems;
}

test('every chart has data from the fixtures and compiles without Vega-Lite warnings', () => {
  const root = path.join(tmp, 'a');
  writeFixtureResults(root, { seed: 21 });
  const charts = buildCharts(loadResults([root]));
  assert.equal(charts.length, 12);
  assert.equal(new Set(charts.map((c) => c.id)).size, charts.length, 'chart ids are unique');
  for (const c of charts) {
    assert.ok(c.spec, `${c.id}: ${c.emptyReason}`);
    assert.deepEqual(compileWarnings(c.spec), [], c.id);
    assert.ok(c.rows.length > 0, c.id);
    assert.ok(c.reading.length > 20 && !/NaN|undefined|Infinity/.test(c.reading), `${c.id} reading: ${c.reading}`);
    assert.ok(c.fixture, `${c.id} should be marked as fixture data`);
    // CSV: header + one line per row (csv-stringify quotes as needed; no field here holds a newline).
    assert.equal(c.csv.trim().split('\n').length, c.rows.length + 1, c.id);
  }
  const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
  assert.deepEqual(byId['throughput-vs-batch'].weights, ['synthetic']);
  assert.deepEqual(byId.accuracy.weights, ['real']);
});

test('speedup uses fp16 of the same workload and batch: the ratio matches the raw points', () => {
  const root = path.join(tmp, 'b');
  writeFixtureResults(root, { seed: 22 });
  const data = loadResults([root]);
  const chart = buildCharts(data).find((c) => c.id === 'speedup-over-fp16');
  assert.ok(chart);
  const inf = data.points.map((t) => t.record).filter((p) => p.requestRate === 'inf');
  for (const row of chart.rows) {
    const q = inf.find((p) => p.precision === row.precision && p.workload.name === row.workload && p.engine.maxNumSeqs === row.maxBatch);
    const f = inf.find((p) => p.precision === 'fp16' && p.workload.name === row.workload && p.engine.maxNumSeqs === row.maxBatch);
    assert.ok(q && f);
    assert.ok(Math.abs(Number(row.speedup) - q.metrics.outputThroughput / f.metrics.outputThroughput) < 1e-12);
  }
});

test('points from different commits are split by setup, never mixed; cross-setup ratios are not computed', () => {
  const root = path.join(tmp, 'c');
  writeFixtureResults(path.join(root, 'old'), { seed: 23, commit: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' });
  writeFixtureResults(path.join(root, 'new'), { seed: 24, commit: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' });
  const data = loadResults([root]);
  const charts = buildCharts(data);
  const tput = charts.find((c) => c.id === 'throughput-vs-batch');
  assert.ok(tput?.spec);
  assert.equal(tput.setups.length, 2);
  const facet = (tput.spec as { facet?: { row?: { field?: string } } }).facet;
  assert.equal(facet?.row?.field, 'setup', 'two setups → one row of panels per setup');
  assert.ok(tput.notes.some((n) => /2 setups/.test(n)));
  assert.equal(tput.rows.length, 2 * 2 * 4 * 9);

  // Now remove fp16 from the new commit: its quantized points must not be compared with the old commit's fp16.
  const pts = path.join(root, 'new', 'fixture-bench', 'points.jsonl');
  const kept = fs.readFileSync(pts, 'utf8').split('\n').filter((l) => l.trim() && JSON.parse(l).precision !== 'fp16');
  fs.writeFileSync(pts, kept.join('\n') + '\n');
  fs.rmSync(path.join(root, 'new', 'fixture-bench', 'summary.json'));
  const charts2 = buildCharts(loadResults([root]));
  const speed = charts2.find((c) => c.id === 'speedup-over-fp16');
  assert.ok(speed?.spec);
  assert.deepEqual(speed.setups, [speed.rows[0].setup], 'only the setup that has fp16 gets speedups');
  assert.ok(String(speed.rows[0].setup).includes('aaaaaaaaaa'));
  // Recovery likewise only inside one setup: drop fp16 eval of the new commit.
  fs.rmSync(path.join(root, 'new', 'fixture-eval', 'eval_fixture-model_fp16.json'));
  const rec = buildCharts(loadResults([root])).find((c) => c.id === 'recovery');
  assert.ok(rec?.spec);
  const recNew = rec.rows.filter((r) => String(r.setup).includes('bbbbbbbbbb'));
  // fp8 files carry recoveryPct themselves; int8 (computed) must be absent for the setup without fp16.
  assert.ok(recNew.every((r) => r.precision !== 'int8-w8a8'), 'int8 recovery computed against another setup');
  assert.ok(recNew.length > 0);
});

test('a re-run of the same setup replaces the earlier result instead of drawing it twice', () => {
  const root = path.join(tmp, 'd');
  writeFixtureResults(path.join(root, 'run1'), { seed: 25, date: '2025-01-01T00:00:00Z' });
  writeFixtureResults(path.join(root, 'run2'), { seed: 26, date: '2025-02-01T00:00:00Z' });
  const data = loadResults([root]);
  const charts = buildCharts(data);
  const acc = charts.find((c) => c.id === 'accuracy');
  const blocks = charts.find((c) => c.id === 'block-latency-vs-context');
  assert.ok(acc && blocks);
  // leaderboard-v1 + its 6 children (mmlu as one bar, subjects folded) + arc_easy (in no group).
  assert.equal(acc.rows.length, 8 * 4, 'one row per shown task/group and precision');
  assert.ok(acc.notes.some((n) => /3 deeper tasks/.test(n)), acc.notes.join('\n'));
  const later = data.evals.filter((e) => e.record.provenance.date.startsWith('2025-02'));
  const fp16Arc = later.find((e) => e.record.precision === 'fp16')?.record.results.arc_easy.metrics.acc_norm.value;
  assert.equal(acc.rows.find((r) => r.task === 'arc_easy' && r.precision === 'fp16')?.value, fp16Arc);
  assert.equal(blocks.rows.length, 4 * 5 * 4, 'precisions × contexts × blocks at batch 64');
});

test('the HTML is self-contained, escapes hostile strings, and exports are written beside it', () => {
  const root = path.join(tmp, 'e');
  writeFixtureResults(root, { seed: 27, benchModel: 'synthetic:</script><script>alert(1)</script>', evalModel: 'm&<b>' });
  const report = buildReport({ dirs: [root], generatedAt: '2025-01-01T00:00:00Z' });
  const html = report.html;
  assert.ok(!html.includes('<script>alert(1)'), 'model name must not open a script element');
  assert.equal((html.match(/<script\b/g) ?? []).length, 3, 'data + vega + client (specs precompiled: no vega-lite, no vega-embed)');
  assert.doesNotMatch(html, /data-lib="vega-lite"|vegaEmbed/);
  // No external resource references anywhere.
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|@import|url\(\s*['"]?https?:/i);
  // The inlined payload is valid JSON and carries every spec.
  const m = html.match(/<script id="qb-data" type="application\/json">([\s\S]*?)<\/script>/);
  assert.ok(m);
  const payload = JSON.parse(m[1]) as { charts: { id: string; vega: unknown }[] };
  assert.equal(payload.charts.length, report.charts.length);
  assert.ok(JSON.stringify(payload).includes('</script><script>alert(1)</script>'), 'the name survives intact as data');

  const out = path.join(tmp, 'exports');
  const files = writeExports(report, out);
  assert.equal(files.length, report.charts.length * 2);
  const spec = JSON.parse(fs.readFileSync(path.join(out, 'throughput-vs-batch.vl.json'), 'utf8')) as TopLevelSpec & {
    data: { values: unknown[] };
  };
  assert.deepEqual(compileWarnings(spec), []);
  assert.equal(spec.data.values.length, report.charts.find((c) => c.id === 'throughput-vs-batch')?.rows.length, 'exported spec carries its data');
  const csv = fs.readFileSync(path.join(out, 'throughput-vs-batch.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'workload,precision,max batch [maxBatch],output tok/s [outputTokS],rate [requestRate],setup');
});

test('roofline ratios over 100% are flagged as above the ceiling, never called closest to the roofline', () => {
  const root = path.join(tmp, 'f');
  writeFixtureResults(root, { seed: 28 });
  const bump = (file: string, pick: (o: { roofline?: { ratio: number } }) => boolean) => {
    let done = false;
    const lines = fs.readFileSync(file, 'utf8').split('\n').map((l) => {
      if (done || !l.trim()) return l;
      const o = JSON.parse(l) as { roofline?: { ratio: number } };
      if (!o.roofline || !pick(o)) return l;
      done = true;
      o.roofline.ratio = 1.525;
      return JSON.stringify(o);
    });
    fs.writeFileSync(file, lines.join('\n'));
  };
  bump(path.join(root, 'fixture-bench', 'points.jsonl'), () => true);
  fs.rmSync(path.join(root, 'fixture-bench', 'summary.json'));
  bump(path.join(root, 'fixture-bench', 'kernels.jsonl'), () => true);
  const charts = buildCharts(loadResults([root]));
  const roof = charts.find((c) => c.id === 'roofline-ratio');
  const kern = charts.find((c) => c.id === 'kernel-timings');
  assert.ok(roof?.spec && kern);
  assert.match(roof.reading, /1 point\(s\) ABOVE THE CEILING/);
  assert.doesNotMatch(roof.reading, /closest to the roofline[^.]*152\.5%/);
  assert.match(JSON.stringify(roof.spec), /datum\.ratio > 1/, 'above-ceiling points are ringed');
  assert.match(kern.reading, /ABOVE THE ASSUMED CEILING.*152\.5%/);
  assert.equal(kern.rows.filter((r) => r.aboveCeiling === 'yes').length, 1);
});

test('roofline chart: a point with GPU telemetry shows its SM clock, and power-capped compute-bound points are named in the reading', () => {
  const root = path.join(tmp, 'tel');
  writeFixtureResults(root, { seed: 31 });
  const file = path.join(root, 'fixture-bench', 'points.jsonl');
  let tagged = 0;
  const lines = fs.readFileSync(file, 'utf8').split('\n').map((l) => {
    if (!l.trim()) return l;
    const o = JSON.parse(l) as { roofline?: { bound: string }; gpuTelemetry?: unknown };
    if (o.roofline?.bound !== 'compute' || tagged > 0) return l;
    tagged++;
    o.gpuTelemetry = {
      source: 'nvidia-smi', gpu: '0', intervalMs: 500, samples: 40, busySamples: 38,
      smClockMHz: { median: 1575, min: 1290, max: 1980 }, maxSmClockMHz: 1980,
      powerW: { median: 692, max: 701 }, powerLimitW: 700, temperatureC: { median: 62, max: 66 },
      powerCappedFraction: 0.95, thermalOrHwSlowdownFraction: 0,
    };
    return JSON.stringify(o);
  });
  assert.equal(tagged, 1, 'the fixture has a compute-bound point');
  fs.writeFileSync(file, lines.join('\n'));
  fs.rmSync(path.join(root, 'fixture-bench', 'summary.json'));
  const roof = buildCharts(loadResults([root])).find((c) => c.id === 'roofline-ratio');
  assert.ok(roof);
  const withClock = roof.rows.filter((r) => r.gpuClock !== '');
  assert.equal(withClock.length, 1);
  assert.equal(withClock[0].gpuClock, '1575 MHz of 1980 (95%)');
  assert.match(roof.reading, /1 compute-bound point\(s\) ran under the power cap most of the time \(SM clock p50 1575-1575 MHz\)/);
});
