/**
 * Issue 20, item 6: task text is stripped with Python's str.strip() whitespace set, not JS trim(). They differ on
 * U+001C..U+001F and U+0085 (Python strips them) and U+FEFF (JS strips it); an MMLU test question ends in U+0085.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pyIsSpace, pyLstrip, pyRstrip, pyStrip } from '../src/pystr.ts';
import { planFromDocs } from '../src/plan.ts';
import { mmluSubjectTask } from '../src/tasks/mmlu.ts';
import { winograndeFromSentence } from '../src/tasks/winogrande.ts';
import { hellaswagPreprocess } from '../src/tasks/hellaswag.ts';
import { applyPipeline } from '../src/filters.ts';

test("pyStrip strips exactly Python's str.isspace() set", () => {
  // every code point Python's str.isspace() accepts (CPython 3: _PyUnicode_IsWhitespace)
  const py = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, ...Array.from({ length: 11 }, (_, i) => 0x2000 + i), 0x2028, 0x2029, 0x202f, 0x205f, 0x3000];
  for (let c = 0; c < 0x3100; c++) {
    const ch = String.fromCharCode(c);
    assert.equal(pyIsSpace(ch), py.includes(c), `U+${c.toString(16)}`);
  }
  assert.equal(pyIsSpace('\ufeff'), false);
  assert.equal(pyStrip('\u0085 Which?\u0085'), 'Which?');
  assert.equal('Which?\u0085'.trim(), 'Which?\u0085', 'JS trim keeps NEL (the old behaviour)');
  assert.equal(pyStrip('\ufeffx'), '\ufeffx', 'Python keeps a BOM; JS trim drops it');
  assert.equal(pyLstrip('\x1c a \x1f'), 'a \x1f');
  assert.equal(pyRstrip('\x1c a \x1f'), '\x1c a');
});

test('task code uses it: MMLU question, WinoGrande continuation, HellaSwag preprocess, regex filter', () => {
  const plan = planFromDocs(mmluSubjectTask('management'), [{ question: 'Which is a manager?\u0085', choices: ['a', 'b', 'c', 'd'], answer: 0 }], null);
  assert.match(plan.docs[0].requests[0].context, /Which is a manager\?\nA\. a/);
  assert.equal(winograndeFromSentence({ sentence: 'A _ b.\u0085', option1: 'x', option2: 'y', answer: '1' }).continuation, 'b.');
  assert.equal(hellaswagPreprocess('\u0085Do it.\u0085'), 'Do it.');
  assert.equal(applyPipeline({ name: 'f', steps: [{ kind: 'regex', pattern: '#### (.*)', groupSelect: 0, fallback: '[invalid]' }] }, ['#### 42\u0085']), '42');
});
