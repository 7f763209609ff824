import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { ceilingsForDevice, KNOWN_CARDS, knownCard, peakTflops } from '../js/index.ts';

test('device_ceilings.json: every card has a pattern, positive rates and where each number comes from', () => {
  const raw = JSON.parse(fs.readFileSync(new URL('../device_ceilings.json', import.meta.url), 'utf8')) as { cards: Record<string, unknown>[] };
  assert.equal(KNOWN_CARDS.length, raw.cards.length);
  for (const c of KNOWN_CARDS) {
    assert.ok(c.memoryBytesPerS > 1e12, c.name);
    for (const v of [...Object.values(c.datasheetFlopsPerS), ...Object.values(c.measuredFlopsPerS)]) assert.ok(v > 1e12, c.name);
    for (const s of [c.memorySource, c.datasheetSource, c.measuredSource]) assert.ok(s.length > 0, c.name);
    for (const d of [c.memoryDate, c.measuredDate]) assert.match(d, /^\d{4}-\d{2}-\d{2}$/, c.name);
  }
});

test('device ceilings: by CUDA device name, datasheet or measured peaks', () => {
  assert.equal(knownCard('NVIDIA H100 80GB HBM3')?.name, 'H100 SXM');
  assert.equal(knownCard('nvidia h200')?.name, 'H200 SXM');
  assert.equal(knownCard('NVIDIA H100 PCIe'), null);
  const h100 = ceilingsForDevice('NVIDIA H100 80GB HBM3')!;
  assert.deepEqual([h100.bandwidthTBs, h100.tflops16, h100.tflops8, h100.tflops32], [3.0, 989, 1979, 67]);
  assert.equal(h100.source, 'H100 SXM: 3.0 TB/s measured copy (shared/device/NOTES.md), datasheet dense tensor-core peaks');
  // the measured GEMM rates: what the latency tool and the kernel harness take the prefill / GEMM roofline against
  const m = ceilingsForDevice('NVIDIA H100 80GB HBM3', 'measured')!;
  assert.deepEqual([m.bandwidthTBs, m.tflops16, m.tflops8], [3.0, 715, 1270]);
  assert.match(m.source, /measured GEMM peaks/);
  const h200 = ceilingsForDevice('NVIDIA H200', 'measured')!;
  assert.deepEqual([h200.bandwidthTBs, h200.tflops16, h200.tflops8], [4.1, 748, 1292]);
  assert.equal(peakTflops(h200, 'fp16'), 748);
  assert.equal(peakTflops(h200, 'bf16'), 748);
  assert.equal(peakTflops(h200, 'int8-w8a8'), 1292);
  assert.equal(peakTflops(h200, 'fp8-static'), 1292);
  assert.equal(peakTflops(h200, 'fp32'), 67);
});
