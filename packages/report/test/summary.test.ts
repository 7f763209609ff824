/** The answer block: newest setup per device only, headline from the same cells, cost arithmetic, peers, filters. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildReport } from '../src/build-report.ts';
import { paretoFront } from '../src/charts/speed-vs-quality.ts';
import { readPeers } from '../src/peers.ts';
import { goodputOf, usdPerMillion } from '../src/summary/cost.ts';
import type { BenchPoint } from '../src/results-types.ts';
import { writeFixtureResults } from './fixtures.ts';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-report-summary-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the summary reads only the newest setup of a device; older ones go to history; headline = table cells', () => {
  const root = path.join(tmp, 'two');
  writeFixtureResults(path.join(root, 'old'), { seed: 41, commit: 'a'.repeat(40), date: '2025-01-01T00:00:00Z' });
  writeFixtureResults(path.join(root, 'new'), { seed: 42, commit: 'b'.repeat(40), date: '2025-02-01T00:00:00Z' });
  const r = buildReport({ dirs: [root], generatedAt: 'fixed' });
  assert.equal(r.summaries.length, 1, 'one device → one summary');
  const s = r.summaries[0];
  assert.equal(s.setup.commit, 'b'.repeat(40));
  assert.ok(s.setup.points.every((t) => t.record.provenance.commit === 'b'.repeat(40)), 'no point of another setup');
  assert.deepEqual(r.scope.olderBench.map((o) => o.commit), ['a'.repeat(40)]);
  assert.match(r.html, /id="history"[\s\S]*aaaaaaaaaa/);
  // Headline facts name exactly the values of the cells they point at.
  for (const proto of s.speed.protocols) {
    const cells = s.speed.cells[proto.workload];
    const [best, c] = Object.entries(cells).sort((a, b) => b[1].outTokS - a[1].outTokS)[0];
    const fact = s.headline.find((h) => h.text.startsWith(proto.workload));
    assert.ok(fact, proto.workload);
    assert.ok(fact.text.includes(`${best} is fastest at ${Math.round(c.outTokS).toLocaleString('en-US')} out tok/s`), fact.text);
    const fp16 = cells.fp16.outTokS;
    assert.ok(Math.abs((c.speedup as number) - c.outTokS / fp16) < 1e-12);
    assert.ok(r.html.includes(`data-summary="${fact.key}">${Math.round(c.outTokS).toLocaleString('en-US')}<`), 'table cell for the headline');
  }
  // The summary table sits above every chart in the page.
  assert.ok(r.html.indexOf('<table class="data summary"') < r.html.indexOf('class="vis"'));
});

test('numbers measured before newer engine commits say so', () => {
  const root = path.join(tmp, 'predates');
  writeFixtureResults(path.join(root, 'bench'), { seed: 43, commit: 'c'.repeat(40), date: '2025-01-01T00:00:00Z' });
  const { benchDir } = writeFixtureResults(path.join(root, 'later'), { seed: 44, commit: 'd'.repeat(40), date: '2025-03-01T00:00:00Z' });
  // The later commit has kernel timings and blocks but no serving points.
  fs.rmSync(path.join(benchDir, 'points.jsonl'));
  fs.rmSync(path.join(benchDir, 'summary.json'));
  const r = buildReport({ dirs: [root], generatedAt: 'fixed' });
  assert.equal(r.summaries[0].setup.commit, 'c'.repeat(40));
  assert.ok(r.summaries[0].caveats.some((c) => /predate later engine changes: 1 newer commit.*dddddddddd/.test(c)), r.summaries[0].caveats.join('\n'));
});

test('goodput and $ per million output tokens', () => {
  assert.ok(Math.abs(usdPerMillion(1000, 3.6) - 1) < 1e-12, '$3.60/h at 1,000 tok/s = $1 per million');
  const base = {
    metrics: {
      outputThroughput: 500,
      durationS: 10,
      ttftMs: { p90: 1500 },
      tpotMs: { p90: 40 },
    },
  } as unknown as BenchPoint;
  assert.deepEqual(goodputOf(base, { ttftMs: 2000, tpotMs: 50 }), { tokS: 500, method: 'p90' });
  assert.equal(goodputOf(base, { ttftMs: 1000, tpotMs: 50 }).tokS, 0, 'TTFT p90 over the target: no goodput');
  const withReqs = {
    ...base,
    requests: [
      { ttftMs: 100, tpotMs: 10, e2elMs: 0, inputLen: 1, outputLen: 300 },
      { ttftMs: 3000, tpotMs: 10, e2elMs: 0, inputLen: 1, outputLen: 700 },
    ],
  } as BenchPoint;
  assert.deepEqual(goodputOf(withReqs, { ttftMs: 2000, tpotMs: 50 }), { tokS: 30, method: 'requests' });
  const r = buildReport({ dirs: [path.join(tmp, 'two')], gpuHourPrice: 3.6, generatedAt: 'fixed' });
  const s = r.summaries[0];
  for (const [w, byPrec] of Object.entries(s.cost))
    for (const [p, c] of Object.entries(byPrec)) assert.ok(Math.abs(c.usdPerMTok - 1e6 / (c.goodputTokS * 1000)) < 1e-9, `${w} ${p}`);
});

test('Pareto front: a precision beaten on both speed and quality is off it', () => {
  const f = paretoFront([
    { precision: 'fp16', x: 100, y: 100 },
    { precision: 'int8-w8a8', x: 150, y: 99 },
    { precision: 'fp8-static', x: 140, y: 98 },
    { precision: 'fp8-dynamic', x: 160, y: 99.5 },
  ]);
  assert.deepEqual([...f].sort(), ['fp16', 'fp8-dynamic']);
});

test('the committed peers file names a source and protocol for every number, and a dated price per card', () => {
  const peers = readPeers();
  assert.ok(peers.throughput.length >= 5);
  for (const p of [...peers.throughput, ...peers.accuracy]) {
    assert.match(p.source, /^https:\/\//);
    assert.ok(p.protocol.length > 20);
  }
  for (const p of peers.prices) {
    assert.match(p.date, /^\d{4}-\d{2}-\d{2}$/);
    assert.ok(p.usdPerHour > 0);
  }
  assert.ok(peers.prices.some((p) => p.device === 'H200'));
});

test('the summary comes from the newest bench setup that compares precisions, not a newer run of one precision', () => {
  const root = path.join(tmp, 'benches');
  writeFixtureResults(path.join(root, 'full'), { seed: 47, commit: 'c'.repeat(40), date: '2025-01-01T00:00:00Z' });
  const single = writeFixtureResults(path.join(root, 'single'), { seed: 48, commit: 'd'.repeat(40), date: '2025-03-01T00:00:00Z' });
  const file = path.join(single.benchDir, 'points.jsonl');
  const keep = fs.readFileSync(file, 'utf8').trim().split('\n').filter((l) => (JSON.parse(l) as BenchPoint).precision === 'fp8-static');
  assert.ok(keep.length > 0);
  fs.writeFileSync(file, keep.join('\n') + '\n');
  const sumFile = path.join(single.benchDir, 'summary.json');
  const sum = JSON.parse(fs.readFileSync(sumFile, 'utf8')) as { points: BenchPoint[] };
  sum.points = sum.points.filter((p) => p.precision === 'fp8-static');
  fs.writeFileSync(sumFile, JSON.stringify(sum));
  const r = buildReport({ dirs: [root], generatedAt: 'fixed' });
  assert.equal(r.summaries[0].setup.commit, 'c'.repeat(40), 'the comparing setup leads');
  assert.ok(r.scope.olderBench.some((o) => o.commit === 'd'.repeat(40)), 'the fp8-static-only setup goes to history');
});

test('the quality columns come from the newest eval run that compares precisions, not a newer run of fp16 alone', () => {
  const root = path.join(tmp, 'evals');
  writeFixtureResults(path.join(root, 'full'), { seed: 45, date: '2025-01-01T00:00:00Z' });
  const single = writeFixtureResults(path.join(root, 'single'), { seed: 46, date: '2025-03-01T00:00:00Z' });
  fs.rmSync(single.benchDir, { recursive: true });
  for (const f of fs.readdirSync(single.evalDir)) if (!f.includes('_fp16')) fs.rmSync(path.join(single.evalDir, f));
  const r = buildReport({ dirs: [root], generatedAt: 'fixed' });
  const q = r.summaries[0].quality;
  assert.ok(q, 'a quality table');
  assert.equal(q.group.run, 'full/fixture-eval');
  assert.ok(Object.keys(q.cells).length > 1, 'every precision of the comparing run');
  assert.ok(r.scope.olderEval.some((g) => g.run === 'single/fixture-eval'), 'the fp16-only run goes to history');
});
