/**
 * Independent float64 references of the number formats and quantization rules that native/src/common/numerics.h
 * defines, written from the format specifications (grid rounding on exact float64 values, no bit tricks):
 * fp16 / bf16 / fp8 e4m3fn rounding (round to nearest, ties to even), int8 quantization, scales and floors.
 */
import type { ActDtype } from '../js/index.ts';

export type ActName = ActDtype;

/** floor(log2(a)) for a > 0, exact (Math.log2 may be off by one next to powers of two). */
export function floorLog2(a: number): number {
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  return e;
}

/** Round to the nearest integer, ties to even; exact for |q| < 2^52. */
export function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const d = q - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Round |a| (finite, >= 0) to the grid of a binary format with `mant` stored mantissa bits and minimum normal
 * exponent `emin` (below it the spacing stays 2^(emin - mant): subnormals). No overflow handling.
 */
export function roundToGrid(a: number, mant: number, emin: number): number {
  if (a === 0) return 0;
  const e = Math.max(floorLog2(a), emin);
  const ulp = 2 ** (e - mant);
  return roundHalfEven(a / ulp) * ulp; // a / ulp is exact: scaling by a power of two
}

function withSign(neg: boolean, v: number): number {
  return neg ? -v : v;
}
function isNeg(x: number): boolean {
  return x < 0 || Object.is(x, -0);
}

export const FP16_MAX = 65504;
export const BF16_MAX = (2 - 2 ** -7) * 2 ** 127;
export const FP8_MAX = 448;

/** IEEE binary16: 10 mantissa bits, emin -14; results above 65504 overflow to inf; NaN stays NaN. */
export function fp16Ref(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a === Infinity) return x;
  const r = roundToGrid(a, 10, -14);
  return withSign(isNeg(x), r > FP16_MAX ? Infinity : r);
}

/** bfloat16: 7 mantissa bits, emin -126 (fp32's range); results above the max overflow to inf; NaN stays NaN. */
export function bf16Ref(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a === Infinity) return x;
  const r = roundToGrid(a, 7, -126);
  return withSign(isNeg(x), r > BF16_MAX ? Infinity : r);
}

/** What storing x in the activation dtype gives (fp32: round to fp32). */
export function roundActRef(x: number, act: ActName): number {
  if (act === 'fp16') return fp16Ref(x);
  if (act === 'bf16') return bf16Ref(x);
  return Math.fround(x);
}

const FMT: Record<ActName, { mant: number; emin: number }> = {
  fp32: { mant: 23, emin: -126 },
  fp16: { mant: 10, emin: -14 },
  bf16: { mant: 7, emin: -126 },
};

/** Spacing of the dtype's grid in the binade holding y >= 0 (subnormal spacing below the min normal). */
export function ulpOf(y: number, act: ActName): number {
  if (!Number.isFinite(y)) return Infinity;
  const { mant, emin } = FMT[act];
  const e = y === 0 ? emin : Math.max(floorLog2(y), emin);
  return 2 ** (e - mant);
}

// ---------------------------------------------------------------------------------------------------------------
// FP8 E4M3 (e4m3fn): 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities; S.1111.111 is NaN; max 448.

/** Value of an e4m3fn code computed from its bit fields. */
export function fp8DecodeRef(code: number): number {
  const neg = (code & 0x80) !== 0;
  const e = (code >> 3) & 0xf;
  const m = code & 0x7;
  if (e === 15 && m === 7) return NaN;
  const v = e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
  return withSign(neg, v);
}

/** Encode: round to nearest even on the e4m3 grid, saturate to +-448 (inf too), NaN -> 0x7f with the sign. */
export function fp8EncodeRef(x: number): number {
  const sign = isNeg(x) ? 0x80 : 0;
  if (Number.isNaN(x)) return sign | 0x7f;
  const a = Math.abs(x);
  let r = a === Infinity ? FP8_MAX : roundToGrid(a, 3, -6);
  if (r > FP8_MAX) r = FP8_MAX;
  if (r < 2 ** -6) return sign | (r / 2 ** -9); // subnormal: m * 2^-9, m in 0..7
  const e = floorLog2(r);
  const m = r / 2 ** (e - 3) - 8;
  return sign | ((e + 7) << 3) | m;
}

/** All 256 codes decoded (NaN for 0x7f / 0xff). */
export const FP8_VALUES: readonly number[] = Array.from({ length: 256 }, (_, c) => fp8DecodeRef(c));

// ---------------------------------------------------------------------------------------------------------------
// INT8 and scales.

/** q = clamp(roundHalfEven(fp32(x * inv)), -128, 127); NaN -> 0. */
export function int8QuantRef(x: number, inv: number): number {
  const v = Math.fround(x * inv);
  if (Number.isNaN(v)) return 0;
  if (v === Infinity) return 127;
  if (v === -Infinity) return -128;
  return Math.min(127, Math.max(-128, roundHalfEven(v)));
}

/** q = fp8 encode of fp32(x * inv). */
export function fp8QuantRef(x: number, inv: number): number {
  return fp8EncodeRef(Math.fround(x * inv));
}

export const FP8_SCALE_FLOOR = Math.fround(1 / (448 * 512));
export const INT8_SCALE_FLOOR = Math.fround(1 / (127 * 512));

/** scale = fp32(absmax / qmax), floored so its reciprocal stays finite. */
export function scaleRef(absmax: number, kind: 'fp8' | 'int8'): number {
  const a = Math.fround(absmax);
  const s = Math.fround(a / (kind === 'fp8' ? 448 : 127));
  const floor = kind === 'fp8' ? FP8_SCALE_FLOOR : INT8_SCALE_FLOOR;
  return s > floor ? s : floor;
}

/** The reciprocal is formed once per scale, in fp32. */
export function invScaleRef(s: number): number {
  return Math.fround(1 / s);
}

/** max |x| over a row (fp32 values, exact). */
export function absmax(x: ArrayLike<number>, from = 0, to = x.length): number {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}
