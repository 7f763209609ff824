/**
 * Issue 20, item 1 for `pnpm bench`: at eab799f these printed "Unknown argument" (or leaked a TypeError) and then ran
 * the whole default sweep. Now each is a UsageError before any run directory is created.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UsageError } from '@quantbench/engine';
import { main } from '../src/cli.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const FAKE = path.join(here, 'fake_engine.ts');

const cases: [string[], RegExp][] = [
  [['--precison', 'fp8-static'], /unknown option --precison; did you mean --precision\?/],
  [['--device', 'tpu'], /--device: "tpu" is not one of auto, cpu, cuda/],
  [['--model', 'synthetic:tiny', '--model', 'synthetic:tiny'], /--model was given 2 times/],
  [['--precision', 'fp16', '--precision', 'fp8-static'], /--precision was given 2 times/],
  [['--num-prompts', '-3'], /--num-prompts must be a positive integer, got -3/],
  [['--num-prompts', '0'], /--num-prompts must be a positive integer, got 0/],
  [['--precision', 'fp8static'], /unknown precision "fp8static".*did you mean fp8-static/],
  [['--model', ''], /--model needs a value/],
  [['--model', '/nonexistent/model'], /--model: \/nonexistent\/model does not exist/],
  [['--batch', '4,,8'], /--batch takes positive integers/],
];

for (const [args, re] of cases) {
  test(`pnpm bench ${args.join(' ')}: refused before any work`, async () => {
    const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-contract-'));
    await assert.rejects(
      main(['--engine-module', FAKE, '--results-dir', resultsDir, '--run', 'r', '--device', 'cpu', ...args]),
      (e: Error & { code?: string }) => (e instanceof UsageError || e.code === 'BAD_OPTION') && re.test(e.message) && !e.message.includes('\n'),
    );
    assert.deepEqual(fs.readdirSync(resultsDir), [], 'no run directory written');
  });
}

test('pnpm bench --precison ...: exit 2 with one line on stderr, nothing run', () => {
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-contract-'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, '../src/cli.ts'), '--engine-module', FAKE, '--results-dir', resultsDir, '--precison', 'fp8-static'], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^error: unknown option --precison; did you mean --precision\?/);
  assert.equal(r.stdout, '');
  assert.deepEqual(fs.readdirSync(resultsDir), []);
});
