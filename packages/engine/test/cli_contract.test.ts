/**
 * Issue 20, item 1: the CLI contract. Unknown flags (with the nearest valid one), bad choices, repeated scalar
 * options, empty values, negative or zero counts stop before any work with a UsageError (exit 2, one line); these are
 * the cases that misbehaved at eab799f. The CLIs themselves are spawned once each for the exit code and the one line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import yargs from 'yargs';
import { applyContract, errorReport, nearest, REPO_ROOT, UsageError, type Contract } from '@quantbench/engine';

async function parse(argv: string[], c: Contract = { positiveInts: ['num-prompts'] }): Promise<unknown> {
  let ran = false;
  await applyContract(yargs(argv).scriptName('t'), argv, c)
    .option('model', { type: 'string' })
    .option('precision', { type: 'string' })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
    .option('num-prompts', { type: 'number' })
    .option('goodput', { type: 'string', array: true })
    .command('$0', 'work', (y) => y, () => { ran = true; })
    .parseAsync();
  return ran;
}

const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n');

test('unknown flag: refused before the command runs, naming the nearest valid flag', async () => {
  await assert.rejects(parse(['--precison', 'fp8-static']), usage(/unknown option --precison; did you mean --precision\?/));
});

test('bad choice names the flag and the nearest choice', async () => {
  await assert.rejects(parse(['--device', 'cudaa']), usage(/--device: "cudaa" is not one of auto, cpu, cuda; did you mean cuda\?/));
});

test('a scalar option given twice is refused (was a TypeError / "s.split is not a function")', async () => {
  await assert.rejects(parse(['--model', 'a', '--model', 'b']), usage(/--model was given 2 times/));
  await assert.rejects(parse(['--precision', 'fp16', '--precision', 'fp8-static']), usage(/--precision was given 2 times/));
  assert.equal(await parse(['--goodput', 'ttft:1', '--goodput', 'tpot:2']), true, 'array options may repeat');
});

test('empty values and non-numbers are refused', async () => {
  await assert.rejects(parse(['--model', '']), usage(/--model needs a value/));
  await assert.rejects(parse(['--model']), usage(/--model needs a value/));
  await assert.rejects(parse(['--num-prompts', 'abc']), usage(/--num-prompts needs a number/));
});

test('negative or zero counts are refused (was "Invalid array length" / a zeroed run)', async () => {
  await assert.rejects(parse(['--num-prompts', '-3']), usage(/--num-prompts must be a positive integer, got -3/));
  await assert.rejects(parse(['--num-prompts', '0']), usage(/--num-prompts must be a positive integer, got 0/));
  await assert.rejects(parse(['--num-prompts', '1.5']), usage(/positive integer/));
  assert.equal(await parse(['--num-prompts', '3']), true);
});

test('--debug is accepted everywhere; without it a usage error has no stack', () => {
  const plain = errorReport(new UsageError('--x is bad'), ['node', 'cli']);
  assert.equal(plain.code, 2);
  assert.equal(plain.line.split('\n').length, 1);
  const dbg = errorReport(new UsageError('--x is bad'), ['node', 'cli', '--debug']);
  assert.match(dbg.line, /\n\s+at /);
  const bug = errorReport(new TypeError('boom'), ['node', 'cli']);
  assert.equal(bug.code, 1);
  assert.match(bug.line, /--debug/);
});

test('nearest: close typos only', () => {
  assert.equal(nearest('precison', ['precision', 'model']), 'precision');
  assert.equal(nearest('zzzzzz', ['precision', 'model']), undefined);
});

function cli(script: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
}

test('pnpm generate / quantize: exit 2 with one line, before loading anything', () => {
  const g = cli('packages/engine/src/cli/generate.ts', ['--model', 'synthetic:tiny', '--max-tokens', '-3', 'hi']);
  assert.equal(g.status, 2, g.stderr);
  assert.equal(g.stderr.trim().split('\n').length, 1, g.stderr);
  assert.match(g.stderr, /--max-tokens must be a positive integer/);
  const q = cli('packages/engine/src/cli/quantize.ts', ['--model', 'synthetic:tiny', '--precision', 'fp8-static', '--calib-samples', '0', '--out', '/nonexistent/x']);
  assert.equal(q.status, 2, q.stderr);
  assert.match(q.stderr, /^error: --calib-samples must be a positive integer, got 0/);
});
