import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ceilingsForDevice, syntheticConfig } from '@quantbench/engine';
import { CeilingsError, readCeilingsFile } from '../src/ceilings.ts';
import { RooflineAccumulator, idealStepMs, modelCost } from '../src/roofline.ts';
import { readPoints } from '../src/run_dir.ts';
import { resolveCeilings, runSweep, type SweepConfig } from '../src/sweep.ts';
import { loadEngine as fakeLoader } from './fake_engine.ts';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'qb-ceil-'));
}

let files = 0;
function ceilingsFile(dir: string, body: unknown): string {
  const f = path.join(dir, `ceilings-${++files}.json`);
  fs.writeFileSync(f, typeof body === 'string' ? body : JSON.stringify(body));
  return f;
}

test('ceilings: known cards by CUDA device name, none for others', () => {
  assert.equal(ceilingsForDevice('NVIDIA H100 80GB HBM3')?.bandwidthTBs, 3.0);
  assert.equal(ceilingsForDevice('NVIDIA H200')?.bandwidthTBs, 4.1);
  assert.equal(ceilingsForDevice('NVIDIA H200')?.tflops8, 1979);
  assert.equal(ceilingsForDevice('NVIDIA A100-SXM4-80GB'), null);
  assert.equal(ceilingsForDevice('NVIDIA H100 PCIe'), null);
  assert.equal(ceilingsForDevice('NVIDIA H100 NVL'), null);
  assert.equal(ceilingsForDevice('NVIDIA H200 NVL'), null);
  assert.equal(ceilingsForDevice('fake device'), null);
  assert.equal(ceilingsForDevice('cpu: AMD EPYC 7B13 (2 threads)'), null);
});

test('ceilings: a ceilings.py file is read with its source; bad files fail with a message that says what to do', () => {
  const dir = tmp();
  const good = ceilingsFile(dir, { device: 'NVIDIA H200', copyTBs: 4.05, bf16Tflops: 748, fp8Tflops: 1292, commit: 'x' });
  const c = readCeilingsFile(good);
  assert.deepEqual([c.bandwidthTBs, c.tflops16, c.tflops8], [4.05, 748, 1292]);
  assert.match(c.source, /measured on NVIDIA H200/);
  assert.throws(() => readCeilingsFile(path.join(dir, 'missing.json')), (e: unknown) => e instanceof CeilingsError && /cannot read/.test(e.message));
  assert.throws(() => readCeilingsFile(ceilingsFile(dir, '{not json')), (e: unknown) => e instanceof CeilingsError && /not JSON/.test(e.message));
  assert.throws(
    () => readCeilingsFile(ceilingsFile(dir, { copyTBs: 4.05, bf16Tflops: 0, fp8Tflops: 1292 })),
    (e: unknown) => e instanceof CeilingsError && /bf16Tflops/.test(e.message) && /ceilings\.py/.test(e.message),
  );
  // the file wins over the device name
  assert.equal(resolveCeilings({ ceilingsFile: good }, 'NVIDIA H100 80GB HBM3')?.bandwidthTBs, 4.05);
  assert.equal(resolveCeilings({}, 'NVIDIA H100 80GB HBM3')?.bandwidthTBs, 3.0);
});

test('roofline: a decode step is bandwidth-bound and its ideal time scales with the card\'s bandwidth', () => {
  const cost = modelCost(syntheticConfig('llama-3.1-8b'), 'fp8-static');
  const h100 = idealStepMs(cost, 'fp8-static', 1, 128, ceilingsForDevice('NVIDIA H100 80GB HBM3')!);
  const h200 = idealStepMs(cost, 'fp8-static', 1, 128, ceilingsForDevice('NVIDIA H200')!);
  assert.equal(h100.bound, 'bandwidth');
  assert.ok(Math.abs(h100.ms / h200.ms - 4.1 / 3.0) < 1e-9, `${h100.ms} / ${h200.ms}`);
  // ~8.0 GB per batch-1 step at 3.0 TB/s: 2.7 ms (shared/device/NOTES.md)
  assert.ok(h100.ms > 2.6 && h100.ms < 2.8, `${h100.ms}`);
  // a 2048-token prefill (one sequence of context 2048) is compute-bound
  assert.equal(idealStepMs(cost, 'fp8-static', 2048, 2048, ceilingsForDevice('NVIDIA H200')!).bound, 'compute');
});

test('roofline: no ratio without ceilings, and the ratio names the ceilings it used', () => {
  const cost = modelCost(syntheticConfig('llama-3.1-8b'), 'fp16');
  const none = new RooflineAccumulator('cuda', 'fp16', cost, null);
  none.add(1, 128, 5);
  assert.equal(none.result(), null);
  const c = ceilingsForDevice('NVIDIA H200')!;
  const acc = new RooflineAccumulator('cuda', 'fp16', cost, c);
  acc.add(1, 128, 5);
  const r = acc.result()!;
  assert.equal(r.peakBandwidthTBs, 4.1);
  assert.equal(r.peakTflops, 989);
  assert.match(r.note!, /H200/);
  assert.ok(Math.abs(r.ratio - idealStepMs(cost, 'fp16', 1, 128, c).ms / 5) < 1e-12);
});

function cudaConfig(runDir: string, ceilingsFile?: string): SweepConfig {
  return {
    runDir,
    model: 'fake:test',
    device: 'cuda',
    precisions: ['fp16'],
    batches: [2],
    rates: ['inf'],
    workload: { name: 'custom', inputLen: 16, outputLen: 3, rangeRatio: 0, numPrompts: 4, seed: 1 },
    burstiness: 1,
    maxConcurrency: null,
    maxNumBatchedTokens: 64,
    enableChunkedPrefill: true,
    resume: false,
    saveRequests: false,
    ...(ceilingsFile ? { ceilingsFile } : {}),
  };
}

test('sweep on a CUDA device: a known card gets a ratio against its ceilings, an unknown one a note instead', async () => {
  const saved = { name: process.env.QB_FAKE_DEVICE_NAME, arch: process.env.QB_FAKE_ARCH };
  process.env.QB_FAKE_ARCH = 'tiny';
  try {
    process.env.QB_FAKE_DEVICE_NAME = 'NVIDIA H200';
    const known = tmp();
    await runSweep(cudaConfig(known), { loader: fakeLoader });
    const [p] = readPoints(known);
    assert.equal(p!.roofline?.peakBandwidthTBs, 4.1);
    assert.ok(p!.roofline!.ratio > 0);

    process.env.QB_FAKE_DEVICE_NAME = 'Some Future GPU';
    const unknown = tmp();
    await runSweep(cudaConfig(unknown), { loader: fakeLoader });
    const [q] = readPoints(unknown);
    assert.equal(q!.roofline, undefined);
    assert.match(q!.rooflineNote!, /no ceilings known for "Some Future GPU".*--ceilings/);

    const withFile = tmp();
    const f = ceilingsFile(withFile, { device: 'Some Future GPU', copyTBs: 6, bf16Tflops: 1500, fp8Tflops: 3000 });
    await runSweep(cudaConfig(path.join(withFile, 'run'), f), { loader: fakeLoader });
    const [r] = readPoints(path.join(withFile, 'run'));
    assert.equal(r!.roofline?.peakBandwidthTBs, 6);
    assert.match(r!.roofline!.note!, /measured on Some Future GPU/);
  } finally {
    for (const [k, v] of [['QB_FAKE_DEVICE_NAME', saved.name], ['QB_FAKE_ARCH', saved.arch]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
