/** SchedRequest's token buffer and async placeholder ring, past their initial sizes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SchedRequest } from '../src/scheduler/request.ts';

test('token buffer: the prompt, then appended tokens, past the initial room (max tokens beyond 4096, a cap on the length)', () => {
  const r = new SchedRequest('a', [5, 6, 7], { maxTokens: 100000 }, 0, 1, 1 << 20);
  const want = [5, 6, 7];
  for (let i = 0; i < 9000; i++) {
    r.appendToken(i % 1000);
    want.push(i % 1000);
  }
  assert.equal(r.numTokens, 9003);
  assert.equal(r.numOutput, 9000);
  assert.deepEqual(Array.from({ length: r.numTokens }, (_, i) => r.tokenAt(i)), want);
  // A prompt longer than the engine's length limit is still held whole (the engine rejects it with a reason).
  const long = new SchedRequest('b', Array.from({ length: 50 }, (_, i) => i), { maxTokens: 10 }, 0, 1, 16);
  assert.equal(long.numTokens, 50);
  assert.equal(long.tokenAt(49), 49);
});

test('placeholder ring: samples resolve in order, lookups by position, more in flight than the ring first holds, misuse refused', () => {
  const r = new SchedRequest('c', [1, 2], { maxTokens: 50 }, 0, 1);
  for (let k = 0; k < 7; k++) r.addPlaceholder(10 + k);  // seven steps in flight: the ring of 4 grows
  assert.equal(r.numPlaceholders, 7);
  assert.equal(r.numTokens, 9);
  for (let k = 0; k < 7; k++) {
    assert.equal(r.tokenAt(2 + k), -1);
    assert.equal(r.placeholderSample(2 + k), 10 + k);
  }
  assert.equal(r.placeholderSample(1), -1, 'a prompt position is no placeholder');
  assert.equal(r.placeholderSample(9), -1, 'past the last');
  r.resolvePlaceholder(100);
  r.resolvePlaceholder(101);
  assert.equal(r.placeholderSample(2), -1, 'resolved');
  assert.equal(r.placeholderSample(4), 12);
  r.addPlaceholder(17);  // wraps around the grown ring
  assert.equal(r.placeholderSample(9), 17);
  for (let k = 0; k < 6; k++) r.resolvePlaceholder(102 + k);
  assert.equal(r.numPlaceholders, 0);
  assert.deepEqual(Array.from({ length: r.numTokens }, (_, i) => r.tokenAt(i)), [1, 2, 100, 101, 102, 103, 104, 105, 106, 107]);
  assert.throws(() => r.resolvePlaceholder(1), { code: 'ASYNC_STATE' });
  r.addPlaceholder(0);
  r.appendToken(3);  // a sampled token behind an unresolved placeholder: the async state is broken
  assert.throws(() => r.addPlaceholder(1), { code: 'ASYNC_STATE', message: /behind an unresolved placeholder/ });
});
