import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { readPoints } from '../src/run_dir.ts';
import type { BenchSummary } from '../src/schema.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(here, '../src/cli.ts');
const FAKE = path.join(here, 'fake_engine.ts');

function startCli(args: string[]): { done: Promise<{ code: number | null; stderr: string; stdout: string }>; kill: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, QB_FAKE_STEP_MS: '20' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => (stdout += d));
  const done = new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stderr, stdout })),
  );
  return { done, kill: (s) => child.kill(s) };
}

test('Ctrl-C after the first point: exits non-zero, keeps finished points, writes the summary; --resume finishes the run', async () => {
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-cli-'));
  const runDir = path.join(resultsDir, 'r1');
  const args = [
    '--engine-module', FAKE, '--results-dir', resultsDir, '--run', 'r1', '--device', 'cpu',
    '--precision', 'fp16,int8-w8a8', '--batch', '1,4', '--rate', 'inf',
    '--workload', 'custom', '--input-len', '32', '--output-len', '8', '--num-prompts', '8', '--no-quick',
  ];
  const first = startCli(args);
  let exited = false;
  void first.done.then(() => (exited = true));
  while (readPoints(runDir).length === 0) {
    assert.ok(!exited, 'the CLI exited before finishing a point');
    await sleep(10);
  }
  first.kill('SIGINT');
  const r1 = await first.done;
  assert.equal(r1.code, 130, r1.stderr);
  assert.match(r1.stderr, /Ctrl-C/);
  const kept = readPoints(runDir);
  assert.ok(kept.length >= 1 && kept.length < 4, `kept ${kept.length} points`);
  const summary = JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as BenchSummary;
  assert.equal(summary.points.length, kept.length);
  const firstLine = fs.readFileSync(path.join(runDir, 'points.jsonl'), 'utf8').split('\n')[0];

  const refused = await startCli(args).done;
  assert.notEqual(refused.code, 0, 'a second run into the same directory without --resume is refused');
  assert.match(refused.stderr, /--resume/);

  // issue 20: the interrupted summary says so, and the printed resume hint is a command that works as printed
  // (at eab799f it repeated --run and failed with ERR_INVALID_ARG_TYPE).
  assert.equal(summary.complete, false);
  const hint = /continue with `pnpm bench (.*)`/.exec(r1.stderr);
  assert.ok(hint, r1.stderr);
  const hinted = hint[1].split(' ');
  assert.equal(hinted.filter((x) => x === '--run').length, 1);
  const r2 = await startCli(hinted).done;
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal((JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as BenchSummary).complete, true);
  const all = readPoints(runDir);
  assert.equal(all.length, 4);
  assert.equal(new Set(all.map((p) => p.key)).size, 4, 'no point repeated');
  assert.equal(fs.readFileSync(path.join(runDir, 'points.jsonl'), 'utf8').split('\n')[0], firstLine, 'finished points untouched');
  const s2 = JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as BenchSummary;
  assert.equal(s2.points.length, 4);
  assert.match(r2.stdout, /int8-w8a8/);
});
