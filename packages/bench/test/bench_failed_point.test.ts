/**
 * Issue 20, item 5: a request that can never be scheduled (`--kv-blocks 1`) fails its point with the engine's reason
 * stored in the point and shown, and the command exits non-zero (at eab799f: "0/8 ok", exit 0, no reason).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT_POINT_FAILED, main } from '../src/cli.ts';
import { readPoints } from '../src/run_dir.ts';
import type { BenchSummary } from '../src/schema.ts';

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fake_engine.ts');

test('--kv-blocks 1: the point records why its requests failed, the log says it, the exit code is non-zero', async () => {
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-kv1-'));
  const lines: string[] = [];
  const w = process.stderr.write;
  process.stderr.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(['--engine-module', FAKE, '--results-dir', resultsDir, '--run', 'r', '--device', 'cpu', '--precision', 'fp16', '--batch', '2',
      '--workload', 'custom', '--input-len', '64', '--output-len', '4', '--num-prompts', '3', '--no-quick', '--kv-blocks', '1']);
  } finally {
    process.stderr.write = w;
  }
  assert.equal(code, EXIT_POINT_FAILED);
  assert.notEqual(EXIT_POINT_FAILED, 0);
  const [p] = readPoints(path.join(resultsDir, 'r'));
  assert.equal(p.metrics.completed, 0);
  assert.ok(p.errors && p.errors.length === 1, JSON.stringify(p.errors));
  assert.match(p.errors[0].message, /KV blocks/);
  assert.equal(p.errors[0].count, 3);
  const s = JSON.parse(fs.readFileSync(path.join(resultsDir, 'r', 'summary.json'), 'utf8')) as BenchSummary;
  assert.match(s.points[0].errors?.[0].message ?? '', /KV blocks/);
  assert.ok(lines.some((l) => /FAILED .*KV blocks/.test(l)), lines.join(''));
});
