import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CheckpointError,
  INDEX_FILE,
  decodeFloats,
  dtypeItemSize,
  openCheckpoint,
  readTensorBytes,
  writeSafetensors,
  writeShardedSafetensors,
  type CheckpointErrorCode,
  type SafetensorsDtype,
  type WriteEntry,
} from '../src/checkpoint/index.ts';
import { dataPath, missingDataMessage } from '../src/datadir.ts';
import { rng } from './helpers.ts';


function randomBytes(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

const created: string[] = [];
after(() => created.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-ckpt-idx-'));
  created.push(d);
  return d;
}

function expectCheckpointError(fn: () => unknown, code: CheckpointErrorCode, file?: string, tensor?: string): CheckpointError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof CheckpointError, `expected CheckpointError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (file !== undefined) assert.equal(caught.file, file);
  if (tensor !== undefined) assert.equal(caught.tensor, tensor);
  return caught;
}

const CONFIG = JSON.stringify({ model_type: 'llama', hidden_size: 8 });

/** `n` tensors of assorted dtypes with random data; sizes 16..64 bytes. */
function makeEntries(seed: number, n: number): { entries: WriteEntry[]; data: Map<string, Uint8Array> } {
  const r = rng(seed);
  const dtypes: SafetensorsDtype[] = ['F32', 'BF16', 'F16', 'I8', 'F8_E4M3', 'I32', 'U8', 'F64'];
  const data = new Map<string, Uint8Array>();
  const entries: WriteEntry[] = [];
  for (let i = 0; i < n; i++) {
    const dtype = dtypes[i % dtypes.length];
    const elems = Math.max(1, Math.floor((16 + r() * 48) / dtypeItemSize(dtype)));
    const bytes = randomBytes(r, elems * dtypeItemSize(dtype));
    const name = `model.layers.${i}.w`;
    data.set(name, bytes);
    entries.push({ name, dtype, shape: [elems], data: () => bytes });
  }
  return { entries, data };
}

describe('writeShardedSafetensors + openCheckpoint', () => {
  test('several shards: names, index contents, and every tensor read back byte-identical', () => {
    const parent = tmpDir();
    const dir = path.join(parent, 'ckpt');
    const { entries, data } = makeEntries(11, 20);
    const res = writeShardedSafetensors(dir, entries, { maxShardBytes: 200, extraFiles: { 'config.json': CONFIG } });
    assert.ok(res.files.length > 2, `expected several shards, got ${res.files.length}`);
    res.files.forEach((f, i) => assert.equal(f, `model-${String(i + 1).padStart(5, '0')}-of-${String(res.files.length).padStart(5, '0')}.safetensors`));
    assert.equal(res.indexFile, INDEX_FILE);

    const index = JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8'));
    const total = [...data.values()].reduce((a, b) => a + b.length, 0);
    assert.deepEqual(index.metadata, { total_size: total });
    assert.deepEqual(Object.keys(index.weight_map), [...data.keys()].sort());
    for (const f of res.files) {
      const size = entries.filter((e) => index.weight_map[e.name] === f).reduce((a, e) => a + data.get(e.name)!.length, 0);
      assert.ok(size <= 200 || entries.filter((e) => index.weight_map[e.name] === f).length === 1, `${f} within the limit`);
    }

    const ck = openCheckpoint(dir);
    assert.deepEqual(ck.config, JSON.parse(CONFIG));
    assert.equal(ck.files.length, res.files.length);
    assert.equal(ck.indexFile, path.join(dir, INDEX_FILE));
    assert.equal(ck.tensors.size, entries.length);
    for (const e of entries) {
      const t = ck.tensors.get(e.name)!;
      assert.equal(path.basename(t.file), index.weight_map[e.name]);
      assert.deepEqual(new Uint8Array(readTensorBytes(t)), data.get(e.name), e.name);
    }
    assert.deepEqual(fs.readdirSync(parent), ['ckpt'], 'no temporary directory left');
  });

  test('one shard suffices: a single model.safetensors, no index', () => {
    const dir = path.join(tmpDir(), 'one');
    const { entries, data } = makeEntries(12, 5);
    const res = writeShardedSafetensors(dir, entries, { maxShardBytes: 1 << 20, extraFiles: { 'config.json': CONFIG } });
    assert.deepEqual(res.files, ['model.safetensors']);
    assert.equal(res.indexFile, null);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
    const ck = openCheckpoint(dir);
    assert.equal(ck.indexFile, null);
    for (const [name, bytes] of data) assert.deepEqual(new Uint8Array(readTensorBytes(ck.tensors.get(name)!)), bytes);
  });

  test('a tensor larger than maxShardBytes gets a shard of its own', () => {
    const dir = path.join(tmpDir(), 'big');
    const r = rng(13);
    const entries: WriteEntry[] = [
      { name: 'a', dtype: 'U8', shape: [10], data: randomBytes(r, 10) },
      { name: 'huge', dtype: 'U8', shape: [100], data: randomBytes(r, 100) },
      { name: 'b', dtype: 'U8', shape: [10], data: randomBytes(r, 10) },
    ];
    const res = writeShardedSafetensors(dir, entries, { maxShardBytes: 50, extraFiles: { 'config.json': CONFIG } });
    assert.deepEqual(res.weightMap, { a: res.files[0], huge: res.files[1], b: res.files[2] });
  });

  test('failure midway leaves neither the target nor a temporary directory', () => {
    const parent = tmpDir();
    const dir = path.join(parent, 'fail');
    const { entries } = makeEntries(14, 12);
    entries[9] = { ...entries[9], data: () => { throw new Error('out of host memory'); } };
    const e = expectCheckpointError(() => writeShardedSafetensors(dir, entries, { maxShardBytes: 100 }), 'WRITE_FAILED', undefined, entries[9].name);
    assert.ok(e.message.includes('out of host memory'));
    assert.equal(path.dirname(e.file), dir, 'error names the file as it would be in the target');
    assert.match(path.basename(e.file), /^model-\d{5}-of-\d{5}\.safetensors$/);
    assert.deepEqual(fs.readdirSync(parent), []);
  });

  test('existing target: TARGET_EXISTS unless overwrite, which replaces it whole', () => {
    const parent = tmpDir();
    const dir = path.join(parent, 'out');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'stale.txt'), 'old');
    const { entries, data } = makeEntries(15, 3);
    expectCheckpointError(() => writeShardedSafetensors(dir, entries, { maxShardBytes: 1000 }), 'TARGET_EXISTS', dir);
    assert.deepEqual(fs.readdirSync(dir), ['stale.txt']);
    writeShardedSafetensors(dir, entries, { maxShardBytes: 1000, overwrite: true, extraFiles: { 'config.json': CONFIG } });
    assert.deepEqual(fs.readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
    assert.equal(openCheckpoint(dir).tensors.size, data.size);
    assert.deepEqual(fs.readdirSync(parent), ['out']);
  });

  test('shards carry format=pt metadata (transformers requires it)', () => {
    const dir = path.join(tmpDir(), 'meta');
    writeShardedSafetensors(dir, makeEntries(16, 2).entries, { maxShardBytes: 1000, metadata: { producer: 'quantbench' } });
    const raw = fs.readFileSync(path.join(dir, 'model.safetensors'));
    const header = JSON.parse(raw.subarray(8, 8 + Number(raw.readBigUInt64LE(0))).toString('utf8'));
    assert.deepEqual(header.__metadata__, { format: 'pt', producer: 'quantbench' });
  });
});

describe('openCheckpoint rejects broken directories with the right code', () => {
  function sharded(seed: number): { dir: string; index: { weight_map: Record<string, string> } } {
    const dir = path.join(tmpDir(), 'ck');
    writeShardedSafetensors(dir, makeEntries(seed, 8).entries, { maxShardBytes: 100, extraFiles: { 'config.json': CONFIG } });
    return { dir, index: JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8')) };
  }

  test('directory absent: NOT_FOUND', () => {
    const dir = path.join(tmpDir(), 'nope');
    expectCheckpointError(() => openCheckpoint(dir), 'NOT_FOUND', dir);
  });

  test('config.json missing or not JSON or not an object: BAD_CONFIG', () => {
    const { dir } = sharded(21);
    const cfg = path.join(dir, 'config.json');
    fs.writeFileSync(cfg, '{"hidden_size": 8,');
    expectCheckpointError(() => openCheckpoint(dir), 'BAD_CONFIG', cfg);
    fs.writeFileSync(cfg, '[1]');
    expectCheckpointError(() => openCheckpoint(dir), 'BAD_CONFIG', cfg);
    fs.rmSync(cfg);
    expectCheckpointError(() => openCheckpoint(dir), 'BAD_CONFIG', cfg);
  });

  test('no weights file at all: NO_WEIGHTS, mentioning pickle weights found', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'config.json'), CONFIG);
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'x');
    const e = expectCheckpointError(() => openCheckpoint(dir), 'NO_WEIGHTS', dir);
    assert.ok(e.message.includes('pytorch_model.bin'));
  });

  test('missing shard: MISSING_SHARD naming it', () => {
    const { dir, index } = sharded(22);
    const shard = Object.values(index.weight_map)[0];
    fs.rmSync(path.join(dir, shard));
    const e = expectCheckpointError(() => openCheckpoint(dir), 'MISSING_SHARD', path.join(dir, shard));
    assert.ok(e.message.includes(shard));
  });

  test('tensor in the index but absent from its shard: MISSING_TENSOR', () => {
    const { dir, index } = sharded(23);
    const shard = Object.values(index.weight_map)[0];
    index.weight_map['model.extra.weight'] = shard;
    fs.writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify(index));
    expectCheckpointError(() => openCheckpoint(dir), 'MISSING_TENSOR', path.join(dir, shard), 'model.extra.weight');
  });

  test('index pointing at the wrong shard: MISSING_TENSOR saying where the tensor is', () => {
    const { dir, index } = sharded(24);
    const names = Object.keys(index.weight_map);
    const shards = [...new Set(Object.values(index.weight_map))];
    const moved = names.find((n) => index.weight_map[n] === shards[0])!;
    index.weight_map[moved] = shards[1];
    fs.writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify(index));
    const e = expectCheckpointError(() => openCheckpoint(dir), 'MISSING_TENSOR', path.join(dir, shards[1]), moved);
    assert.ok(e.message.includes(shards[0]));
  });

  test('same tensor in two shards: DUPLICATE_TENSOR', () => {
    const { dir, index } = sharded(25);
    const shards = [...new Set(Object.values(index.weight_map))];
    const name = Object.keys(index.weight_map).find((n) => index.weight_map[n] === shards[0])!;
    // Rewrite the second shard so it also holds `name`.
    const second = path.join(dir, shards[1]);
    const ck = openCheckpoint(dir);
    const keep = [...ck.tensors.values()].filter((t) => path.basename(t.file) === shards[1]);
    const dupe = ck.tensors.get(name)!;
    const rewritten = [...keep, dupe].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: new Uint8Array(readTensorBytes(t)) }));
    writeSafetensors(second, rewritten);
    const e = expectCheckpointError(() => openCheckpoint(dir), 'DUPLICATE_TENSOR', second, name);
    assert.ok(e.message.includes(shards[0]));
  });

  test('bad index, or both model.safetensors and an index: BAD_INDEX', () => {
    const { dir, index } = sharded(26);
    const idx = path.join(dir, INDEX_FILE);
    fs.writeFileSync(idx, '{"weight_map": 3}');
    expectCheckpointError(() => openCheckpoint(dir), 'BAD_INDEX', idx);
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: '../../etc/passwd' } }));
    expectCheckpointError(() => openCheckpoint(dir), 'BAD_INDEX', idx, 'a');
    fs.writeFileSync(idx, JSON.stringify(index));
    writeSafetensors(path.join(dir, 'model.safetensors'), []);
    expectCheckpointError(() => openCheckpoint(dir), 'BAD_INDEX', dir);
  });

  test('a truncated shard surfaces the reader error with the shard path', () => {
    const { dir, index } = sharded(27);
    const shard = path.join(dir, Object.values(index.weight_map)[0]);
    fs.truncateSync(shard, fs.statSync(shard).size - 3);
    expectCheckpointError(() => openCheckpoint(dir), 'TRUNCATED', shard);
  });
});

describe('the real stories260K checkpoints', () => {
  for (const [rel, dtype] of [
    ['models/stories260K/hf', 'F32'],
    ['models/stories260K/hf-fp16', 'F16'],
  ] as const) {
    const dir = dataPath(rel);
    test(`${rel}: tensor names and shapes agree with config.json`, { skip: dir ? false : missingDataMessage(rel) }, () => {
      const ck = openCheckpoint(dir!);
      const c = ck.config as Record<string, number | boolean>;
      const hidden = c.hidden_size as number;
      const inter = c.intermediate_size as number;
      const heads = c.num_attention_heads as number;
      const kvHeads = c.num_key_value_heads as number;
      const layers = c.num_hidden_layers as number;
      const headDim = hidden / heads;
      const expected = new Map<string, number[]>([
        ['model.embed_tokens.weight', [c.vocab_size as number, hidden]],
        ['model.norm.weight', [hidden]],
      ]);
      for (let l = 0; l < layers; l++) {
        const p = `model.layers.${l}`;
        expected.set(`${p}.input_layernorm.weight`, [hidden]);
        expected.set(`${p}.post_attention_layernorm.weight`, [hidden]);
        expected.set(`${p}.self_attn.q_proj.weight`, [heads * headDim, hidden]);
        expected.set(`${p}.self_attn.k_proj.weight`, [kvHeads * headDim, hidden]);
        expected.set(`${p}.self_attn.v_proj.weight`, [kvHeads * headDim, hidden]);
        expected.set(`${p}.self_attn.o_proj.weight`, [hidden, heads * headDim]);
        expected.set(`${p}.mlp.gate_proj.weight`, [inter, hidden]);
        expected.set(`${p}.mlp.up_proj.weight`, [inter, hidden]);
        expected.set(`${p}.mlp.down_proj.weight`, [hidden, inter]);
      }
      if (!c.tie_word_embeddings) expected.set('lm_head.weight', [c.vocab_size as number, hidden]);
      assert.deepEqual([...ck.tensors.keys()].sort(), [...expected.keys()].sort());
      for (const [name, shape] of expected) {
        const t = ck.tensors.get(name)!;
        assert.deepEqual(t.shape, shape, name);
        assert.equal(t.dtype, dtype, name);
      }
      assert.equal(ck.files.length, 1);
    });
  }

  const f32 = dataPath('models/stories260K/hf');
  const f16 = dataPath('models/stories260K/hf-fp16');
  test('fp16 weights decode to within fp16 rounding of the float32 weights (offsets point at the right bytes)', {
    skip: f32 && f16 ? false : missingDataMessage('models/stories260K/hf and hf-fp16'),
  }, () => {
    const a = openCheckpoint(f32!);
    const b = openCheckpoint(f16!);
    for (const name of ['model.norm.weight', 'model.layers.4.mlp.down_proj.weight', 'model.embed_tokens.weight']) {
      const x = decodeFloats('F32', readTensorBytes(a.tensors.get(name)!));
      const y = decodeFloats('F16', readTensorBytes(b.tensors.get(name)!));
      assert.equal(x.length, y.length);
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / Math.max(Math.abs(x[i]), 6e-5));
      assert.ok(worst < 1e-3, `${name}: worst relative difference ${worst}`);
      assert.ok(x.some((v) => v !== 0), `${name} is not all zeros`);
    }
  });
});
