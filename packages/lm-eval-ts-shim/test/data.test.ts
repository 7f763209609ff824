/** Readers for the data formats (in-memory / temp files; shared data checks live in packages/eval/test). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseCsv, parseCsvObjects } from '../src/data/csv.ts';
import { readRows } from '../src/data/readers.ts';
import { findShards, loadSplit } from '../src/data/resolve.ts';
import { ARC_CHALLENGE } from '../src/tasks/arc.ts';

test('CSV: quoted fields with commas, doubled quotes, newlines and CRLF', () => {
  assert.deepEqual(parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",2\n'), [
    ['a', 'b'],
    ['x, y', 'say "hi"'],
    ['multi\nline', '2'],
  ]);
  assert.deepEqual(parseCsvObjects('question,answer\nq1,3\n'), [{ question: 'q1', answer: '3' }]);
});

test('HF layout: shards found by split name, rows mapped through the task source', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-shim-'));
  const arcDir = path.join(dir, 'datasets/hf/allenai/ai2_arc/ARC-Challenge');
  fs.mkdirSync(arcDir, { recursive: true });
  const row = (q: string, key: string) => JSON.stringify({ id: q, question: q, choices: { text: ['a', 'b', 'c'], label: ['A', 'B', 'C'] }, answerKey: key });
  fs.writeFileSync(path.join(arcDir, 'train-00000-of-00001.jsonl'), `${row('t1', 'B')}\n${row('t2', 'C')}\n`);
  fs.writeFileSync(path.join(arcDir, 'test-00000-of-00001.jsonl'), `${row('e1', 'A')}\n`);
  assert.deepEqual(findShards(arcDir, 'train').map((f) => path.basename(f)), ['train-00000-of-00001.jsonl']);
  const train = await loadSplit(dir, ARC_CHALLENGE.data.fewshot);
  assert.ok(train);
  assert.deepEqual(train.docs.map((d) => d.gold), [1, 2]);
  assert.equal(train.source, 'ARC-Challenge train (HF ai2_arc layout)');
  const rows = await readRows(path.join(arcDir, 'test-00000-of-00001.jsonl'));
  assert.equal(rows.length, 1);
  fs.rmSync(dir, { recursive: true });
});
