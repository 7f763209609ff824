/** Issue 20, item 7: the eval summary is a task x precision table (value ± stderr, recovery vs fp16), with a --limit warning. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EvalResult } from '../src/schema.ts';
import { limitWarning, renderEvalTable } from '../src/summary_table.ts';

const result = (precision: string, acc: number, recoveryPct?: number): EvalResult =>
  ({
    precision,
    results: { arc_challenge: { metrics: { acc_norm: { value: acc, stderr: 0.0125 } }, numSamples: 1172, numFewshot: 25, fewshotSource: 'train', primaryMetric: 'acc_norm', recoveryPct } },
    groups: {},
  }) as unknown as EvalResult;

test('one row per task, one column per precision: value ± stderr and recovery vs fp16', () => {
  const out = renderEvalTable([result('fp16', 0.5, undefined), result('fp8-static', 0.49, 98)]);
  assert.match(out, /arc_challenge/);
  assert.match(out, /fp16 \(ref\)/);
  assert.match(out, /0\.5000 ± 0\.0125/);
  assert.match(out, /0\.4900 ± 0\.0125 \(98\.0%\)/);
  assert.match(out, /│ 25 /);
});

test('--limit warns that the numbers are not comparable', () => {
  assert.equal(limitWarning(null), null);
  assert.match(limitWarning(20) ?? '', /NOT comparable/);
  assert.match(limitWarning(0.1) ?? '', /10\.0%/);
});
