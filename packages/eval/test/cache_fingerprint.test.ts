/**
 * Issue 20, item 4: the eval request cache is keyed by the checkpoint's content fingerprint, not its path. At eab799f
 * a checkpoint re-quantized in place (same path) answered from stale cache entries.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { checkpointFingerprint } from '@quantbench/engine';
import { cacheFileName, RequestCache } from '../src/cache.ts';

function writeCheckpoint(dir: string, scale: number, mtime: Date): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 8 }));
  fs.utimesSync(path.join(dir, 'config.json'), mtime, mtime);
  const header = Buffer.from(JSON.stringify({ 'w.input_scale': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const data = Buffer.alloc(4);
  data.writeFloatLE(scale);
  const f = path.join(dir, 'model.safetensors');
  fs.writeFileSync(f, Buffer.concat([len, header, data]));
  fs.utimesSync(f, mtime, mtime);
}

test('re-quantizing a checkpoint in place (same path, same header and size, new scales) gives a new cache', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-fp-'));
  const ckpt = path.join(root, 'model-fp8');
  writeCheckpoint(ckpt, 0.5, new Date('2026-01-01T00:00:00Z'));
  const id = { model: ckpt, precision: 'fp8-static' };
  const before = cacheFileName(id);
  const fpBefore = checkpointFingerprint(ckpt);
  const cache = new RequestCache(path.join(root, 'cache'), id);
  cache.put([['k', { gen: 'stale answer' }]]);

  writeCheckpoint(ckpt, 0.25, new Date('2026-01-02T00:00:00Z')); // re-quantized in place
  assert.notEqual(checkpointFingerprint(ckpt), fpBefore);
  assert.notEqual(cacheFileName(id), before);
  assert.equal(new RequestCache(path.join(root, 'cache'), id).has('k'), false, 'no stale answer');

  // the same content at another path shares the cache (the key is content, not path)
  const copy = path.join(root, 'copy');
  writeCheckpoint(copy, 0.25, new Date('2026-01-02T00:00:00Z'));
  assert.equal(checkpointFingerprint(copy), checkpointFingerprint(ckpt));
  assert.notEqual(cacheFileName({ ...id, addBosToken: true }), cacheFileName(id), 'add_bos_token changes the answers');
});
