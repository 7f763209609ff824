/**
 * Streaming safetensors writer: the header is built from dtypes and shapes alone, then each tensor's data is
 * produced (lazily, if given as a function) and written one at a time, so a model never has to be in memory whole.
 *
 * Layout follows the reference implementation (huggingface/safetensors, safetensors/src/tensor.rs `prepare`):
 * compact JSON header with `__metadata__` first and each entry as {"dtype","shape","data_offsets"}, padded with
 * spaces to a multiple of 8 bytes; tensors packed back to back with no per-tensor padding. The reference library
 * also reorders tensors (descending dtype alignment, then name) so every tensor starts at a multiple of its element
 * size; `order: 'reference'` does the same (output byte-identical to the Python library's save_file), while the
 * default keeps the caller's order.
 *
 * Atomic: everything goes to `<path>.tmp-<pid>`, which is renamed over `path` only when complete; on any error the
 * temporary file is deleted.
 */
import fs from 'node:fs';
import { CheckpointError, describeError, isCheckpointError } from './errors.ts';
import { dtypeReferenceRank, isSafetensorsDtype, tensorByteSize, type SafetensorsDtype } from './dtypes.ts';
import { MAX_HEADER_BYTES } from './safetensors.ts';

export interface WriteEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** Raw little-endian bytes, or a function producing them when the tensor's turn comes. */
  data: Uint8Array | (() => Uint8Array);
}

export interface WriteOptions {
  /** 'entries' (default): tensors in the order given. 'reference': the Python library's order (see above). */
  order?: 'entries' | 'reference';
}

export interface WrittenFile {
  path: string;
  /** Total file size in bytes. */
  bytes: number;
  /** Sum of tensor data sizes. */
  dataBytes: number;
  /** Tensor names in file order. */
  names: string[];
}

/** Largest single write call (Node caps one write below 2 GiB). */
const WRITE_CHUNK = 256 * 1024 * 1024;

export interface PlannedTensor {
  entry: WriteEntry;
  nbytes: number;
  begin: number;
}

/** Check entries and compute their byte sizes and offsets. Throws CheckpointError('BAD_ENTRY' | 'DUPLICATE_TENSOR'). */
export function planTensors(target: string, entries: readonly WriteEntry[], order: 'entries' | 'reference' = 'entries'): PlannedTensor[] {
  const seen = new Set<string>();
  const sized = entries.map((entry) => {
    const { name, dtype, shape } = entry;
    if (typeof name !== 'string' || name.length === 0 || name === '__metadata__') {
      throw new CheckpointError('BAD_ENTRY', target, `tensor name ${JSON.stringify(name)} is empty or reserved; give each tensor a name`);
    }
    if (seen.has(name)) {
      throw new CheckpointError('DUPLICATE_TENSOR', target, 'tensor name given twice; each name must be unique in a checkpoint', {
        tensor: name,
      });
    }
    seen.add(name);
    if (!isSafetensorsDtype(dtype)) {
      throw new CheckpointError('BAD_ENTRY', target, `dtype ${JSON.stringify(dtype)} is not a safetensors dtype`, { tensor: name });
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError('BAD_ENTRY', target, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`, {
        tensor: name,
      });
    }
    const nbytes = tensorByteSize(dtype, shape);
    if (nbytes === null) {
      throw new CheckpointError('BAD_ENTRY', target, `shape ${JSON.stringify(shape)} is too large`, { tensor: name });
    }
    if (typeof entry.data !== 'function' && entry.data.byteLength !== nbytes) {
      throw new CheckpointError(
        'BAD_ENTRY',
        target,
        `data has ${entry.data.byteLength} bytes but ${dtype} ${JSON.stringify(shape)} needs ${nbytes}`,
        { tensor: name },
      );
    }
    return { entry, nbytes, begin: 0 };
  });
  if (order === 'reference') {
    sized.sort(
      (a, b) =>
        dtypeReferenceRank(b.entry.dtype) - dtypeReferenceRank(a.entry.dtype) ||
        (a.entry.name < b.entry.name ? -1 : a.entry.name > b.entry.name ? 1 : 0),
    );
  }
  let offset = 0;
  for (const t of sized) {
    t.begin = offset;
    offset += t.nbytes;
  }
  return sized;
}

/** The header bytes (JSON padded with spaces to a multiple of 8), as the reference implementation lays them out. */
export function buildHeader(target: string, planned: readonly PlannedTensor[], metadata?: Record<string, string>): Buffer {
  // Built by hand rather than from one object: JS objects put integer-like keys first, which would reorder tensors.
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new CheckpointError('BAD_ENTRY', target, `metadata["${k}"] is not a string; safetensors metadata maps strings to strings`);
      }
    }
    const meta = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    parts.push(`"__metadata__":{${meta.join(',')}}`);
  }
  for (const t of planned) {
    const info = { dtype: t.entry.dtype, shape: [...t.entry.shape], data_offsets: [t.begin, t.begin + t.nbytes] };
    parts.push(`${JSON.stringify(t.entry.name)}:${JSON.stringify(info)}`);
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  if (padded.length > MAX_HEADER_BYTES) {
    throw new CheckpointError('BAD_ENTRY', target, `header would be ${padded.length} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers accept; split the checkpoint into shards`);
  }
  return padded;
}

/** Write one safetensors file atomically. */
export function writeSafetensors(
  path: string,
  entries: readonly WriteEntry[],
  metadata?: Record<string, string>,
  options: WriteOptions = {},
): WrittenFile {
  const planned = planTensors(path, entries, options.order ?? 'entries');
  const header = buildHeader(path, planned, metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeAll(fd, tmp, len);
    writeAll(fd, tmp, header);
    let dataBytes = 0;
    for (const t of planned) {
      const data = materialize(path, t);
      writeAll(fd, tmp, data, t.entry.name);
      dataBytes += t.nbytes;
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, path);
    return { path, bytes: 8 + header.length + dataBytes, dataBytes, names: planned.map((t) => t.entry.name) };
  } catch (e) {
    if (fd !== null) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing; the original error is reported */
      }
    }
    fs.rmSync(tmp, { force: true });
    if (isCheckpointError(e)) throw e;
    throw new CheckpointError('WRITE_FAILED', path, `writing failed (${describeError(e)}); no file was written`, { cause: e });
  }
}

function materialize(target: string, t: PlannedTensor): Uint8Array {
  const { entry } = t;
  let data: Uint8Array;
  if (typeof entry.data === 'function') {
    try {
      data = entry.data();
    } catch (e) {
      throw new CheckpointError('WRITE_FAILED', target, `producing the data failed (${describeError(e)}); no file was written`, {
        tensor: entry.name,
        cause: e,
      });
    }
  } else {
    data = entry.data;
  }
  if (!(data instanceof Uint8Array) || data.byteLength !== t.nbytes) {
    const got = data instanceof Uint8Array ? `${data.byteLength} bytes` : 'not a Uint8Array';
    throw new CheckpointError(
      'BAD_ENTRY',
      target,
      `data is ${got} but ${entry.dtype} ${JSON.stringify(entry.shape)} needs ${t.nbytes} bytes; no file was written`,
      { tensor: entry.name },
    );
  }
  return data;
}

function writeAll(fd: number, file: string, data: Uint8Array, tensor?: string): void {
  let done = 0;
  while (done < data.byteLength) {
    const len = Math.min(WRITE_CHUNK, data.byteLength - done);
    let n: number;
    try {
      n = fs.writeSync(fd, data, done, len);
    } catch (e) {
      throw new CheckpointError('WRITE_FAILED', file, `write failed (${describeError(e)}); no file was written`, { tensor, cause: e });
    }
    done += n;
  }
}
