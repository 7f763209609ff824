/** GSM8K filters and exact_match; expectations computed with Python's re on the same strings and lm-eval's settings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyPipeline, exactMatch } from '../src/filters.ts';
import { cutAtStop } from '../src/lm.ts';
import { planFromDocs } from '../src/plan.ts';
import { GSM8K } from '../src/tasks/gsm8k.ts';

const [strict, flexible] = GSM8K.filters;

test('strict-match takes "#### n", flexible-extract the last number-like match', () => {
  const cases: [string, string, string][] = [
    ['The answer is 1,234.\n#### 1,234', '1,234', '1,234'],
    ['so $18 total. Then 7', '[invalid]', '7'],
    ['no number', '[invalid]', '[invalid]'],
    ['#### -3.5.', '-3.5.', '-3.5.'],
  ];
  for (const [text, s, f] of cases) {
    assert.equal(applyPipeline(strict, [text]), s, text);
    assert.equal(applyPipeline(flexible, [text]), f, text);
  }
});

test('exact_match drops commas, $, everything up to "#### " and a final period; ignores case', () => {
  const o = GSM8K.exactMatch;
  assert.equal(exactMatch('1,234', 'x\n#### 1234', o), 1);
  assert.equal(exactMatch('$18.', 'a\n#### 18', o), 1);
  assert.equal(exactMatch('18.\n', '#### 18', o), 0);
  assert.equal(exactMatch('7', '#### 18', o), 0);
});

test('a GSM8K doc scores both filters from one generation', () => {
  const doc = { question: 'q', answer: 'steps\n#### 42' };
  const d = planFromDocs(GSM8K, [doc], null).docs[0];
  assert.deepEqual(d.score({ kind: 'generate_until', text: ' 6*7=42. The answer is 42.\n#### 42' }), {
    'exact_match,strict-match': 1,
    'exact_match,flexible-extract': 1,
  });
  assert.deepEqual(d.score({ kind: 'generate_until', text: ' It is 42, not 41' }), {
    'exact_match,strict-match': 0,
    'exact_match,flexible-extract': 0,
  });
});

test('generation is cut at the earliest stop string', () => {
  assert.equal(cutAtStop('abc Question: x </s>', ['</s>', 'Question:']), 'abc ');
  assert.equal(cutAtStop('abc', ['Question:']), 'abc');
});
