/**
 * Issue 20, item 1 for `pnpm eval`: at eab799f `--bogus` was ignored (results written to results/eval-hf/),
 * `--tasks mmlu` crashed with "Cannot read properties of undefined (reading 'split')", `--limit -1` ran the full task
 * and `--limit 0` / `abc` wrote NaN results with exit 0. Each is now a UsageError before a model loads.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { isUsageError, REPO_ROOT } from '@quantbench/engine';
import { main } from '../src/cli.ts';
import { fewshotSeed, parseBatchSize, resolveTaskArg } from '../src/contract.ts';

const FIXTURES = path.join(REPO_ROOT, 'datasets/eval/fixtures');
const noModel = {
  loadModel: () => Promise.reject(new Error('a model was loaded: validation came too late')),
  log: () => {},
};

const cases: [string[], RegExp][] = [
  [['mmlu_abstract_algebra', '--bogus'], /unknown option --bogus/],
  [['mmlu_abstract_algebra', '--num-fewshots', '2'], /did you mean --num-fewshot\?/],
  [['--tasks'], /--tasks needs a value/],
  [[], /name a task or group/],
  [['mmlux'], /unknown task or group "mmlux"; did you mean mmlu\?/],
  [['mmlu_abstract_algebra', '--limit', '-1'], /--limit must be > 0, got -1/],
  [['mmlu_abstract_algebra', '--limit', '0'], /--limit must be > 0, got 0/],
  [['mmlu_abstract_algebra', '--limit', 'abc'], /--limit needs a number/],
  [['mmlu_abstract_algebra', '--limit', '2.5'], /--limit: 2.5 is neither/],
  [['mmlu_abstract_algebra', '--num_fewshot', '-1'], /--num-fewshot must be an integer >= 0/],
  [['mmlu_abstract_algebra', '--precision', 'fp16', '--precision', 'fp8-static'], /--precision was given 2 times/],
  [['mmlu_abstract_algebra', '--precision', 'fp8static'], /did you mean fp8-static\?/],
  [['mmlu_abstract_algebra', '--batch_size', '0'], /--batch-size must be a positive integer or auto/],
  [['mmlu_abstract_algebra', '--seed', '1,2'], /--seed takes one integer or four/],
];

for (const [args, re] of cases) {
  test(`pnpm eval ${args.join(' ')}: refused before any work`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-eval-contract-'));
    const argv = [...args, '--data-dir', FIXTURES, '--out', path.join(dir, 'out'), '--cache-dir', path.join(dir, 'cache'), '--no-progress'];
    if (!args.includes('--model')) argv.push('--model', 'synthetic:tiny');
    await assert.rejects(main(argv, noModel), (e: Error) => isUsageError(e) && re.test(e.message) && !e.message.includes('\n'));
    assert.equal(fs.existsSync(path.join(dir, 'out')), false, 'nothing written');
  });
}

test('pnpm eval perplexity --text MISSING: refused before a model loads', async () => {
  await assert.rejects(
    main(['perplexity', '--text', '/nonexistent/t.txt', '--model', 'synthetic:tiny'], noModel),
    (e: Error) => isUsageError(e) && /--text: \/nonexistent\/t.txt is not a file/.test(e.message),
  );
});

test("lm-eval's --tasks, --seed and --batch_size forms", () => {
  assert.equal(resolveTaskArg(undefined, 'mmlu,arc_challenge'), 'mmlu,arc_challenge');
  assert.equal(resolveTaskArg('mmlu', 'mmlu'), 'mmlu');
  assert.throws(() => resolveTaskArg('mmlu', 'arc_challenge'), /differ/);
  assert.equal(fewshotSeed('0,1234,1234,42'), 42);
  assert.equal(fewshotSeed('7'), 7);
  assert.equal(fewshotSeed(undefined), 1234);
  assert.equal(parseBatchSize('auto'), 64);
  assert.equal(parseBatchSize('auto:4'), 64);
  assert.equal(parseBatchSize('8'), 8);
});
