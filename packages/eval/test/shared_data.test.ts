/** Checks against the real shared data (skipped with a message when the data dir is absent). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { dataPath, missingDataMessage, resolveDataDir } from '@quantbench/engine';
import { TASKS, TRUTHFULQA_PRIMER_QA, expand } from '@quantbench/lm-eval-ts-shim';

const dataDir = resolveDataDir();

test('every task loads the shared data with the documented row counts', { skip: dataDir ? false : missingDataMessage('datasets/') }, async () => {
  const counts: Record<string, number> = {
    arc_challenge: 1172,
    arc_easy: 2376,
    winogrande: 1267,
    hellaswag: 10042,
    truthfulqa_mc1: 817,
    truthfulqa_mc2: 817,
    gsm8k: 1319,
  };
  for (const [name, n] of Object.entries(counts)) {
    const plan = await TASKS.get(name)!.prepare(dataDir as string, { limit: 1 });
    assert.equal(plan.numDocsTotal, n, name);
  }
  const mmlu = expand('mmlu');
  assert.equal(mmlu.tasks.length, 57);
  let test = 0;
  for (const t of mmlu.tasks) test += (await TASKS.get(t.name)!.prepare(dataDir as string, { limit: 0, numFewshot: 5 })).numDocsTotal;
  assert.equal(test, 14042);
});

test('GSM8K 5-shot draws the same train questions as lm-eval (CPython random.Random(1234).sample)', { skip: dataPath('datasets/gsm8k/train.jsonl') ? false : missingDataMessage('datasets/gsm8k/train.jsonl') }, async () => {
  const train = fs
    .readFileSync(dataPath('datasets/gsm8k/train.jsonl') as string, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { question: string }).question);
  const plan = await TASKS.get('gsm8k')!.prepare(dataDir as string, { limit: 2 });
  const expectIdx = [
    [6374, 3610, 957, 61, 742],
    [7462, 6610, 4769, 286, 5501],
  ];
  plan.docs.forEach((d, i) => {
    const ctx = d.generate!.context;
    const want = expectIdx[i].map((j) => `Question: ${train[j]}\nAnswer:`).join('');
    const got = ctx.split('\n\n').filter((s) => s.startsWith('Question: ')).slice(0, 5).map((s) => s.split('\nAnswer:')[0] + '\nAnswer:').join('');
    assert.equal(got, want, `doc ${i}`);
  });
});

test("TruthfulQA's template primer is the shared file's six QA pairs", { skip: dataPath('datasets/truthfulqa/truthfulqa_en_train_fewshot.json') ? false : missingDataMessage('datasets/truthfulqa/truthfulqa_en_train_fewshot.json') }, () => {
  const rows = JSON.parse(fs.readFileSync(dataPath('datasets/truthfulqa/truthfulqa_en_train_fewshot.json') as string, 'utf8')) as { question: string; best_answer: string }[];
  assert.deepEqual(rows.map((r) => [r.question, r.best_answer]), TRUTHFULQA_PRIMER_QA);
});
