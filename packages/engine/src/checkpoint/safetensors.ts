/**
 * safetensors header reader. Reads the 8-byte length and the JSON header only; tensor data stays on disk (a
 * checkpoint can be 16 GB) and is located by absolute byte offsets.
 *
 * Format (huggingface/safetensors README): 8 bytes little-endian u64 N, N bytes of UTF-8 JSON
 * `{"__metadata__": {str: str}?, NAME: {"dtype", "shape", "data_offsets": [begin, end]}}`, then the data section;
 * offsets are relative to the start of the data section. Validation follows the reference implementation
 * (safetensors/src/tensor.rs `read_metadata` / `Metadata::validate`): header at most 100,000,000 bytes, byte size
 * equal to prod(shape) * itemsize, tensors tiling the data section exactly (no overlap, no hole, no trailing bytes).
 */
import fs from 'node:fs';
import { CheckpointError, describeError } from './errors.ts';
import { SAFETENSORS_DTYPES, isSafetensorsDtype, tensorByteSize, type SafetensorsDtype } from './dtypes.ts';

/** The reference implementation's MAX_HEADER_SIZE. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  /** Path of the safetensors file holding the data. */
  file: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the first data byte in `file`. */
  offset: number;
  nbytes: number;
}

export interface SafetensorsHeader {
  file: string;
  /** N, the JSON header length (including its space padding). */
  headerBytes: number;
  /** 8 + N: where the data section starts. */
  dataStart: number;
  fileSize: number;
  /** `__metadata__` (empty when the header has none). */
  metadata: Record<string, string>;
  /** In header order. */
  tensors: Map<string, TensorEntry>;
}

const REDO = 're-download or re-export the checkpoint (the file is damaged or is not a safetensors file)';

/** Read and validate the header of one safetensors file. Throws CheckpointError. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openForRead(file);
  try {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < 8) {
      throw new CheckpointError('TRUNCATED', file, `file is ${fileSize} bytes, shorter than the 8-byte header length; ${REDO}`);
    }
    const lenBuf = Buffer.alloc(8);
    readExactly(fd, file, lenBuf, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES)) {
      throw new CheckpointError(
        'HEADER_TOO_LARGE',
        file,
        `declared header length ${n} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit; ${REDO}`,
      );
    }
    const headerBytes = Number(n);
    if (8 + headerBytes > fileSize) {
      throw new CheckpointError(
        'HEADER_PAST_EOF',
        file,
        `declared header length ${headerBytes} bytes runs past the end of the ${fileSize}-byte file; ${REDO}`,
      );
    }
    const headerBuf = Buffer.alloc(headerBytes);
    readExactly(fd, file, headerBuf, 8);
    return parseHeader(file, headerBuf, fileSize);
  } finally {
    fs.closeSync(fd);
  }
}

/** Read one tensor's bytes (only that tensor's region of the file). */
export function readTensorBytes(entry: TensorEntry): Buffer {
  const fd = openForRead(entry.file);
  try {
    const buf = Buffer.alloc(entry.nbytes);
    readExactly(fd, entry.file, buf, entry.offset, entry.name);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

function parseHeader(file: string, headerBuf: Buffer, fileSize: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBuf);
  } catch {
    throw new CheckpointError('BAD_HEADER', file, `header is not valid UTF-8; ${REDO}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError('BAD_HEADER', file, `header is not valid JSON (${describeError(e)}); ${REDO}`);
  }
  if (!isPlainObject(json)) {
    throw new CheckpointError('BAD_HEADER', file, `header JSON is ${jsonKind(json)}, not an object; ${REDO}`);
  }

  const headerBytes = headerBuf.length;
  const dataStart = 8 + headerBytes;
  let metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  const ranges: { name: string; begin: number; end: number }[] = [];

  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, value);
      continue;
    }
    const { dtype, shape, begin, end } = parseTensorInfo(file, name, value);
    tensors.set(name, { name, file, dtype, shape, offset: dataStart + begin, nbytes: end - begin });
    ranges.push({ name, begin, end });
  }

  checkTiling(file, ranges, fileSize - dataStart);
  return { file, headerBytes, dataStart, fileSize, metadata, tensors };
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  if (!isPlainObject(value)) {
    throw new CheckpointError('BAD_HEADER', file, `__metadata__ is ${jsonKind(value)}; it must be a map of strings to strings`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new CheckpointError(
        'BAD_HEADER',
        file,
        `__metadata__["${k}"] is ${jsonKind(v)}; __metadata__ must map strings to strings (re-export the file)`,
      );
    }
  }
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

function parseTensorInfo(
  file: string,
  name: string,
  value: unknown,
): { dtype: SafetensorsDtype; shape: number[]; begin: number; end: number } {
  if (!isPlainObject(value)) {
    throw new CheckpointError('BAD_HEADER', file, `header entry is ${jsonKind(value)}, not {dtype, shape, data_offsets}; ${REDO}`, {
      tensor: name,
    });
  }
  for (const key of ['dtype', 'shape', 'data_offsets']) {
    if (!(key in value)) {
      throw new CheckpointError('BAD_HEADER', file, `header entry has no "${key}"; ${REDO}`, { tensor: name });
    }
  }
  const { dtype, shape, data_offsets: offsets } = value as { dtype: unknown; shape: unknown; data_offsets: unknown };
  if (!isSafetensorsDtype(dtype)) {
    throw new CheckpointError(
      'UNKNOWN_DTYPE',
      file,
      `dtype ${JSON.stringify(dtype)} is not one of ${SAFETENSORS_DTYPES.join(', ')}; convert the checkpoint to a supported dtype`,
      { tensor: name },
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) {
    throw new CheckpointError('BAD_SHAPE', file, `shape ${JSON.stringify(shape)} is not a list of non-negative integers; ${REDO}`, {
      tensor: name,
    });
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt) || offsets[0] > offsets[1]) {
    throw new CheckpointError(
      'BAD_OFFSETS',
      file,
      `data_offsets ${JSON.stringify(offsets)} is not [begin, end] with integers 0 <= begin <= end; ${REDO}`,
      { tensor: name },
    );
  }
  const [begin, end] = offsets as [number, number];
  const expected = tensorByteSize(dtype, shape as number[]);
  if (expected === null || expected !== end - begin) {
    throw new CheckpointError(
      'DTYPE_SHAPE',
      file,
      `data_offsets [${begin}, ${end}] cover ${end - begin} bytes but ${dtype} ${JSON.stringify(shape)} needs ` +
        `${expected === null ? 'an overflowing number of' : expected} bytes; ${REDO}`,
      { tensor: name },
    );
  }
  return { dtype, shape: [...(shape as number[])], begin, end };
}

/** The tensors must tile [0, dataSize) exactly, as the reference reader requires. */
function checkTiling(file: string, ranges: { name: string; begin: number; end: number }[], dataSize: number): void {
  const sorted = [...ranges].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: string | null = null;
  for (const r of sorted) {
    if (r.begin < cursor) {
      throw new CheckpointError(
        'OVERLAP',
        file,
        `bytes [${r.begin}, ${r.end}) overlap tensor "${prev}" (which ends at ${cursor}); ${REDO}`,
        { tensor: r.name },
      );
    }
    if (r.begin > cursor) {
      throw new CheckpointError(
        'GAP',
        file,
        `data starts at ${r.begin} but the previous tensor${prev ? ` "${prev}"` : ''} ends at ${cursor}: ` +
          `${r.begin - cursor} bytes belong to no tensor; ${REDO}`,
        { tensor: r.name },
      );
    }
    if (r.end > dataSize) {
      throw new CheckpointError(
        'TRUNCATED',
        file,
        `data [${r.begin}, ${r.end}) runs past the end of the data section (${dataSize} bytes): the file is truncated; ` +
          're-download or re-copy it',
        { tensor: r.name },
      );
    }
    if (r.end > r.begin) {
      cursor = r.end;
      prev = r.name;
    }
  }
  if (cursor !== dataSize) {
    throw new CheckpointError(
      'GAP',
      file,
      `${dataSize - cursor} trailing bytes after the last tensor belong to no tensor; ${REDO}`,
    );
  }
}

function openForRead(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CheckpointError('NOT_FOUND', file, 'file does not exist; check the path', { cause: e });
    throw new CheckpointError('IO', file, `cannot open for reading (${describeError(e)})`, { cause: e });
  }
}

function readExactly(fd: number, file: string, buf: Buffer, position: number, tensor?: string): void {
  let done = 0;
  while (done < buf.length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, done, buf.length - done, position + done);
    } catch (e) {
      throw new CheckpointError('IO', file, `read failed at byte ${position + done} (${describeError(e)})`, { tensor, cause: e });
    }
    if (n === 0) {
      throw new CheckpointError('TRUNCATED', file, `unexpected end of file at byte ${position + done}; re-download or re-copy it`, {
        tensor,
      });
    }
    done += n;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}
