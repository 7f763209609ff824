/**
 * End to end with the real engine and stories260K: `pnpm eval <mmlu subject> --limit 2` through the CLI entry point.
 * The full `pnpm eval mmlu --limit 2` (57 subjects, 456 requests) runs when QB_E2E_FULL=1 (minutes on 2 CPU cores).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { dataPath, missingDataMessage, REPO_ROOT } from '@quantbench/engine';
import { main } from '../src/cli.ts';
import { engineAvailable } from '../src/engine_lm.ts';
import { evalFile, readEvalResult, readSamples, samplesFile } from '../src/run_files.ts';

const model = dataPath('models/stories260K/hf');
const skip = !engineAvailable()
  ? 'skipped: @quantbench/engine does not export LLM yet (packages/engine/src/llm.ts)'
  : !model
    ? missingDataMessage('models/stories260K/hf')
    : !dataPath('datasets/mmlu')
      ? missingDataMessage('datasets/mmlu')
      : false;

test('pnpm eval <mmlu> --model stories260K --precision fp16 --limit 2, end to end on the real engine', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-e2e-'));
  const task = process.env.QB_E2E_FULL === '1' ? 'mmlu' : 'mmlu_abstract_algebra';
  const logs: string[] = [];
  const argv = [task, '--model', model as string, '--precision', 'fp16', '--limit', '2', '--out', dir, '--cache-dir', path.join(dir, 'cache'), '--no-progress'];
  if (task !== 'mmlu') argv.push('--num-fewshot', '5');
  const code = await main(argv, { loadModel: (await import('../src/engine_lm.ts')).loadEngineLM, log: (m) => logs.push(m) });
  assert.equal(code, 0, logs.join('\n'));
  const r = readEvalResult(evalFile(dir, model as string, 'fp16'));
  assert.ok(r, 'result file written');
  assert.equal(r.provenance.weights, 'real');
  assert.equal(r.results.mmlu_abstract_algebra.numSamples, 2);
  assert.equal(r['n-shot'].mmlu_abstract_algebra, 5);
  const s = readSamples(samplesFile(dir, 'mmlu_abstract_algebra', 'fp16'));
  assert.equal(s?.length, 2);
  for (const x of s!) {
    assert.equal(x.choices?.length, 4);
    for (const c of x.choices!) assert.ok(Number.isFinite(c.logprob) && c.logprob < 0);
  }
  if (task === 'mmlu') assert.ok(r.groups.mmlu && r.groups.mmlu.numSamples === 114);
  fs.rmSync(dir, { recursive: true });
});

test('pnpm eval --help documents the options', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'packages/eval/src/cli.ts'), '--help'], { cwd: REPO_ROOT }).toString();
  for (const flag of ['--model', '--precision', '--num-fewshot', '--limit', '--batch-size', '--data-dir', '--out', '--device']) assert.ok(out.includes(flag), flag);
  const ppl = execFileSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'packages/eval/src/cli.ts'), 'perplexity', '--help'], { cwd: REPO_ROOT }).toString();
  assert.ok(ppl.includes('--text'));
});
