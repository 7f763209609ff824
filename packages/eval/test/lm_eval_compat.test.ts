/**
 * Issue 20, items 2 and 7, end to end on stories260K: `pnpm eval leaderboard-v1 --limit 1` with lm-eval's flags
 * (--num_fewshot absent: the group's protocol; --output_path, --log_samples, --batch_size, --seed) writes lm-eval's
 * results_<date>.json and samples_<task>_<date>.jsonl beside our files; ARC-Challenge reports 25-shot and WinoGrande
 * 5-shot from train. scripts/compat/read_lm_eval_results.py reads the file with lm-eval's field names only.
 * At eab799f --output_path / --log_samples were ignored and both tasks ran 0-shot.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { dataPath, missingDataMessage, REPO_ROOT } from '@quantbench/engine';
import { main } from '../src/cli.ts';
import { engineAvailable, loadEngineLM } from '../src/engine_lm.ts';
import { evalFile, readEvalResult } from '../src/run_files.ts';

const model = dataPath('models/stories260K/hf');
const skip = !engineAvailable()
  ? 'engine not available'
  : !model
    ? missingDataMessage('models/stories260K/hf')
    : !dataPath('datasets/arc/arc_challenge_train.jsonl')
      ? missingDataMessage('datasets/arc/arc_challenge_train.jsonl')
      : false;

test('pnpm eval leaderboard-v1 --limit 1 --output_path --log_samples: lm-eval files, 25-shot ARC and 5-shot WinoGrande from train', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-lmeval-'));
  const lmOut = path.join(dir, 'lm');
  const logs: string[] = [];
  const code = await main(
    ['--tasks', 'leaderboard-v1', '--model', model as string, '--precision', 'fp16', '--limit', '1', '--batch_size', 'auto', '--seed', '0,1234,1234,1234',
      '--output_path', lmOut, '--log_samples', '--out', path.join(dir, 'out'), '--cache-dir', path.join(dir, 'cache'), '--no-progress'],
    { loadModel: loadEngineLM, log: (m) => logs.push(m) },
  );
  assert.equal(code, 0, logs.join('\n'));
  assert.ok(logs.some((l) => /NOT comparable/.test(l)), 'the --limit warning');
  const ours = readEvalResult(evalFile(path.join(dir, 'out'), model as string, 'fp16'));
  assert.ok(ours);
  assert.equal(ours.config.addBosToken, false);
  assert.equal(ours['n-shot'].arc_challenge, 25);
  assert.match(ours.results.arc_challenge.fewshotSource, /ARC-Challenge train/);
  assert.equal(ours['n-shot'].winogrande, 5);
  assert.match(ours.results.winogrande.fewshotSource, /winogrande_xl train/);

  const [modelDir] = fs.readdirSync(lmOut);
  const files = fs.readdirSync(path.join(lmOut, modelDir));
  const resultsFile = files.find((f) => /^results_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{6}\.json$/.test(f));
  assert.ok(resultsFile, files.join(', '));
  assert.ok(files.some((f) => /^samples_arc_challenge_\d{4}-.*\.jsonl$/.test(f)), files.join(', '));
  const r = JSON.parse(fs.readFileSync(path.join(lmOut, modelDir, resultsFile), 'utf8'));
  for (const k of ['results', 'groups', 'group_subtasks', 'configs', 'versions', 'n-shot', 'higher_is_better', 'n-samples']) assert.ok(k in r, k);
  assert.equal(typeof r.results.arc_challenge['acc_norm,none'], 'number');
  assert.ok('acc_norm_stderr,none' in r.results.arc_challenge);
  assert.equal(typeof r.results.gsm8k['exact_match,strict-match'], 'number');
  assert.equal(r['n-shot'].arc_challenge, 25);
  assert.deepEqual(r['n-samples'].arc_challenge, { original: 1172, effective: 1 });
  assert.ok(r.group_subtasks['leaderboard-v1'].includes('arc_challenge'));
  assert.equal(r.higher_is_better.winogrande.acc, true);
  assert.equal(r.config.fewshot_seed, 1234);
  assert.match(r.config.model_args, /add_bos_token=false/);
  const sample = JSON.parse(fs.readFileSync(path.join(lmOut, modelDir, files.find((f) => f.startsWith('samples_arc_challenge_'))!), 'utf8').split('\n')[0]);
  for (const k of ['doc_id', 'doc', 'target', 'arguments', 'resps', 'filtered_resps', 'doc_hash', 'prompt_hash', 'target_hash', 'acc_norm']) assert.ok(k in sample, k);
  assert.match(sample.arguments.gen_args_0.arg_0, /^Question: /);

  const py = spawnSync('python3', [path.join(REPO_ROOT, 'scripts/compat/read_lm_eval_results.py'), lmOut], { encoding: 'utf8' });
  if (!py.error) {
    assert.equal(py.status, 0, py.stderr + py.stdout);
    assert.match(py.stdout, /task arc_challenge acc_norm,none = [0-9.]+ ± [0-9.N/A]+ n-shot=25 n-samples=1\/1172/);
    assert.match(py.stdout, /group leaderboard-v1 score,none/);
  }
});
