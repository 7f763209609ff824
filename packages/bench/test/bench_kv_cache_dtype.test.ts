/**
 * Issue 17, item 1: `pnpm bench --kv-cache-dtype auto|fp8` (vLLM's flag). A comma list sweeps it inside each precision;
 * every point records it (provenance.kv_cache_dtype, a "+kv-fp8" key); run.json records it so --resume refuses
 * another value (also for a run recorded before the flag existed, which ran auto); bad values exit 2 before work;
 * `pnpm bench latency` takes it too and sizes KV bytes from the native kvBlockBytes().
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ADDON_PATH, isUsageError, REPO_ROOT, syntheticConfig } from '@quantbench/engine';
import { quietMain } from './quiet_main.ts';
import { resolveLatency } from '../src/latency/command.ts';
import { runLatency, type LatencyRow } from '../src/latency/run.ts';
import { OptionError, parseKvCacheDtypes } from '../src/options.ts';
import { modelCost } from '../src/roofline.ts';
import { readPoints } from '../src/run_dir.ts';
import { SETUP_FILE } from '../src/run_safety.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const FAKE = path.join(here, 'fake_engine.ts');
const base = ['--engine-module', FAKE, '--device', 'cpu', '--precision', 'fp16,fp8-dynamic', '--batch', '2', '--workload', 'custom', '--input-len', '16', '--output-len', '4', '--num-prompts', '4', '--no-quick'];
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'qb-kv-bench-'));

test('--kv-cache-dtype parses one value or a comma list; anything else is an OptionError naming the flag', () => {
  assert.deepEqual(parseKvCacheDtypes(undefined), ['auto']);
  assert.deepEqual(parseKvCacheDtypes('fp8'), ['fp8']);
  assert.deepEqual(parseKvCacheDtypes('auto, fp8'), ['auto', 'fp8']);
  assert.throws(() => parseKvCacheDtypes('fp9'), (e: unknown) => e instanceof OptionError && /--kv-cache-dtype: "fp9" is not one of auto, fp8; did you mean fp8\?/.test((e as Error).message));
  assert.throws(() => parseKvCacheDtypes('auto,'), OptionError);
});

test('a comma list sweeps the KV dtype inside each precision; every point records it', async () => {
  const resultsDir = tmp();
  assert.equal(await quietMain([...base, '--kv-cache-dtype', 'auto,fp8', '--results-dir', resultsDir, '--run', 'r']), 0);
  const pts = readPoints(path.join(resultsDir, 'r'));
  assert.deepEqual(pts.map((p) => p.key).sort(), ['custom-16x4r0|fp16+kv-fp8|2|inf|8192', 'custom-16x4r0|fp16|2|inf|8192', 'custom-16x4r0|fp8-dynamic+kv-fp8|2|inf|8192', 'custom-16x4r0|fp8-dynamic|2|inf|8192']);
  for (const p of pts) {
    const kv = p.key.includes('+kv-fp8') ? 'fp8' : 'auto';
    assert.equal(p.engine.kvCacheDtype, kv, p.key);
    assert.equal(p.provenance.kv_cache_dtype, kv, p.key);
    assert.equal(p.provenance.recipe.kvCacheDtype, kv, p.key);
  }
  const setup = JSON.parse(fs.readFileSync(path.join(resultsDir, 'r', SETUP_FILE), 'utf8')) as { setup: { kvCacheDtype: string } };
  assert.equal(setup.setup.kvCacheDtype, 'auto,fp8');
  const summary = JSON.parse(fs.readFileSync(path.join(resultsDir, 'r', 'summary.json'), 'utf8')) as { points: { provenance: { kv_cache_dtype: string } }[] };
  assert.deepEqual(summary.points.map((p) => p.provenance.kv_cache_dtype).sort(), ['auto', 'auto', 'fp8', 'fp8']);
  const csv = fs.readFileSync(path.join(resultsDir, 'r', 'summary.csv'), 'utf8').trim().split('\n');
  const col = csv[0]!.split(',').indexOf('kv_cache_dtype');
  assert.ok(col >= 0, 'summary.csv has a kv_cache_dtype column');
  assert.deepEqual(csv.slice(1).map((l) => l.split(',')[col]).sort(), ['auto', 'auto', 'fp8', 'fp8']);
});

test('--resume refuses another KV dtype, naming the flag; the same one resumes', async () => {
  const resultsDir = tmp();
  const p16 = base.map((x, i) => (base[i - 1] === '--precision' ? 'fp16' : x));
  assert.equal(await quietMain([...p16, '--results-dir', resultsDir, '--run', 'r']), 0);
  await assert.rejects(
    quietMain([...p16, '--kv-cache-dtype', 'fp8', '--results-dir', resultsDir, '--run', 'r', '--resume']),
    (e: Error & { code?: string }) => e.code === 'SETUP_MISMATCH' && /kvCacheDtype \(--kv-cache-dtype\) was "auto" .* now "fp8"/.test(e.message),
  );
  // a run recorded before the flag existed (no kvCacheDtype in run.json) ran auto: fp8 is refused there too
  const file = path.join(resultsDir, 'r', SETUP_FILE);
  const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as { setup: Record<string, unknown> };
  delete rec.setup.kvCacheDtype;
  fs.writeFileSync(file, JSON.stringify(rec));
  await assert.rejects(quietMain([...p16, '--kv-cache-dtype', 'fp8', '--results-dir', resultsDir, '--run', 'r', '--resume']), (e: Error & { code?: string }) => e.code === 'SETUP_MISMATCH');
  assert.equal(await quietMain([...p16, '--kv-cache-dtype', 'auto', '--results-dir', resultsDir, '--run', 'r', '--resume']), 0);
});

test('pnpm bench --kv-cache-dtype: a bad value exits 2 with one line, before any work; openai backend refuses it', async () => {
  const resultsDir = tmp();
  await assert.rejects(quietMain([...base, '--kv-cache-dtype', 'fp9', '--results-dir', resultsDir, '--run', 'r']), (e: Error) => isUsageError(e) && /--kv-cache-dtype: "fp9"/.test(e.message));
  assert.deepEqual(fs.readdirSync(resultsDir), [], 'nothing written');
  await assert.rejects(quietMain(['--backend', 'openai', '--base-url', 'http://127.0.0.1:9', '--kv-cache-dtype', 'fp8', '--results-dir', resultsDir]), (e: Error) => isUsageError(e) && /server's flag/.test(e.message));
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'packages/bench/src/cli.ts'), 'latency', '--kv-cache-dtype', 'int4'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--kv-cache-dtype: "int4"/);
  const help = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'packages/bench/src/cli.ts'), '--help'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.match(help.stdout, /--kv-cache-dtype[\s\S]*comma list/);
});

test('roofline KV bytes per token come from the native block size when given (1 byte per element with fp8)', () => {
  const a = syntheticConfig('llama-3.1-8b');
  const sixteen = modelCost(a, 'fp16').kvBytesPerToken;
  assert.equal(sixteen, 2 * a.numLayers * a.numKvHeads * a.headDim * 2);
  assert.equal(modelCost(a, 'fp16', sixteen / 2).kvBytesPerToken, sixteen / 2);
});

const nativeSkip = fs.existsSync(ADDON_PATH) ? false : `skipped: native addon not built (${ADDON_PATH})`;

test('[native] bench latency --kv-cache-dtype auto,fp8: rows record it; fp8 decode moves fewer KV bytes (native kvBlockBytes)', { skip: nativeSkip }, async () => {
  const args = { device: 'cpu', precision: 'fp16', kvCacheDtype: 'auto,fp8', batch: '1', context: '32', iters: 2, prefill: false, prefillTokens: 0, gpuMemoryUtilization: 0.9, ncu: false, kvBlocks: 8, commit: 'abc', seed: 1 } as unknown as Parameters<typeof resolveLatency>[0];
  const { options } = resolveLatency(args, false);
  assert.deepEqual(options.kvCacheDtypes, ['auto', 'fp8']);
  const rows: LatencyRow[] = await runLatency(options, () => {}, () => {});
  assert.deepEqual(rows.map((r) => r.kv_cache_dtype), ['auto', 'fp8']);
  assert.equal(rows[1]!.kvBlockBytes, rows[0]!.kvBlockBytes / 2);
  assert.ok(rows[1]!.bytes! < rows[0]!.bytes!);
});
