/** Issue 20, item 3 for `pnpm eval`: default run names that do not collide, and one writer per run directory. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@quantbench/engine';
import { main } from '../src/cli.ts';
import { modelLabel } from '../src/run_files.ts';
import { fakeLoader } from './fake_model.ts';

test('a model directory named hf is labelled with its parent (results/eval-hf for every model at eab799f)', () => {
  assert.equal(modelLabel('/x/models/stories260K/hf'), 'stories260K_hf');
  assert.equal(modelLabel('/x/models/Llama-3.1-8B/hf'), 'Llama-3.1-8B_hf');
  assert.notEqual(modelLabel('/a/one/hf'), modelLabel('/a/two/hf'));
  assert.equal(modelLabel('/x/Meta-Llama-3.1-8B-Instruct'), 'Meta-Llama-3.1-8B-Instruct');
  assert.equal(modelLabel('synthetic:tiny'), 'tiny');
});

test('pnpm eval into a run directory another live process is writing is refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-eval-lock-'));
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    fs.writeFileSync(path.join(out, 'run.lock'), JSON.stringify({ pid: holder.pid, host: os.hostname() }));
    const fake = fakeLoader();
    await assert.rejects(
      main(['mmlu_abstract_algebra', '--model', 'synthetic:tiny', '--data-dir', path.join(REPO_ROOT, 'datasets/eval/fixtures'), '--out', out, '--cache-dir', path.join(dir, 'c'), '--no-progress'], { loadModel: fake.load, log: () => {} }),
      (e: Error & { code?: string }) => e.code === 'RUN_LOCKED',
    );
    assert.equal(fake.models.length, 0, 'no model loaded');
  } finally {
    holder.kill();
  }
});
