/**
 * native/dev's experiment programs still compile against the product's headers and CPU twins (they include the
 * product's kernels and helpers but nothing in the product builds them): scripts/device/dev_build.sh builds each one
 * that needs no cuBLASLt, as a device session would, so a product change that breaks an experiment fails here
 * instead of costing a device call. Skipped where nvcc is absent or the CUDA backend is off (QB_CUDA=0). Also the
 * model of the warp-specialized prefill attention variants' barrier protocols (native/dev/prefill_attention).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' }).status === 0;
const skip = process.env.QB_CUDA === '0' ? 'skipped: QB_CUDA=0 (no CUDA backend)' : nvcc ? false : 'skipped: nvcc not found (the dev programs are CUDA)';
// Without cuBLASLt: lt_search and overlap link it (their builds are in their READMEs / dev_build.sh).
const PROGRAMS = ['prefill', 'elementwise', 'fp8accum', 'wgmma', 'ring'];

test(`native/dev programs compile (${PROGRAMS.join(', ')})`, { skip, timeout: 15 * 60_000 }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-dev-'));
  try {
    const r = spawnSync('bash', ['scripts/device/dev_build.sh', ...PROGRAMS], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, BIN: tmp, OUT: tmp },
    });
    const logs = PROGRAMS.map((p) => {
      const f = path.join(tmp, 'dev_build', `${p}.log`);
      const text = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '(no log)';
      return `--- ${p}\n${text.split('\n').filter((l) => /error|rc=/.test(l)).slice(0, 20).join('\n')}`;
    });
    assert.equal(r.status, 0, `dev_build.sh exited ${r.status}\n${r.stdout}${r.stderr}\n${logs.join('\n')}`);
    for (const exe of ['prefill_main', 'elementwise_main', 'fp8_accum_probe', 'wgmma_probe', 'ring_main'])
      assert.ok(fs.statSync(path.join(tmp, exe)).size > 0, `${exe} built`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

const python = spawnSync('python3', ['--version'], { encoding: 'utf8' }).status === 0;

test('the prefill attention variants\' barrier protocols (v16, v18) neither deadlock nor leave a barrier unbalanced (a model)', { skip: python ? false : 'skipped: python3 not found' }, () => {
  const r = spawnSync('python3', ['native/dev/prefill_attention/sync_protocol_model.py'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^failures: 0$/m);
  assert.match(r.stdout, /^v16 failures: 0$/m);
});

test('v19\'s P V on FP8 tensor cores: P packed from the accumulators and V transposed in the permuted k order give P V (a model)', { skip: python ? false : 'skipped: python3 not found' }, () => {
  const r = spawnSync('python3', ['native/dev/prefill_attention/fp8_pv_layout_model.py'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal((r.stdout.match(/^PASS /gm) ?? []).length, 6, r.stdout);
});
