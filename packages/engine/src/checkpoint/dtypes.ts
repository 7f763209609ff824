/**
 * safetensors element types: names as they appear in headers, their byte sizes, and the order the reference
 * implementation (huggingface/safetensors, safetensors/src/tensor.rs, `enum Dtype`) sorts them by when it writes.
 */

/**
 * Every dtype a safetensors header may name that has a whole-byte element size. The sub-byte and exotic types of
 * newer format versions (F4, F6_*, F8_E8M0, C64) are rejected as unknown: nothing in a Llama checkpoint uses them.
 */
export const SAFETENSORS_DTYPES = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
] as const;

export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

const ITEM_SIZES: Record<SafetensorsDtype, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

export function isSafetensorsDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && (SAFETENSORS_DTYPES as readonly string[]).includes(s);
}

/** Bytes per element. */
export function dtypeItemSize(dtype: SafetensorsDtype): number {
  return ITEM_SIZES[dtype];
}

/**
 * Rank of a dtype in the reference implementation's enum (declared in increasing alignment order). Its writer sorts
 * tensors by descending rank, then by name, so that every tensor starts at a multiple of its element size.
 */
export function dtypeReferenceRank(dtype: SafetensorsDtype): number {
  return SAFETENSORS_DTYPES.indexOf(dtype);
}

/**
 * prod(shape) * itemsize, or null if it is not a safe integer (an overflowing header). An empty shape is a scalar
 * (one element).
 */
export function tensorByteSize(dtype: SafetensorsDtype, shape: readonly number[]): number | null {
  let n = dtypeItemSize(dtype);
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return null;
  }
  return n;
}
