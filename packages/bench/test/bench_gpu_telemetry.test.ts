/**
 * GPU telemetry (gpu_telemetry.ts): nvidia-smi's sample lines parsed and summarized, the sampler's child process
 * started and stopped (a stand-in nvidia-smi script on PATH that prints the lines a real one prints: this machine
 * has no GPU), what a point records when nvidia-smi is missing or fails, and a sweep on the CUDA device kind with the
 * record in points.jsonl and summary.csv.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isUsageError } from '@quantbench/engine';
import { CLOCK_REASON, parseSample, startGpuTelemetry, summarize, telemetryGpuId, telemetryLine } from '../src/gpu_telemetry.ts';
import { readPoints } from '../src/run_dir.ts';
import { pointRow } from '../src/summary.ts';
import { runSweep, type SweepConfig } from '../src/sweep.ts';
import { loadEngine as fakeLoader } from './fake_engine.ts';
import { quietMain } from './quiet_main.ts';

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fake_engine.ts');

// Lines as `nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu,
// clocks_throttle_reasons.active --format=csv,noheader,nounits` prints them on an H200 (session 17's peer run).
const CAPPED = '1575, 1980, 691.94, 700.00, 62, 0x0000000000000004';
const BOOST = '1980, 1980, 455.20, 700.00, 55, 0x0000000000000000';
const IDLE = '1980, 1980, 121.01, 700.00, 40, 0x0000000000000001';

function fakeSmi(lines: string[], opts: { exitCode?: number; stderr?: string } = {}): { dir: string; argsFile: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-smi-'));
  const argsFile = path.join(dir, 'args.txt');
  const body =
    opts.exitCode !== undefined
      ? `echo "${opts.stderr ?? ''}" >&2\nexit ${opts.exitCode}\n`
      : `while true; do\n${lines.map((l) => `  echo "${l}"`).join('\n')}\n  sleep 0.05\ndone\n`;
  fs.writeFileSync(path.join(dir, 'nvidia-smi'), `#!/bin/sh\necho "$@" > "${argsFile}"\n${body}`, { mode: 0o755 });
  return { dir, argsFile };
}

test('parseSample reads a csv,noheader,nounits line; [N/A] fields become null; other lines are not samples', () => {
  assert.deepEqual(parseSample(CAPPED), { smClockMHz: 1575, maxSmClockMHz: 1980, powerW: 691.94, powerLimitW: 700, temperatureC: 62, reasons: 0x4 });
  const na = parseSample('1410, 1980, [N/A], [N/A], 50, 0x0000000000000000');
  assert.equal(na?.powerW, null);
  assert.equal(na?.powerLimitW, null);
  assert.equal(na?.smClockMHz, 1410);
  assert.equal(parseSample(''), null);
  assert.equal(parseSample('No devices were found'), null);
  assert.equal(parseSample('[N/A], 1980, 100, 700, 50, 0x0'), null);
});

test('summarize: medians and fractions over busy samples only; null when every sample was idle', () => {
  const s = [CAPPED, CAPPED, CAPPED, BOOST, IDLE, IDLE].map((l) => parseSample(l)!);
  const t = summarize(s, '0', 500)!;
  assert.equal(t.samples, 6);
  assert.equal(t.busySamples, 4);
  assert.deepEqual(t.smClockMHz, { median: 1575, min: 1575, max: 1980 });
  assert.equal(t.maxSmClockMHz, 1980);
  assert.equal(t.powerW?.median, 691.94);
  assert.equal(t.powerW?.max, 691.94);
  assert.equal(t.powerLimitW, 700);
  assert.equal(t.powerCappedFraction, 0.75);
  assert.equal(t.thermalOrHwSlowdownFraction, 0);
  const hot = summarize([parseSample(`1200, 1980, 650, 700, 88, 0x${(CLOCK_REASON.hwThermal | CLOCK_REASON.swPowerCap).toString(16)}`)!], '0', 500)!;
  assert.equal(hot.thermalOrHwSlowdownFraction, 1);
  assert.equal(summarize([parseSample(IDLE)!], '0', 500), null);
  assert.match(telemetryLine(t), /^SM 1575 MHz p50 \(max 1980\), 692 W of 700, power-capped 75% of samples$/);
});

test('telemetryGpuId: the first CUDA_VISIBLE_DEVICES entry (index or UUID), else 0', () => {
  assert.equal(telemetryGpuId({}), '0');
  assert.equal(telemetryGpuId({ CUDA_VISIBLE_DEVICES: '3,1' }), '3');
  assert.equal(telemetryGpuId({ CUDA_VISIBLE_DEVICES: 'GPU-8a1b' }), 'GPU-8a1b');
  assert.equal(telemetryGpuId({ CUDA_VISIBLE_DEVICES: '' }), '0');
});

test('the sampler runs nvidia-smi with the query, a loop interval and the GPU id, and stops it', async () => {
  const { dir, argsFile } = fakeSmi([CAPPED, BOOST]);
  const s = startGpuTelemetry({ command: path.join(dir, 'nvidia-smi'), intervalMs: 50, gpu: '2' });
  await new Promise((r) => setTimeout(r, 300));
  const r = await s.stop();
  assert.ok(r.telemetry, r.note);
  assert.ok(r.telemetry.samples >= 2, `samples ${r.telemetry.samples}`);
  assert.equal(r.telemetry.gpu, '2');
  assert.equal(r.telemetry.intervalMs, 50);
  assert.ok(r.telemetry.powerCappedFraction > 0 && r.telemetry.powerCappedFraction < 1);
  const args = fs.readFileSync(argsFile, 'utf8');
  assert.match(args, /--query-gpu=clocks\.sm,clocks\.max\.sm,power\.draw,power\.limit,temperature\.gpu,clocks_throttle_reasons\.active/);
  assert.match(args, /--format=csv,noheader,nounits -lms 50 --id=2/);
});

test('no nvidia-smi, or one that fails: no telemetry and a note that says why (never an exception)', async () => {
  const missing = await startGpuTelemetry({ command: path.join(os.tmpdir(), 'qb-no-such-nvidia-smi') }).stop();
  assert.equal(missing.telemetry, null);
  assert.match(missing.note ?? '', /not found: no GPU clock \/ power record/);
  const { dir } = fakeSmi([], { exitCode: 9, stderr: 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' });
  const s = startGpuTelemetry({ command: path.join(dir, 'nvidia-smi') });
  await new Promise((r) => setTimeout(r, 100));
  const failed = await s.stop();
  assert.equal(failed.telemetry, null);
  assert.match(failed.note ?? '', /exited with 9: NVIDIA-SMI has failed because it could not communicate/);
});

test('a CUDA-kind sweep records gpuTelemetry per point (points.jsonl, summary.csv columns); the CPU kind records none', async () => {
  const { dir } = fakeSmi([CAPPED]);
  const oldPath = process.env.PATH;
  process.env.PATH = `${dir}${path.delimiter}${oldPath}`;
  try {
    const base: Omit<SweepConfig, 'runDir' | 'device'> = {
      model: 'fake:test',
      precisions: ['fp8-static'],
      batches: [4],
      rates: ['inf'],
      workload: { name: 'custom', inputLen: 32, outputLen: 4, rangeRatio: 0, numPrompts: 6, seed: 1 },
      burstiness: 1,
      maxConcurrency: null,
      maxNumBatchedTokens: 64,
      enableChunkedPrefill: true,
      resume: false,
      saveRequests: false,
      gpuTelemetry: true,
    };
    const cudaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-bench-tel-'));
    const lines: string[] = [];
    // QB_FAKE_STEP_MS: the point lasts long enough for a few samples
    process.env.QB_FAKE_STEP_MS = '20';
    await runSweep({ ...base, runDir: cudaDir, device: 'cuda' }, { loader: fakeLoader, log: (m) => lines.push(m) });
    delete process.env.QB_FAKE_STEP_MS;
    const [p] = readPoints(cudaDir);
    assert.ok(p.gpuTelemetry, `no telemetry: ${p.gpuTelemetryNote}`);
    assert.equal(p.gpuTelemetry.smClockMHz.median, 1575);
    assert.equal(p.gpuTelemetry.powerCappedFraction, 1);
    assert.ok(lines.some((l) => /SM 1575 MHz p50 \(max 1980\), 692 W of 700, power-capped 100% of samples/.test(l)), lines.join('\n'));
    const row = pointRow(p);
    assert.equal(row.gpu_sm_clock_mhz_p50, 1575);
    assert.equal(row.gpu_power_w_p50, 691.94);
    assert.equal(row.gpu_power_capped_fraction, 1);
    const cpuDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-bench-tel-'));
    await runSweep({ ...base, runDir: cpuDir, device: 'cpu' }, { loader: fakeLoader });
    const [c] = readPoints(cpuDir);
    assert.equal(c.gpuTelemetry, undefined);
    assert.equal(c.gpuTelemetryNote, undefined);
    assert.equal(pointRow(c).gpu_sm_clock_mhz_p50, null);
  } finally {
    process.env.PATH = oldPath;
    delete process.env.QB_FAKE_STEP_MS;
  }
});

test('pnpm bench --gpu-telemetry on the CPU backend: refused before anything runs or is written', async () => {
  const resultsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-tel-cli-'));
  await assert.rejects(
    quietMain(['--engine-module', FAKE, '--device', 'cpu', '--gpu-telemetry', '--quick', '--results-dir', resultsDir, '--run', 'x']),
    (e: Error) => isUsageError(e) && /--gpu-telemetry samples the GPU the engine runs on: it needs --device cuda/.test(e.message),
  );
  assert.deepEqual(fs.readdirSync(resultsDir), [], 'nothing written');
});
