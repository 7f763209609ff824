import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CheckpointError,
  SAFETENSORS_DTYPES,
  dtypeItemSize,
  readSafetensorsHeader,
  readTensorBytes,
  writeSafetensors,
  type CheckpointErrorCode,
  type SafetensorsDtype,
  type WriteEntry,
} from '../src/checkpoint/index.ts';
import { dataPath, missingDataMessage } from '../src/datadir.ts';
import { rng } from './helpers.ts';

// ---- helpers -------------------------------------------------------------------------------------------------


function randomBytes(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

const created: string[] = [];
after(() => created.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-ckpt-st-'));
  created.push(d);
  return d;
}

/** A raw file: 8-byte declared length (default: the header's), header text, then `dataLen` random bytes. */
function rawFile(dir: string, name: string, header: string | Buffer, dataLen: number, declaredLen?: bigint): string {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLen ?? BigInt(h.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([len, h, Buffer.from(randomBytes(rng(dataLen + 7), dataLen))]));
  return file;
}

function expectCheckpointError(fn: () => unknown, code: CheckpointErrorCode, file: string, tensor?: string): CheckpointError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof CheckpointError, `expected CheckpointError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.file, file);
  if (tensor !== undefined) {
    assert.equal(caught.tensor, tensor);
    assert.ok(caught.message.includes(tensor), caught.message);
  }
  assert.ok(caught.message.includes(file), 'message names the file');
  return caught;
}

function readAt(file: string, offset: number, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    const got = fs.readSync(fd, b, 0, n, offset);
    assert.equal(got, n);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

// ---- round trip ----------------------------------------------------------------------------------------------

describe('safetensors writer -> reader round trip', () => {
  test('every dtype, scalar and empty shapes, eager and lazy data: bytes read back at entry.offset are identical', () => {
    const r = rng(20251121);
    const dir = tmpDir();
    const entries: WriteEntry[] = [];
    const want = new Map<string, Uint8Array>();
    const lazyCalls: string[] = [];
    const shapes: number[][] = [[3, 5], [7], [], [2, 3, 2], [0, 4], [1, 1]];
    SAFETENSORS_DTYPES.forEach((dtype, i) => {
      const shape = shapes[i % shapes.length].map((d) => (d === 0 ? 0 : d + Math.floor(r() * 3)));
      const n = shape.reduce((a, b) => a * b, 1) * dtypeItemSize(dtype);
      const data = randomBytes(r, n);
      const name = `layers.${i}.${dtype.toLowerCase()}`;
      want.set(name, data);
      entries.push({
        name,
        dtype,
        shape,
        data:
          i % 2 === 0
            ? data
            : () => {
                lazyCalls.push(name);
                return data;
              },
      });
    });
    const file = path.join(dir, 'model.safetensors');
    const written = writeSafetensors(file, entries, { format: 'pt', note: 'round trip' });
    assert.equal(written.bytes, fs.statSync(file).size);
    assert.deepEqual(lazyCalls, entries.filter((_, i) => i % 2 === 1).map((e) => e.name), 'lazy data produced once each, in order');

    const h = readSafetensorsHeader(file);
    assert.equal(h.headerBytes % 8, 0, 'header padded to a multiple of 8');
    assert.equal(h.dataStart, 8 + h.headerBytes);
    assert.deepEqual(h.metadata, { format: 'pt', note: 'round trip' });
    assert.deepEqual([...h.tensors.keys()], entries.map((e) => e.name), 'header keeps entry order');
    for (const e of entries) {
      const t = h.tensors.get(e.name)!;
      assert.equal(t.file, file);
      assert.equal(t.dtype, e.dtype);
      assert.deepEqual(t.shape, e.shape);
      const data = want.get(e.name)!;
      assert.equal(t.nbytes, data.length);
      assert.deepEqual(new Uint8Array(readAt(file, t.offset, t.nbytes)), data, `bytes of ${e.name}`);
      assert.deepEqual(new Uint8Array(readTensorBytes(t)), data);
    }
    // Padding is spaces, as the reference implementation writes it.
    const headerText = readAt(file, 8, h.headerBytes).toString('utf8');
    assert.match(headerText, /^\{.*\} *$/s);
    assert.ok(!fs.readdirSync(dir).some((n) => n.includes('.tmp-')), 'no temporary file left');
  });

  test('output is byte-identical to the reference implementation test vectors', () => {
    // Expected bytes are the test vectors of huggingface/safetensors safetensors/src/tensor.rs
    // (test_serialization, test_empty, test_serialization_forced_alignement).
    const dir = tmpDir();
    const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
    const one = path.join(dir, 'one.safetensors');
    writeSafetensors(one, [{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data: f32([0, 1, 2, 3, 4, 5]) }]);
    assert.deepEqual([...fs.readFileSync(one)], [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95,
      111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0,
      64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    const aligned = path.join(dir, 'aligned.safetensors');
    writeSafetensors(aligned, [{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], data: f32([0, 1, 2, 3, 4, 5]) }]);
    assert.deepEqual([...fs.readFileSync(aligned)], [
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70,
      51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97,
      95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32, 32, 32, 0, 0,
      0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    const empty = path.join(dir, 'empty.safetensors');
    writeSafetensors(empty, []);
    assert.deepEqual([...fs.readFileSync(empty)], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    assert.equal(readSafetensorsHeader(empty).tensors.size, 0);
    const meta = path.join(dir, 'meta.safetensors');
    writeSafetensors(meta, [], { framework: 'pt' });
    assert.deepEqual([...fs.readFileSync(meta)], [
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114,
      97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });

  test("order: 'reference' sorts by descending alignment then name, so every tensor is naturally aligned", () => {
    const r = rng(7);
    const dir = tmpDir();
    const specs: [string, SafetensorsDtype, number[]][] = [
      ['b.i8', 'I8', [3]],
      ['a.f32', 'F32', [3]],
      ['c.bf16', 'BF16', [1]],
      ['d.f64', 'F64', [1]],
      ['e.u8', 'U8', [5]],
      ['a.i32', 'I32', [1]],
    ];
    const entries = specs.map(([name, dtype, shape]) => ({
      name,
      dtype,
      shape,
      data: randomBytes(r, shape[0] * dtypeItemSize(dtype)),
    }));
    const file = path.join(dir, 'ref.safetensors');
    const w = writeSafetensors(file, entries, undefined, { order: 'reference' });
    assert.deepEqual(w.names, ['d.f64', 'a.f32', 'a.i32', 'c.bf16', 'b.i8', 'e.u8']);
    const h = readSafetensorsHeader(file);
    for (const e of entries) {
      const t = h.tensors.get(e.name)!;
      assert.equal(t.offset % dtypeItemSize(t.dtype), 0, `${e.name} aligned`);
      assert.deepEqual(new Uint8Array(readTensorBytes(t)), e.data);
    }
  });

  const realRel = 'models/stories260K/hf/model.safetensors';
  const real = dataPath(realRel);
  test('the real stories260K float32 file parses and its data section is tiled exactly', { skip: real ? false : missingDataMessage(realRel) }, () => {
    const h = readSafetensorsHeader(real!);
    const total = [...h.tensors.values()].reduce((a, t) => a + t.nbytes, 0);
    assert.equal(h.dataStart + total, h.fileSize);
    assert.equal(h.headerBytes % 8, 0);
    assert.equal(h.metadata.format, 'pt');
    assert.equal(h.tensors.get('model.embed_tokens.weight')!.offset, h.dataStart);
  });
});

// ---- writer failures -----------------------------------------------------------------------------------------

describe('safetensors writer failures leave nothing behind', () => {
  const ok = (name: string): WriteEntry => ({ name, dtype: 'F32', shape: [2], data: new Uint8Array(8) });

  test('lazy data that throws midway: WRITE_FAILED naming the tensor, no file, no temp file', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'out.safetensors');
    const entries: WriteEntry[] = [
      ok('first'),
      {
        name: 'second',
        dtype: 'F16',
        shape: [4],
        data: () => {
          throw new Error('device lost');
        },
      },
      ok('third'),
    ];
    const e = expectCheckpointError(() => writeSafetensors(file, entries), 'WRITE_FAILED', file, 'second');
    assert.ok(e.message.includes('device lost'));
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test('a failing write keeps the previous file intact (atomic replace)', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'out.safetensors');
    writeSafetensors(file, [{ name: 'v1', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) }]);
    const before = fs.readFileSync(file);
    expectCheckpointError(
      () => writeSafetensors(file, [ok('v2'), { name: 'bad', dtype: 'F32', shape: [2], data: () => new Uint8Array(7) }]),
      'BAD_ENTRY',
      file,
      'bad',
    );
    assert.deepEqual(fs.readFileSync(file), before);
    assert.deepEqual(fs.readdirSync(dir), ['out.safetensors']);
  });

  test('malformed entries are refused before anything is written', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'out.safetensors');
    expectCheckpointError(() => writeSafetensors(file, [ok('x'), ok('x')]), 'DUPLICATE_TENSOR', file, 'x');
    expectCheckpointError(() => writeSafetensors(file, [{ ...ok('x'), data: new Uint8Array(5) }]), 'BAD_ENTRY', file, 'x');
    expectCheckpointError(() => writeSafetensors(file, [{ ...ok('x'), shape: [-1] }]), 'BAD_ENTRY', file, 'x');
    expectCheckpointError(() => writeSafetensors(file, [{ ...ok('x'), dtype: 'Q4' as SafetensorsDtype }]), 'BAD_ENTRY', file, 'x');
    expectCheckpointError(() => writeSafetensors(file, [ok('__metadata__')]), 'BAD_ENTRY', file);
    expectCheckpointError(() => writeSafetensors(file, [ok('x')], { n: 1 as unknown as string }), 'BAD_ENTRY', file);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

// ---- reader validation ---------------------------------------------------------------------------------------

describe('safetensors reader rejects bad files with the right code', () => {
  const dir = tmpDir();
  const t = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

  test('missing file: NOT_FOUND', () => {
    const file = path.join(dir, 'absent.safetensors');
    expectCheckpointError(() => readSafetensorsHeader(file), 'NOT_FOUND', file);
  });

  test('file shorter than 8 bytes: TRUNCATED', () => {
    const file = path.join(dir, 'short.safetensors');
    fs.writeFileSync(file, Buffer.from([1, 2, 3, 4, 5]));
    expectCheckpointError(() => readSafetensorsHeader(file), 'TRUNCATED', file);
  });

  test('absurd header length: HEADER_TOO_LARGE; header past EOF: HEADER_PAST_EOF', () => {
    const big = rawFile(dir, 'big.safetensors', '{}', 0, 200_000_000n);
    expectCheckpointError(() => readSafetensorsHeader(big), 'HEADER_TOO_LARGE', big);
    const huge = rawFile(dir, 'huge.safetensors', '{}', 0, 0xffffffffffffffffn);
    expectCheckpointError(() => readSafetensorsHeader(huge), 'HEADER_TOO_LARGE', huge);
    const past = rawFile(dir, 'past.safetensors', '{}', 10, 1000n);
    expectCheckpointError(() => readSafetensorsHeader(past), 'HEADER_PAST_EOF', past);
  });

  test('header not JSON, not an object, not UTF-8, bad entries, bad __metadata__: BAD_HEADER', () => {
    for (const [name, header] of [
      ['notjson', '{"a": {"dtype": "F32"'],
      ['array', '[1, 2, 3]'],
      ['string', '"hello"'],
      ['entry-array', JSON.stringify({ w: [1, 2] })],
      ['no-offsets', JSON.stringify({ w: { dtype: 'F32', shape: [1] } })],
      ['meta-number', JSON.stringify({ __metadata__: { format: 1 } })],
      ['meta-string', JSON.stringify({ __metadata__: 'pt' })],
    ] as const) {
      const file = rawFile(dir, `${name}.safetensors`, header, 0);
      expectCheckpointError(() => readSafetensorsHeader(file), 'BAD_HEADER', file);
    }
    const latin = rawFile(dir, 'latin.safetensors', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), 0);
    expectCheckpointError(() => readSafetensorsHeader(latin), 'BAD_HEADER', latin);
  });

  test('unknown dtype: UNKNOWN_DTYPE naming the tensor', () => {
    const file = rawFile(dir, 'dtype.safetensors', JSON.stringify({ 'model.w': t('Q4_K', [4], [0, 2]) }), 2);
    const e = expectCheckpointError(() => readSafetensorsHeader(file), 'UNKNOWN_DTYPE', file, 'model.w');
    assert.ok(e.message.includes('Q4_K'));
  });

  test('shape not non-negative integers: BAD_SHAPE', () => {
    for (const [i, shape] of [[-1, 2], [1.5], '4', [null], [2 ** 60]].entries()) {
      const file = rawFile(dir, `shape${i}.safetensors`, JSON.stringify({ w: t('U8', shape, [0, 4]) }), 4);
      expectCheckpointError(() => readSafetensorsHeader(file), 'BAD_SHAPE', file, 'w');
    }
  });

  test('data_offsets not [begin, end] with begin <= end: BAD_OFFSETS', () => {
    for (const [i, offsets] of [[8, 4], [0], [0, '4'], [-4, 0], 'x', [0, 4, 8]].entries()) {
      const file = rawFile(dir, `off${i}.safetensors`, JSON.stringify({ w: t('U8', [4], offsets) }), 8);
      expectCheckpointError(() => readSafetensorsHeader(file), 'BAD_OFFSETS', file, 'w');
    }
  });

  test('byte size != prod(shape) * itemsize: DTYPE_SHAPE', () => {
    const file = rawFile(dir, 'size.safetensors', JSON.stringify({ w: t('F32', [2, 2], [0, 12]) }), 12);
    const e = expectCheckpointError(() => readSafetensorsHeader(file), 'DTYPE_SHAPE', file, 'w');
    assert.ok(e.message.includes('16'), e.message);
    const over = rawFile(dir, 'overflow.safetensors', JSON.stringify({ w: t('F64', [2 ** 30, 2 ** 30, 2 ** 10], [0, 8]) }), 8);
    expectCheckpointError(() => readSafetensorsHeader(over), 'DTYPE_SHAPE', over, 'w');
  });

  test('overlapping tensors: OVERLAP naming both', () => {
    const header = JSON.stringify({ a: t('F32', [4], [0, 16]), b: t('F32', [4], [8, 24]) });
    const file = rawFile(dir, 'overlap.safetensors', header, 24);
    const e = expectCheckpointError(() => readSafetensorsHeader(file), 'OVERLAP', file, 'b');
    assert.ok(e.message.includes('"a"'));
  });

  test('tensor region past the end of the file: TRUNCATED naming the tensor', () => {
    const header = JSON.stringify({ a: t('F32', [4], [0, 16]), b: t('F32', [4], [16, 32]) });
    const file = rawFile(dir, 'trunc.safetensors', header, 20);
    expectCheckpointError(() => readSafetensorsHeader(file), 'TRUNCATED', file, 'b');
    // A real file cut short.
    const good = path.join(dir, 'good.safetensors');
    writeSafetensors(good, [
      { name: 'x', dtype: 'F32', shape: [8], data: randomBytes(rng(1), 32) },
      { name: 'y', dtype: 'F32', shape: [8], data: randomBytes(rng(2), 32) },
    ]);
    fs.truncateSync(good, fs.statSync(good).size - 5);
    expectCheckpointError(() => readSafetensorsHeader(good), 'TRUNCATED', good, 'y');
  });

  test('hole between tensors or trailing bytes: GAP', () => {
    const hole = rawFile(dir, 'hole.safetensors', JSON.stringify({ a: t('U8', [8], [0, 8]), b: t('U8', [8], [16, 24]) }), 24);
    expectCheckpointError(() => readSafetensorsHeader(hole), 'GAP', hole, 'b');
    const trailing = rawFile(dir, 'trailing.safetensors', JSON.stringify({ a: t('U8', [8], [0, 8]) }), 12);
    expectCheckpointError(() => readSafetensorsHeader(trailing), 'GAP', trailing);
  });

  test('a valid hand-made file with out-of-order offsets and a zero-size tensor is accepted', () => {
    const header = JSON.stringify({ __metadata__: { k: 'v' }, b: t('I32', [2], [4, 12]), a: t('BF16', [2], [0, 4]), z: t('F32', [0], [12, 12]) });
    const file = rawFile(dir, 'valid.safetensors', header, 12);
    const h = readSafetensorsHeader(file);
    assert.deepEqual(h.metadata, { k: 'v' });
    assert.equal(h.tensors.get('a')!.offset, h.dataStart);
    assert.equal(h.tensors.get('b')!.offset, h.dataStart + 4);
    assert.equal(h.tensors.get('z')!.nbytes, 0);
  });
});
