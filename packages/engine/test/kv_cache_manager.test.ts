import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvCacheManager } from '../src/scheduler/kv_cache_manager.ts';

const BS = 16;

/** Two requests admitted together, then grown one token per step in lockstep (a decode-heavy batch). */
function lockstep(kv: KvCacheManager, reserveTokens: number): number[][] {
  for (const id of ['a', 'b']) assert.ok(kv.allocateSlots(id, 16, reserveTokens));
  for (let n = 17; n <= 64; n++) for (const id of ['a', 'b']) assert.ok(kv.allocateSlots(id, n));
  return ['a', 'b'].map((id) => [...kv.blockTable(id)]);
}

test('kv placement: a reservation keeps a request\'s blocks side by side; without one they interleave', () => {
  assert.deepEqual(lockstep(new KvCacheManager(64, BS), 64), [[0, 1, 2, 3], [4, 5, 6, 7]]);
  assert.deepEqual(lockstep(new KvCacheManager(64, BS), 0), [[0, 2, 4, 6], [1, 3, 5, 7]]);
  const kv = new KvCacheManager(64, BS);
  assert.ok(kv.allocateSlots('a', 20, 64));
  assert.deepEqual([kv.numUsedBlocks, kv.numReservedBlocks, kv.numFreeBlocks], [2, 2, 62]);
  kv.free('a');
  assert.deepEqual([kv.numUsedBlocks, kv.numReservedBlocks, kv.numFreeBlocks, kv.pool.numFree], [0, 0, 64, 64]);
});

test('kv placement: reservations never change what fits (lent back before an allocation fails)', () => {
  const kv = new KvCacheManager(32, BS);
  assert.ok(kv.allocateSlots('a', 16, 16 * 20)); // 1 block used, 19 reserved, 12 free in the pool
  assert.equal(kv.numReservedBlocks, 19);
  assert.ok(kv.allocateSlots('b', 16 * 30), 'needs 30 of the 31 blocks that hold no KV');
  assert.deepEqual([kv.numUsedBlocks, kv.numReservedBlocks, kv.numFreeBlocks], [31, 0, 1]);
  assert.equal(kv.allocateSlots('a', 16 * 3), false, 'a needs 2 more, 1 is free');
  assert.equal(kv.blockTable('a').length, 1, 'nothing changed');
  assert.ok(kv.allocateSlots('a', 16 * 2));
  const all = [...kv.blockTable('a'), ...kv.blockTable('b')];
  assert.equal(new Set(all).size, 32, 'every block held once');
  kv.free('a');
  kv.free('b');
  assert.equal(kv.pool.numFree, 32);
});

test('kv placement: a request grows into its own reservation first; no reservation below the headroom', () => {
  const kv = new KvCacheManager(32, BS);
  assert.ok(kv.allocateSlots('a', 16, 16 * 8));
  assert.ok(kv.allocateSlots('b', 16, 16 * 8));
  assert.ok(kv.allocateSlots('a', 16 * 8));
  assert.deepEqual(kv.blockTable('a'), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(kv.numReservedBlocks, 7, "b's");
  // 16 blocks left in the pool; a reservation must leave ceil(32 / 16) = 2 of them free.
  assert.ok(kv.allocateSlots('c', 16, 16 * 14));
  assert.equal(kv.numReservedBlocks, 7 + 13);
  assert.ok(kv.allocateSlots('d', 16, 16 * 2));
  assert.equal(kv.numReservedBlocks, 7 + 13, 'd would leave fewer than 2 free: no reservation');
  assert.equal(kv.allocateSlots('e', 16 * 32), false);
});
