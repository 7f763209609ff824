/**
 * Ctrl-C reaches `pnpm eval` between batches. With the pnpm script running node directly (issue 20: no tsx parent to
 * SIGKILL the child), a run whose awaits never pass through the event loop would only see the signal at its end; the
 * runner yields between batches, so a real SIGINT stops it after the current batch with exit 130, answers cached.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@quantbench/engine';
import { EXIT_INTERRUPTED, main } from '../src/cli.ts';
import { fakeLoader } from './fake_model.ts';

test('a real SIGINT during the run stops it after the current batch (exit 130, answers kept in the cache)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-eval-int-'));
  const fake = fakeLoader();
  let sent = false;
  const code = await main(
    ['mmlu_abstract_algebra,arc_challenge,hellaswag', '--model', 'synthetic:tiny', '--batch_size', '1', '--num_fewshot', '1',
      '--data-dir', path.join(REPO_ROOT, 'datasets/eval/fixtures'), '--out', path.join(dir, 'out'), '--cache-dir', path.join(dir, 'c'), '--no-progress'],
    {
      loadModel: async (o) => {
        const m = await fake.load(o);
        const ll = m.loglikelihood.bind(m);
        m.loglikelihood = async (reqs) => {
          if (!sent) {
            sent = true;
            process.kill(process.pid, 'SIGINT'); // delivered through libuv, as a terminal's Ctrl-C is
          }
          return ll(reqs);
        };
        return m;
      },
      log: () => {},
    },
  );
  assert.equal(code, EXIT_INTERRUPTED);
  const cached = fs.readdirSync(path.join(dir, 'c'));
  assert.equal(cached.length, 1);
  assert.ok(fs.readFileSync(path.join(dir, 'c', cached[0]), 'utf8').trim().split('\n').length >= 1, 'the finished batch is cached');
});
