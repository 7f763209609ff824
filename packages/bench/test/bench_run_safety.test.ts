/**
 * Issue 20, item 3: `--run` stays inside --results-dir, a run directory is locked while a process writes it, and
 * `--resume` refuses another setup naming the field. At eab799f `--run ../../x` wrote outside the results dir, two
 * benches into one run recorded every point twice, and `--resume` with another model or prompt count mixed setups.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isUsageError, REPO_ROOT } from '@quantbench/engine';
import { quietMain } from './quiet_main.ts';
import { readPoints } from '../src/run_dir.ts';
import { LOCK_FILE, lockRunDir, resumeCommand, runDirFor } from '../src/run_safety.ts';
import type { BenchSummary } from '../src/schema.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const FAKE = path.join(here, 'fake_engine.ts');
const base = ['--engine-module', FAKE, '--device', 'cpu', '--precision', 'fp16', '--batch', '2', '--workload', 'custom', '--input-len', '16', '--output-len', '4', '--num-prompts', '4', '--no-quick'];

test('--run must be a plain name inside --results-dir', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-safety-'));
  const resultsDir = path.join(root, 'results');
  for (const bad of ['../../x', '../x', 'a/b', '..', '.', '/tmp/x']) {
    await assert.rejects(quietMain([...base, '--results-dir', resultsDir, '--run', bad]), (e: Error) => isUsageError(e) && /--run .* must be a plain name/.test(e.message), bad);
  }
  assert.deepEqual(fs.readdirSync(root), [], 'nothing written anywhere');
  assert.equal(runDirFor(resultsDir, 'ok-1.2_x'), path.join(resultsDir, 'ok-1.2_x'));
});

test('a run directory held by a live process is refused; a stale lock is taken over', async () => {
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-safety-'));
  const runDir = path.join(resultsDir, 'r');
  fs.mkdirSync(runDir);
  const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    fs.writeFileSync(path.join(runDir, LOCK_FILE), JSON.stringify({ pid: holder.pid, host: os.hostname(), since: 'now' }));
    await assert.rejects(quietMain([...base, '--results-dir', resultsDir, '--run', 'r']), (e: Error & { code?: string }) => e.code === 'RUN_LOCKED' && e.message.includes(String(holder.pid)));
    assert.equal(readPoints(runDir).length, 0);
  } finally {
    holder.kill();
  }
  await new Promise((r) => holder.once('exit', r));
  // the holder is gone: its lock is stale
  assert.equal(await quietMain([...base, '--results-dir', resultsDir, '--run', 'r']), 0);
  assert.equal(readPoints(runDir).length, 1);
  assert.equal(fs.existsSync(path.join(runDir, LOCK_FILE)), false, 'lock released at the end');
  const l = lockRunDir(runDir);
  assert.throws(() => lockRunDir(path.join(runDir)), /being written by process/);
  l.release();
});

test('--resume refuses a different setup and names the field', async () => {
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-safety-'));
  assert.equal(await quietMain([...base, '--results-dir', resultsDir, '--run', 'r']), 0);
  const swap = (flag: string, v: string) => base.map((x, i) => (base[i - 1] === flag ? v : x));
  await assert.rejects(
    quietMain([...swap('--num-prompts', '6'), '--results-dir', resultsDir, '--run', 'r', '--resume']),
    (e: Error & { code?: string }) => e.code === 'SETUP_MISMATCH' && /numPrompts \(--num-prompts\) was 4 .* now 6/.test(e.message),
  );
  await assert.rejects(
    quietMain([...base, '--model', 'synthetic:llama-3.1-8b', '--results-dir', resultsDir, '--run', 'r', '--resume']),
    (e: Error & { code?: string }) => e.code === 'SETUP_MISMATCH' && /model \(--model\)/.test(e.message),
  );
  await assert.rejects(
    quietMain([...swap('--input-len', '32'), '--results-dir', resultsDir, '--run', 'r', '--resume']),
    (e: Error & { code?: string }) => e.code === 'SETUP_MISMATCH' && /inputLen/.test(e.message),
  );
  // another precision with the same setup is what --resume is for
  assert.equal(await quietMain([...swap('--precision', 'fp16,fp8-dynamic'), '--results-dir', resultsDir, '--run', 'r', '--resume']), 0);
  assert.equal(readPoints(path.join(resultsDir, 'r')).length, 2);
});

test('the resume hint keeps the flags, names --run once, and quotes for the shell', () => {
  assert.equal(resumeCommand(['--run', 'old', '--batch', '1,4', '--resume', '--goodput', 'ttft:5 tpot:1'], 'r1'), "pnpm bench --batch 1,4 --goodput 'ttft:5 tpot:1' --run r1 --resume");
  assert.equal(resumeCommand(['--run=old', '--quick'], 'r1'), 'pnpm bench --quick --run r1 --resume');
});

const pnpm = spawnSync('pnpm', ['--version'], { encoding: 'utf8' }).status === 0;

test('Ctrl-C through `pnpm bench` (SIGINT to the whole foreground process group) stops gracefully with the summary', { skip: !pnpm && 'pnpm not on PATH' }, async () => {
  // A terminal's Ctrl-C signals every process of the foreground group. At eab799f the script ran tsx, whose parent
  // re-sent the signal after 30 ms and then SIGKILLed a child busy in a long engine step: no summary.
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-pnpm-int-'));
  const runDir = path.join(resultsDir, 'r');
  const child = spawn('pnpm', ['--silent', 'bench', ...base.map((x) => (x === '4' ? '64' : x)), '--results-dir', resultsDir, '--run', 'r'], {
    cwd: REPO_ROOT,
    detached: true,
    env: { ...process.env, QB_FAKE_STEP_MS: '1500' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const deadline = Date.now() + 30_000;
  while (!fs.existsSync(runDir)) {
    assert.ok(Date.now() < deadline, `pnpm bench did not start within 30 s: ${stderr}`);
    await sleep(50);
  }
  await sleep(2500); // inside a long engine step
  process.kill(-(child.pid as number), 'SIGINT');
  const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout' as const)]);
  if (code === 'timeout') process.kill(-(child.pid as number), 'SIGKILL');
  assert.notEqual(code, 'timeout', 'pnpm bench did not stop within 30 s of Ctrl-C');
  assert.notEqual(code, 0, stderr);
  const s = JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as BenchSummary;
  assert.equal(s.complete, false);
  assert.match(stderr, /continue with `pnpm bench/);
});
