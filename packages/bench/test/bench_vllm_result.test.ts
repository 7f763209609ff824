/**
 * Issue 20, item 2: `pnpm bench` takes vLLM bench serve's --percentile-metrics, --metric-percentiles, --save-result,
 * --result-dir, --result-filename, --save-detailed and writes vLLM's flat result file (at eab799f these flags were
 * "Unknown argument" and the sweep ran anyway). scripts/compat/read_vllm_result.py reads it with vLLM's field names.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isUsageError, REPO_ROOT } from '@quantbench/engine';
import { quietMain } from './quiet_main.ts';
import { npPercentile } from '../src/vllm_result.ts';

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fake_engine.ts');
const base = ['--engine-module', FAKE, '--device', 'cpu', '--precision', 'fp16', '--batch', '2', '--workload', 'custom', '--input-len', '16', '--output-len', '4', '--num-prompts', '3', '--no-quick'];

test('--save-result --save-detailed: vLLM field names, chosen percentiles, per-request lists', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-vllm-'));
  const resultDir = path.join(root, 'vllm');
  const code = await quietMain([...base, '--results-dir', root, '--run', 'r', '--save-result', '--save-detailed', '--result-dir', resultDir, '--result-filename', 'one.json',
    '--percentile-metrics', 'ttft,tpot,itl,e2el', '--metric-percentiles', '50,90,99.9']);
  assert.equal(code, 0);
  const r = JSON.parse(fs.readFileSync(path.join(resultDir, 'one.json'), 'utf8')) as Record<string, unknown>;
  for (const k of ['date', 'backend', 'model_id', 'num_prompts', 'request_rate', 'burstiness', 'max_concurrency', 'duration', 'completed', 'failed',
    'total_input_tokens', 'total_output_tokens', 'request_throughput', 'request_goodput', 'output_throughput', 'total_token_throughput',
    'mean_ttft_ms', 'median_ttft_ms', 'std_ttft_ms', 'p50_ttft_ms', 'p90_ttft_ms', 'p99.9_ttft_ms', 'p99.9_tpot_ms', 'p90_itl_ms', 'p50_e2el_ms',
    'input_lens', 'output_lens', 'ttfts', 'itls', 'start_times', 'errors']) {
    assert.ok(k in r, k);
  }
  assert.equal(r.completed, 3);
  assert.equal(r.request_rate, 'inf');
  assert.deepEqual(r.output_lens, [4, 4, 4]);
  assert.equal((r.itls as number[][])[0].length, 3);
  assert.ok(!('p99_ttft_ms' in r), 'only the percentiles asked for');

  const py = spawnSync('python3', [path.join(REPO_ROOT, 'scripts/compat/read_vllm_result.py'), path.join(resultDir, 'one.json')], { encoding: 'utf8' });
  if (py.error) return; // no python3 here: the field checks above stand
  assert.equal(py.status, 0, py.stderr + py.stdout);
  assert.match(py.stdout, /p99\.9_ttft_ms /);
  assert.match(py.stdout, /detailed: 3 requests/);
});

test('vLLM flags are checked before any work', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-vllm-'));
  const bad: [string[], RegExp][] = [
    [['--percentile-metrics', 'ttft,foo'], /unknown metric "foo"/],
    [['--metric-percentiles', '0'], /--metric-percentiles takes numbers in \(0, 100\)/],
    [['--save-detailed'], /--save-detailed needs --save-result/],
    [['--save-result', '--result-filename', 'x.json', '--precision', 'fp16,fp8-dynamic'], /names one file but this sweep has 2 points/],
  ];
  for (const [args, re] of bad) {
    const argv = args.includes('--precision') ? base.filter((x, i) => x !== '--precision' && base[i - 1] !== '--precision') : base;
    await assert.rejects(quietMain([...argv, '--results-dir', root, '--run', 'r', ...args]), (e: Error) => isUsageError(e) && re.test(e.message), args.join(' '));
  }
  assert.deepEqual(fs.readdirSync(root), []);
});

test('percentiles interpolate linearly as numpy does', () => {
  assert.equal(npPercentile([1, 2, 3, 4], 50), 2.5);
  assert.ok(Math.abs(npPercentile([1, 2, 3, 4], 99) - 3.97) < 1e-12);
  assert.equal(npPercentile([5], 99), 5);
});
