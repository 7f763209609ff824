/**
 * Issue 20, item 5: calibration with no samples is refused. At eab799f `pnpm quantize --calib-samples 0` wrote an
 * fp8-static checkpoint with every input scale at its floor (4.4e-6) and a recipe saying it was calibrated.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { LLM } from '@quantbench/engine';

test('LLM.load refuses calibSamples 0 and a calibration file whose samples hold no token', async () => {
  await assert.rejects(
    LLM.load({ model: 'synthetic:tiny', precision: 'fp8-static', device: 'cpu', calibSamples: 0 }),
    (e: Error & { code?: string }) => e.code === 'BAD_CALIBRATION' && /at least 1 sample/.test(e.message),
  );
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'qb-calib-')), 'empty.txt');
  fs.writeFileSync(f, '   \n\n  \n');
  await assert.rejects(LLM.load({ model: 'synthetic:tiny', precision: 'int8-w8a8', device: 'cpu', calib: f }), (e: Error & { code?: string }) => e.code === 'BAD_CALIBRATION');
});
