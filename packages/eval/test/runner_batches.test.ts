/** The runner's batching: longest first, the requests of one context together and in one engine call. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LM, LoglikelihoodRequest, TaskPlan } from '@quantbench/lm-eval-ts-shim';
import { RequestCache } from '../src/cache.ts';
import { groupedLengthOrder, runPlans } from '../src/runner.ts';
import { makeProgress } from '../src/progress.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

test('groupedLengthOrder: contexts by their longest request, a context\'s requests adjacent and longest first', () => {
  const reqs: LoglikelihoodRequest[] = [
    { context: 'ab', continuation: ' x' },
    { context: 'abcdef', continuation: ' y' },
    { context: 'ab', continuation: ' a much longer choice' },
    { context: 'abcdef', continuation: ' zz' },
    { context: 'q', continuation: ' 1' },
  ];
  const out = groupedLengthOrder(reqs, (r) => r.continuation);
  assert.deepEqual(
    out.map((r) => `${r.context}|${r.continuation}`),
    ['ab| a much longer choice', 'ab| x', 'abcdef| zz', 'abcdef| y', 'q| 1'],
  );
});

test('runPlans: no engine call splits the requests of one context (unless they exceed twice the batch size)', async () => {
  const docs = [3, 5, 2, 4, 9, 1].map((n, d) => ({
    docId: d,
    target: 0,
    kind: 'loglikelihood' as const,
    requests: Array.from({ length: n }, (_, i) => ({ context: `question ${d} `.repeat(d + 1), continuation: ` choice ${i}`.repeat(i + 1) })),
    choiceTexts: Array.from({ length: n }, (_, i) => `c${i}`),
    score: () => ({ acc: 0 }),
  }));
  const plan = { task: 't', version: '0', outputType: 'multiple_choice', numFewshot: 0, fewshotSource: '', evalSource: '', deviations: [], metrics: ['acc'], primaryMetric: 'acc', numDocsTotal: docs.length, docs } as unknown as TaskPlan;
  const calls: LoglikelihoodRequest[][] = [];
  const lm: LM = {
    loglikelihood: async (reqs) => {
      calls.push(reqs);
      return reqs.map(() => ({ logprob: -1, isGreedy: false }));
    },
    generateUntil: async () => [],
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-runner-'));
  try {
    await runPlans([plan], lm, new RequestCache(dir, { model: 'm', precision: 'fp16' }), { batchSize: 4, progress: makeProgress(false) });
    assert.equal(calls.flat().length, 24);
    const callOf = new Map<string, Set<number>>();
    calls.forEach((c, i) => c.forEach((r) => callOf.set(r.context, (callOf.get(r.context) ?? new Set()).add(i))));
    for (const [ctx, set] of callOf) {
      const n = docs.find((d) => d.requests[0]!.context === ctx)!.requests.length;
      if (n <= 4) assert.equal(set.size, 1, `context with ${n} requests in one call`);
    }
    assert.ok(calls.every((c) => c.length <= 8), 'a call holds at most twice the batch size');
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});
