/** The whole eval pipeline on invented fixtures (datasets/eval/fixtures) with a deterministic fake model. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@quantbench/engine';
import { EvalError } from '../src/errors.ts';
import { runEval, type EvalArgs } from '../src/evaluate.ts';
import { evalFile, fidelityFile, readEvalResult, readFidelity, readSamples, samplesFile } from '../src/run_files.ts';
import { fakeLoader } from './fake_model.ts';

const FIXTURES = path.join(REPO_ROOT, 'datasets/eval/fixtures');
const TASKS = 'mmlu_abstract_algebra,arc_challenge,hellaswag,truthfulqa_mc1,truthfulqa_mc2,winogrande,gsm8k';

function args(dir: string, over: Partial<EvalArgs> = {}): EvalArgs {
  return {
    tasks: TASKS,
    model: '/models/fake-llama',
    precisions: ['int8-w8a8', 'fp16'],
    numFewshot: 2,
    limit: null,
    batchSize: 4,
    dataDir: FIXTURES,
    out: path.join(dir, 'out'),
    cacheDir: path.join(dir, 'cache'),
    progress: false,
    ...over,
  };
}

const quiet = () => {};

test('results, samples, recovery and fidelity files are written and agree with the per-sample data', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-eval-'));
  const fake = fakeLoader();
  const a = args(dir);
  const res = await runEval(a, { loadModel: fake.load, log: quiet });
  assert.deepEqual(res.results.map((r) => r.precision), ['fp16', 'int8-w8a8'], 'fp16 runs first');
  assert.ok(fake.models.every((m) => m.closed));

  const fp16 = readEvalResult(evalFile(a.out, a.model, 'fp16'));
  const q = readEvalResult(evalFile(a.out, a.model, 'int8-w8a8'));
  assert.ok(fp16 && q);
  assert.equal(fp16.results.mmlu_abstract_algebra.numFewshot, 2);
  assert.equal(fp16.results.mmlu_abstract_algebra.fewshotSource, 'mmlu dev (hendrycks CSV)');
  assert.match(fp16.results.arc_challenge.fewshotSource, /^none \(0-shot\): train split absent/);
  assert.equal(fp16['n-shot'].arc_challenge, 0);
  assert.equal(fp16['n-shot'].gsm8k, 2);
  assert.equal(fp16.results.gsm8k.fewshotSource, 'gsm8k train (official JSONL)');
  assert.ok(fp16.results.hellaswag.deviations?.some((d) => d.includes('ctx_b')));
  assert.equal(fp16.config.requests?.fromCache, 0);
  // truthfulqa_mc1 and mc2 share identical requests: each is computed once
  assert.ok((fp16.config.requests?.computed as number) < (fp16.config.requests?.total as number));

  for (const [task, tr] of Object.entries(q.results)) {
    const samples = readSamples(samplesFile(a.out, task, 'int8-w8a8'));
    assert.ok(samples, task);
    assert.equal(samples.length, tr.numSamples);
    for (const [m, v] of Object.entries(tr.metrics)) {
      const mean = samples.reduce((s, x) => s + x.metrics[m], 0) / samples.length;
      assert.ok(Math.abs(mean - v.value) < 1e-12, `${task} ${m}`);
    }
    const ref = fp16.results[task].metrics[tr.primaryMetric].value;
    if (ref > 0) assert.ok(Math.abs((tr.recoveryPct as number) - (100 * tr.metrics[tr.primaryMetric].value) / ref) < 1e-9, task);
  }
  // The fake answers GSM8K doc 0 right at fp16 (#### 20) and wrong when quantized (#### 21).
  assert.equal(fp16.results.gsm8k.metrics['exact_match,strict-match'].value, 0.5);
  assert.equal(q.results.gsm8k.metrics['exact_match,strict-match'].value, 0);

  const fid = readFidelity(fidelityFile(a.out, a.model, 'int8-w8a8'));
  assert.ok(fid);
  assert.equal(fid.reference, 'fp16');
  assert.deepEqual(
    { r2w: fid.perTask.gsm8k.flipsRightToWrong, w2r: fid.perTask.gsm8k.flipsWrongToRight, kl: fid.perTask.gsm8k.choiceKl, agree: fid.perTask.gsm8k.top1Agreement },
    { r2w: 1, w2r: 0, kl: null, agree: 0 },
  );
  const arcRef = readSamples(samplesFile(a.out, 'arc_challenge', 'fp16'))!;
  const arcQ = readSamples(samplesFile(a.out, 'arc_challenge', 'int8-w8a8'))!;
  let r2w = 0;
  let w2r = 0;
  arcRef.forEach((r, i) => {
    if (r.metrics.acc_norm === 1 && arcQ[i].metrics.acc_norm === 0) r2w++;
    if (r.metrics.acc_norm === 0 && arcQ[i].metrics.acc_norm === 1) w2r++;
  });
  assert.equal(fid.perTask.arc_challenge.flipsRightToWrong, r2w);
  assert.equal(fid.perTask.arc_challenge.flipsWrongToRight, w2r);
  assert.ok((fid.perTask.arc_challenge.choiceKl as number) > 0, 'noise makes the choice distributions differ');
  fs.rmSync(dir, { recursive: true });
});

test('a rerun answers everything from the request cache and reproduces the scores', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-eval-'));
  const a = args(dir, { precisions: ['fp16'] });
  const first = await runEval(a, { loadModel: fakeLoader().load, log: quiet });
  const again = fakeLoader();
  const second = await runEval(a, { loadModel: again.load, log: quiet });
  assert.equal(again.models[0].calls.requests, 0);
  assert.equal(second.stats.fp16.computed, 0);
  assert.equal(second.stats.fp16.fromCache, first.stats.fp16.computed);
  assert.deepEqual(second.results[0].results, first.results[0].results);
  fs.rmSync(dir, { recursive: true });
});

test('an interrupted run keeps the answered batches and the rerun computes only the rest', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-eval-'));
  const a = args(dir, { precisions: ['fp16'], tasks: 'arc_challenge,winogrande', batchSize: 3 });
  let batches = 0;
  await assert.rejects(
    runEval(a, { loadModel: fakeLoader().load, log: quiet, shouldStop: () => batches++ >= 2 }),
    (e: unknown) => e instanceof EvalError && e.code === 'INTERRUPTED',
  );
  const cacheFiles = fs.readdirSync(a.cacheDir);
  assert.equal(cacheFiles.length, 1);
  const lines = fs.readFileSync(path.join(a.cacheDir, cacheFiles[0]), 'utf8').trim().split('\n');
  // two batches were saved: at least 3 requests each, at most 6 (a batch grows to keep a context's requests together)
  assert.ok(lines.length >= 6 && lines.length <= 12, `two batches saved (${lines.length} lines)`);
  const resume = fakeLoader();
  const res = await runEval(a, { loadModel: resume.load, log: quiet });
  assert.equal(res.stats.fp16.fromCache, lines.length);
  assert.equal(resume.models[0].calls.requests, res.stats.fp16.total - lines.length);
  fs.rmSync(dir, { recursive: true });
});

test('--limit evaluates the first N documents of each task', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-eval-'));
  const a = args(dir, { precisions: ['fp16'], limit: 1 });
  const res = await runEval(a, { loadModel: fakeLoader().load, log: quiet });
  for (const t of Object.values(res.results[0].results)) assert.equal(t.numSamples, 1);
  fs.rmSync(dir, { recursive: true });
});
