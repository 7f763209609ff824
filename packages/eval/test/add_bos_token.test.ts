/** Issue 20, item 6: lm-eval's add_bos_token is a flag that reaches the model and is recorded in both result files. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@quantbench/engine';
import type { LoadOptions } from '../src/engine_lm.ts';
import { main } from '../src/cli.ts';
import { evalFile, readEvalResult } from '../src/run_files.ts';
import { fakeLoader } from './fake_model.ts';

test('--add_bos_token: passed to the model, recorded in eval_*.json and in lm-eval model_args', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-bos-'));
  const fake = fakeLoader();
  const seen: LoadOptions[] = [];
  const out = path.join(dir, 'out');
  const code = await main(
    ['mmlu_abstract_algebra', '--model', 'synthetic:tiny', '--add_bos_token', '--num_fewshot', '1', '--data-dir', path.join(REPO_ROOT, 'datasets/eval/fixtures'),
      '--out', out, '--cache-dir', path.join(dir, 'c'), '--no-progress'],
    { loadModel: (o) => (seen.push(o), fake.load(o)), log: () => {} },
  );
  assert.equal(code, 0);
  assert.equal(seen[0].addBosToken, true);
  assert.equal(readEvalResult(evalFile(out, 'synthetic:tiny', 'fp16'))?.config.addBosToken, true);
  const lmDir = path.join(out, 'lm-eval');
  const [m] = fs.readdirSync(lmDir);
  const f = fs.readdirSync(path.join(lmDir, m)).find((x) => x.startsWith('results_'))!;
  assert.match(JSON.parse(fs.readFileSync(path.join(lmDir, m, f), 'utf8')).config.model_args, /add_bos_token=true/);
});
