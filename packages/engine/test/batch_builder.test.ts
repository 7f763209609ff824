import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchArrays, buildBatch, type ScheduledSlice } from '../src/scheduler/batch_builder.ts';
import { KvCacheManager } from '../src/scheduler/kv_cache_manager.ts';
import { SchedRequest } from '../src/scheduler/request.ts';

/** Decode slices of the given requests after growing each to `tokens` KV entries. */
function decodeStep(kv: KvCacheManager, reqs: SchedRequest[], tokens: number): ScheduledSlice[] {
  return reqs.map((req) => {
    while (req.numTokens < tokens) req.appendToken(1);
    req.numComputed = tokens - 1;
    assert.ok(kv.allocateSlots(req.id, tokens));
    return { req, numNew: 1, samples: true };
  });
}

test('block tables: the cached array extended in place equals a fresh build every step, and is rebuilt when the requests or the width change', () => {
  const kv = new KvCacheManager(512, 16);
  const reqs = [0, 1, 2].map((i) => new SchedRequest(`r${i}`, [1, 2, 3], { maxTokens: 100 }, 0, i));
  const cache = new BatchArrays();
  for (let tokens = 17; tokens <= 100; tokens++) {
    // r1 runs 100 positions ahead from token 30 on: the others' tables grow in steps where the width does not.
    const slices = decodeStep(kv, reqs, tokens);
    if (tokens >= 30) assert.ok(kv.allocateSlots('r1', tokens + 100));
    const fresh = buildBatch(slices, kv);
    const cached = buildBatch(slices, kv, false, cache);
    assert.deepEqual([...cached.blockTables], [...fresh.blockTables], `tokens ${tokens}`);
    assert.equal(cached.maxBlocksPerSeq, fresh.maxBlocksPerSeq);
  }
  assert.ok(cache.reused > 60, `most steps reuse the array (${cache.reused} of 84)`);
  // Another set of requests: a fresh array, still equal.
  const others = decodeStep(kv, reqs.slice(1), 101);
  const before = cache.reused;
  assert.deepEqual([...buildBatch(others, kv, false, cache).blockTables], [...buildBatch(others, kv).blockTables]);
  assert.equal(cache.reused, before, 'different requests: rebuilt');
});
