import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { choiceKl, compareSamples, klFromLogprobs, perplexity } from '../src/fidelity.ts';
import { chunkText, runPerplexity } from '../src/perplexity_cmd.ts';
import { fidelityFile, readFidelity } from '../src/run_files.ts';
import { fakeLoader } from './fake_model.ts';

const TEXT = 'Once upon a time there was a small cat.\n\nThe cat liked to sleep in the sun all day long.\n\nOne day it met a dog.';

test('perplexity per precision, and next-token KL / top-1 agreement vs fp16 merged into the fidelity file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-ppl-'));
  const file = path.join(dir, 'story.txt');
  fs.writeFileSync(file, TEXT);
  const out = path.join(dir, 'out');
  const { result } = await runPerplexity(
    { text: file, model: '/m/fake', precisions: ['fp8-dynamic', 'fp16'], out, chunkChars: 50 },
    { loadModel: fakeLoader(2).load, log: () => {} },
  );
  assert.equal(result.chunks, 3);
  const n = TEXT.split('\n\n').reduce((a, c) => a + c.length - 1, 0);
  assert.equal(result.perPrecision.fp16.tokens, n);
  assert.ok(Number.isFinite(result.perPrecision.fp16.ppl) && result.perPrecision.fp16.ppl > 1);
  const v = result.vsReference['fp8-dynamic'];
  assert.ok(v.kl > 0);
  assert.ok(v.top1Agreement >= 0 && v.top1Agreement <= 1);
  assert.equal(v.tokens, n);
  const fid = readFidelity(fidelityFile(out, '/m/fake', 'fp8-dynamic'));
  assert.equal(fid?.text?.kl, v.kl);
  assert.equal(fid?.text?.pplRef, result.perPrecision.fp16.ppl);

  const same = await runPerplexity(
    { text: file, model: '/m/fake', precisions: ['fp16', 'int8-w8a8'], out: path.join(dir, 'o2'), chunkChars: 1000 },
    { loadModel: fakeLoader(0).load, log: () => {} },
  );
  assert.ok(Math.abs(same.result.vsReference['int8-w8a8'].kl) < 1e-6);
  assert.equal(same.result.vsReference['int8-w8a8'].top1Agreement, 1);
  fs.rmSync(dir, { recursive: true });
});

test('chunkText splits at paragraph, line or space boundaries within the limit', () => {
  const c = chunkText('aaaa bbbb\n\ncccc dddd eeee', 12);
  assert.deepEqual(c, ['aaaa bbbb', 'cccc dddd', 'eeee']);
  assert.ok(chunkText('x'.repeat(25), 10).every((s) => s.length <= 10));
});

test('KL, choice KL and perplexity on hand-computed values', () => {
  const p = [Math.log(0.5), Math.log(0.5)];
  const q = [Math.log(0.25), Math.log(0.75)];
  assert.ok(Math.abs(klFromLogprobs(p, q) - (0.5 * Math.log(2) + 0.5 * Math.log(0.5 / 0.75))) < 1e-12);
  // choice log-likelihoods are unnormalized: shifting all by a constant changes nothing
  assert.ok(Math.abs(choiceKl([-1, -2, -3], [-11, -12, -13])) < 1e-12);
  assert.ok(choiceKl([-1, -2], [-2, -1]) > 0);
  assert.ok(Math.abs(perplexity([Math.log(0.5), Math.log(0.5)]) - 2) < 1e-12);
  const s = (docId: number, acc: number, lp: number[]) => ({ task: 't', docId, target: 0, metrics: { acc }, choices: lp.map((logprob) => ({ logprob, isGreedy: false, numChars: 1 })) });
  const f = compareSamples([s(0, 1, [-1, -2]), s(1, 0, [-2, -1]), s(2, 1, [-1, -3])], [s(0, 0, [-2, -1]), s(1, 1, [-1, -2]), s(2, 1, [-1, -3])], 'acc');
  assert.equal(f.flipsRightToWrong, 1);
  assert.equal(f.flipsWrongToRight, 1);
  assert.equal(f.numCompared, 3);
  assert.ok(Math.abs(f.top1Agreement - 1 / 3) < 1e-12);
});
