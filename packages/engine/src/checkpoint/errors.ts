/**
 * The one error type of the checkpoint layer. Every failure names the file (and the tensor when there is one),
 * says what is wrong and what to do about it.
 */

export const CHECKPOINT_ERROR_CODES = [
  /** A file or directory that must exist does not. */
  'NOT_FOUND',
  /** The operating system refused a read or write. */
  'IO',
  /** The file ends before the data it declares (shorter than 8 bytes, or a tensor past EOF). */
  'TRUNCATED',
  /** The declared header length is absurd (over 100 MB). */
  'HEADER_TOO_LARGE',
  /** The declared header length runs past the end of the file. */
  'HEADER_PAST_EOF',
  /** The header is not UTF-8 JSON of the expected shape (object, entries, __metadata__). */
  'BAD_HEADER',
  /** A tensor's dtype is not a safetensors dtype. */
  'UNKNOWN_DTYPE',
  /** A tensor's shape is not a list of non-negative integers. */
  'BAD_SHAPE',
  /** A tensor's data_offsets is not [begin, end] with 0 <= begin <= end. */
  'BAD_OFFSETS',
  /** Byte size and prod(shape) * itemsize disagree, or a tensor's dtype/shape is not what the format requires. */
  'DTYPE_SHAPE',
  /** Two tensors' byte ranges overlap. */
  'OVERLAP',
  /** Bytes of the data section belong to no tensor (a hole between tensors, or trailing bytes). */
  'GAP',
  /** config.json missing, not JSON, or not an object. */
  'BAD_CONFIG',
  /** model.safetensors.index.json is not JSON or has no valid weight_map. */
  'BAD_INDEX',
  /** A checkpoint directory holds no safetensors weights. */
  'NO_WEIGHTS',
  /** A shard named by the index is absent. */
  'MISSING_SHARD',
  /** A tensor the index or the quantization scheme needs is absent. */
  'MISSING_TENSOR',
  /** The same tensor name appears in two shards (or twice in one write). */
  'DUPLICATE_TENSOR',
  /** A quantization_config that quantbench cannot run. */
  'UNSUPPORTED_QUANT',
  /** NaN / Inf (or a non-positive scale) where finite values are required. */
  'NAN_IN_WEIGHTS',
  /** A tensor handed to the writer is malformed (name, dtype, shape, data length). */
  'BAD_ENTRY',
  /** Writing a file failed; nothing was left behind. */
  'WRITE_FAILED',
  /** The output path already exists and overwriting was not asked for. */
  'TARGET_EXISTS',
] as const;

export type CheckpointErrorCode = (typeof CHECKPOINT_ERROR_CODES)[number];

export interface CheckpointErrorOptions {
  tensor?: string;
  cause?: unknown;
}

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  readonly code: CheckpointErrorCode;
  /** The file (or directory) the problem is in. */
  readonly file: string;
  /** The tensor concerned, when there is one. */
  readonly tensor?: string;
  /** The message without the code/file/tensor prefix. */
  readonly detail: string;

  constructor(code: CheckpointErrorCode, file: string, message: string, options: CheckpointErrorOptions = {}) {
    const where = options.tensor !== undefined ? `${file} (tensor "${options.tensor}")` : file;
    super(`[${code}] ${where}: ${message}`, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.file = file;
    this.detail = message;
    if (options.tensor !== undefined) this.tensor = options.tensor;
  }
}

export function isCheckpointError(e: unknown, code?: CheckpointErrorCode): e is CheckpointError {
  return e instanceof CheckpointError && (code === undefined || e.code === code);
}

/** A short description of an unknown thrown value, for wrapping. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
