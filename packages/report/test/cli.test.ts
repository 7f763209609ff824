/** The CLI end to end: builds the HTML and the exports, lists skips, and exits non-zero only when nothing was found. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeFixtureResults } from './fixtures.ts';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli.ts');
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-report-cli-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs like `pnpm report` does: from the repo root, with INIT_CWD = where the user typed the command. */
function cli(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, INIT_CWD: tmp },
  });
}

test('pnpm report DIR --out F --exports-dir D writes the report and per-chart CSV + spec files', () => {
  writeFixtureResults(path.join(tmp, 'res'), { seed: 31 });
  fs.appendFileSync(path.join(tmp, 'res', 'fixture-bench', 'breakdown.jsonl'), '{"oops": 1}\n');
  const r = cli(['res', '--out', 'out/report.html', '--exports-dir', 'out/charts']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /charts with data: 13\/13/);
  assert.match(r.stdout, /summary: fixture · fixture-commit .*prefill-heavy \(2048→128, batch 256\): \S+ is fastest at [\d,]+ out tok\/s/);
  assert.match(r.stdout, /skipped 1 input item\(s\)/);
  assert.match(r.stdout, /breakdown\.jsonl:\d+: schema: expected "quantbench\.bench\.breakdown"/);
  const html = fs.readFileSync(path.join(tmp, 'out', 'report.html'), 'utf8');
  assert.match(html, /^<!doctype html>/);
  const files = fs.readdirSync(path.join(tmp, 'out', 'charts')).sort();
  assert.equal(files.length, 26);
  assert.ok(files.includes('accuracy.csv') && files.includes('accuracy.vl.json'));
});

test('no runs found: the report is still written, exit code 1 says why; a missing dir is exit 2', () => {
  fs.mkdirSync(path.join(tmp, 'nothing'), { recursive: true });
  const r = cli(['nothing', '--out', 'empty.html']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no result runs found/);
  assert.ok(fs.existsSync(path.join(tmp, 'empty.html')));
  const m = cli(['missing-dir', '--out', 'x.html']);
  assert.equal(m.status, 2);
  assert.match(m.stderr, /NO_RESULTS_DIR/);
});

test('--device, --since and --gpu-hour-price shape the report; malformed values are exit 2', () => {
  writeFixtureResults(path.join(tmp, 'res2'), { seed: 32 });
  const priced = cli(['res2', '--out', 'priced.html', '--gpu-hour-price', '2']);
  assert.equal(priced.status, 0, priced.stderr);
  const html = fs.readFileSync(path.join(tmp, 'priced.html'), 'utf8');
  assert.match(html, /Cost at \$2\.00 per GPU-hour — --gpu-hour-price/);
  // The fixture device is "fixture": another device filter leaves nothing to summarise.
  const other = cli(['res2', '--out', 'other.html', '--device', 'h200']);
  assert.equal(other.status, 0, other.stderr);
  assert.doesNotMatch(other.stdout, /^summary:/m);
  assert.match(fs.readFileSync(path.join(tmp, 'other.html'), 'utf8'), /--device h200: 0 of \d+ records kept/);
  const later = cli(['res2', '--out', 'later.html', '--since', '2030-01-01']);
  assert.match(fs.readFileSync(path.join(tmp, 'later.html'), 'utf8'), /--since 2030-01-01: 0 of \d+ records kept/);
  const bad = cli(['res2', '--out', 'bad.html', '--since', 'yesterday-ish']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /BAD_OPTION/);
  const badPrice = cli(['res2', '--out', 'bad.html', '--gpu-hour-price', '-1']);
  assert.equal(badPrice.status, 2);
});
