import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arrivalOffsetsMs } from '../src/arrivals.ts';
import { SeededRng } from '../src/rng.ts';
import { lengthBounds, sampleRequests } from '../src/workload.ts';

test('random dataset: lengths within [floor(L(1-r)), ceil(L(1+r))], consecutive ids, no special tokens, seeded', () => {
  const spec = { name: 'custom', inputLen: 100, outputLen: 50, rangeRatio: 0.25, numPrompts: 300, seed: 7 };
  const reqs = sampleRequests(spec, 500, [0, 1, 2]);
  assert.equal(reqs.length, 300);
  const ins = reqs.map((r) => r.promptIds.length);
  const outs = reqs.map((r) => r.outputLen);
  assert.deepEqual(lengthBounds(100, 0.25, 0), [75, 125]);
  assert.ok(ins.every((n) => n >= 75 && n <= 125));
  assert.ok(outs.every((n) => n >= 37 && n <= 63));
  assert.ok(Math.min(...ins) <= 78 && Math.max(...ins) >= 122, 'range is covered');
  for (const r of reqs) {
    assert.ok(r.promptIds.every((t) => t >= 3 && t < 500));
    for (let j = 1; j < r.promptIds.length; j++) {
      const a = r.promptIds[j - 1];
      const b = r.promptIds[j];
      assert.ok(b === a + 1 || (a === 499 && b === 3), 'consecutive allowed ids');
    }
  }
  assert.deepEqual(sampleRequests(spec, 500, [0, 1, 2]), reqs, 'same seed, same prompts');
  assert.notDeepEqual(sampleRequests({ ...spec, seed: 8 }, 500, [0, 1, 2]), reqs);
  const fixed = sampleRequests({ ...spec, rangeRatio: 0 }, 500, []);
  assert.ok(fixed.every((r) => r.promptIds.length === 100 && r.outputLen === 50));
  assert.throws(() => sampleRequests({ ...spec, rangeRatio: 1 }, 500, []), { code: 'BAD_WORKLOAD' });
});

test('arrivals: inf sends everything at 0; Poisson and gamma keep the mean rate; seeded', () => {
  assert.deepEqual(arrivalOffsetsMs(4, 'inf', 1, 0), [0, 0, 0, 0]);
  for (const burstiness of [1, 0.5, 4]) {
    const a = arrivalOffsetsMs(4001, 4, burstiness, 3);
    assert.equal(a[0], 0);
    assert.ok(a.every((t, i) => i === 0 || t >= a[i - 1]));
    const meanGapS = a[a.length - 1] / 1000 / 4000;
    assert.ok(Math.abs(meanGapS - 0.25) < 0.025, `mean gap ${meanGapS} s at burstiness ${burstiness}`);
    const gaps = a.slice(1).map((t, i) => (t - a[i]) / 1000);
    const m = gaps.reduce((x, y) => x + y, 0) / gaps.length;
    const cv2 = gaps.reduce((x, g) => x + (g - m) ** 2, 0) / gaps.length / (m * m);
    // Gamma(k): squared coefficient of variation 1/k.
    assert.ok(Math.abs(cv2 - 1 / burstiness) < 0.2 / burstiness + 0.05, `cv^2 ${cv2} at burstiness ${burstiness}`);
  }
  assert.deepEqual(arrivalOffsetsMs(10, 2, 1, 5), arrivalOffsetsMs(10, 2, 1, 5));
  assert.throws(() => arrivalOffsetsMs(3, -1, 1, 0));
});

test('seeded gamma sampler has mean shape*scale', () => {
  const r = new SeededRng(9);
  for (const shape of [0.3, 1, 2.5]) {
    let s = 0;
    for (let i = 0; i < 20000; i++) s += r.gamma(shape, 2);
    assert.ok(Math.abs(s / 20000 - 2 * shape) < 0.06 * 2 * shape + 0.02, `shape ${shape}: mean ${s / 20000}`);
  }
});
