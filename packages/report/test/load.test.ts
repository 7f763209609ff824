/** Bad and partial input: the report builds from what is readable and lists what it skipped and why. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildReport } from '../src/build-report.ts';
import { ReportError } from '../src/errors.ts';
import { findRunDirs, loadResults } from '../src/load/discover.ts';
import { rng, writeFixtureResults } from './fixtures.ts';

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-report-load-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function fresh(name: string, seed: number) {
  const root = path.join(tmp, name);
  const dirs = writeFixtureResults(root, { seed });
  return { root, ...dirs };
}

function lines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
}

test('clean fixtures load completely, nothing skipped', () => {
  const { root } = fresh('clean', 11);
  const data = loadResults([root]);
  assert.deepEqual(data.skipped, []);
  assert.equal(data.runs.length, 2);
  assert.equal(data.points.length, 2 * 4 * 10); // workloads × precisions × (9 batches at inf + 1 fixed-rate point)
  assert.equal(data.evals.length, 4);
  assert.equal(data.fidelity.length, 3);
  assert.equal(data.perplexity.length, 1);
  assert.ok(data.breakdown.length > 0 && data.kernels.length > 0);
});

test('malformed, truncated and non-conforming records are skipped with reasons; the rest is kept', () => {
  const { root, benchDir, evalDir } = fresh('bad', 12);
  const r = rng(99);
  const pts = path.join(benchDir, 'points.jsonl');
  const ls = lines(pts);
  const total = ls.length;
  // Pick distinct random lines to damage (seeded).
  const idx = new Set<number>();
  while (idx.size < 3) idx.add(1 + Math.floor(r() * (total - 2)));
  const [iBadJson, iWrongVersion, iMissing] = [...idx];
  ls[iBadJson] = ls[iBadJson].slice(0, 40);
  const v = JSON.parse(ls[iWrongVersion]);
  v.version = 2;
  ls[iWrongVersion] = JSON.stringify(v);
  const m = JSON.parse(ls[iMissing]);
  delete m.metrics.outputThroughput;
  ls[iMissing] = JSON.stringify(m);
  // Last line cut short, as when a run is killed mid-write.
  ls[total - 1] = ls[total - 1].slice(0, 100);
  fs.writeFileSync(pts, ls.join('\n'));
  // summary.json is corrupt too: its (duplicate) points must not resurrect the damaged lines.
  fs.writeFileSync(path.join(benchDir, 'summary.json'), '{"schema": "quantbench.bench.summary", ');
  // breakdown: a string where a number belongs.
  const bd = path.join(benchDir, 'breakdown.jsonl');
  const bls = lines(bd);
  const b0 = JSON.parse(bls[0]);
  b0.blocksMs.attention = 'fast';
  bls[0] = JSON.stringify(b0);
  fs.writeFileSync(bd, bls.join('\n') + '\n');
  // kernels: empty file.
  fs.writeFileSync(path.join(benchDir, 'kernels.jsonl'), '');
  // eval: one result of the wrong schema, one fidelity file that is not JSON.
  const evalFile = fs.readdirSync(evalDir).find((f) => f.startsWith('eval_') && f.includes('int8'));
  assert.ok(evalFile);
  const e = JSON.parse(fs.readFileSync(path.join(evalDir, evalFile), 'utf8'));
  e.schema = 'lm-eval';
  fs.writeFileSync(path.join(evalDir, evalFile), JSON.stringify(e));
  const fidFile = fs.readdirSync(evalDir).find((f) => f.startsWith('fidelity_'));
  assert.ok(fidFile);
  fs.writeFileSync(path.join(evalDir, fidFile), 'not json at all');
  fs.writeFileSync(path.join(evalDir, 'notes.json'), '{}');

  const data = loadResults([root]);
  const reasons = data.skipped.map((s) => `${path.basename(s.file)}${s.line != null ? `:${s.line}` : ''} ${s.reason}`);
  const has = (re: RegExp) => assert.ok(reasons.some((x) => re.test(x)), `expected a skip matching ${re}; got:\n${reasons.join('\n')}`);
  has(new RegExp(`^points\\.jsonl:${iBadJson + 1} invalid JSON`));
  has(new RegExp(`^points\\.jsonl:${iWrongVersion + 1} version: this report reads quantbench\\.bench\\.point version 1, file has 2`));
  has(new RegExp(`^points\\.jsonl:${iMissing + 1} metrics\\.outputThroughput: missing`));
  has(new RegExp(`^points\\.jsonl:${total} invalid JSON .*last line, probably a write cut short`));
  has(/^summary\.json invalid JSON/);
  has(/^breakdown\.jsonl:1 blocksMs\.attention: expected a finite number, got string/);
  has(/^kernels\.jsonl empty file/);
  has(/^eval_.*int8.* schema: expected "quantbench\.eval\.result", got "lm-eval"/);
  has(/^fidelity_.* invalid JSON/);
  has(/^notes\.json not a known result file name/);
  assert.equal(data.points.length, total - 4);
  assert.equal(data.evals.length, 3);
  assert.equal(data.fidelity.length, 2);

  // The report still builds, from the rest, and lists every skip.
  const report = buildReport({ dirs: [root] });
  assert.ok(report.charts.filter((c) => c.spec).length >= 9);
  assert.equal(report.skipped.length, data.skipped.length);
  assert.match(report.html, /Skipped input: 10 file\(s\) or line\(s\)/);
  assert.match(report.html, new RegExp(`points\\.jsonl:${iMissing + 1}</code> — metrics\\.outputThroughput: missing`));
});

test('summary.json fills in points missing from points.jsonl without duplicating them', () => {
  const { root, benchDir } = fresh('summary', 13);
  const pts = path.join(benchDir, 'points.jsonl');
  const ls = lines(pts);
  fs.writeFileSync(pts, ls.slice(0, 10).join('\n') + '\n');
  const data = loadResults([root]);
  assert.equal(data.points.length, ls.length);
  assert.equal(data.points.filter((p) => p.file.endsWith('summary.json')).length, ls.length - 10);
});

test('a missing directory argument is a typed error; an empty one is listed as skipped', () => {
  assert.throws(
    () => loadResults([path.join(tmp, 'does-not-exist')]),
    (e: unknown) => e instanceof ReportError && e.code === 'NO_RESULTS_DIR',
  );
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty, { recursive: true });
  const data = loadResults([empty]);
  assert.equal(data.runs.length, 0);
  assert.match(data.skipped[0].reason, /no result files found/);
  const report = buildReport({ dirs: [empty] });
  assert.equal(report.charts.filter((c) => c.spec).length, 0);
  assert.match(report.html, /No result records were loaded/);
});

test('run directories are found at any depth, and a run dir can be passed directly', () => {
  const { root, benchDir } = fresh('nested/h100', 14);
  const runs = findRunDirs(path.join(tmp, 'nested'));
  assert.deepEqual(
    runs.map((r) => r.name).sort(),
    ['h100/fixture-bench', 'h100/fixture-eval'],
  );
  const direct = loadResults([benchDir]);
  assert.equal(direct.runs.length, 1);
  assert.equal(direct.runs[0].name, 'fixture-bench');
  assert.ok(root);
});
