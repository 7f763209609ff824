// Expected values were produced by CPython's random module (random.Random(seed)...).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PyRandom } from '../src/python_random.ts';

test('random() matches CPython for int seeds, including seeds above 32 bits', () => {
  assert.equal(new PyRandom(1234).random(), 0.9664535356921388);
  const r = new PyRandom(99);
  assert.deepEqual([r.random(), r.random()], [0.40397807494366633, 0.20007544457494542]);
  assert.equal(new PyRandom(2 ** 40 + 5).random(), 0.5043802970418443);
});

test('getrandbits takes the top k bits of one 32-bit draw', () => {
  assert.deepEqual(
    [1, 5, 31, 32].map((k) => new PyRandom(7).getrandbits(k)),
    [0, 10, 695425564, 1390851128],
  );
});

test('sample() matches CPython on the pool path and the set-rejection path, and advances state', () => {
  const r = new PyRandom(1234);
  assert.deepEqual(r.sample([0, 1, 2], 2), [1, 0]);
  assert.deepEqual(r.sample([0, 1, 2], 2), [0, 2]);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  assert.deepEqual(new PyRandom(5).sample(range(100), 10), [79, 32, 94, 45, 88, 83, 67, 3, 59, 99]);
  // lm-eval's GSM8K 5-shot draws for docs 0 and 1 (train has 7473 rows), seed 1234.
  const g = new PyRandom(1234);
  assert.deepEqual(g.sample(range(7473), 5), [6374, 3610, 957, 61, 742]);
  assert.deepEqual(g.sample(range(7473), 5), [7462, 6610, 4769, 286, 5501]);
  assert.deepEqual(new PyRandom(1234).sample(range(1267), 6), [902, 239, 15, 185, 1192, 71]);
});

test('sample() rejects k larger than the population', () => {
  assert.throws(() => new PyRandom(1).sample([1, 2], 3), RangeError);
});
