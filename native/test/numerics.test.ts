/**
 * Pins the number formats of native/src/common/numerics.h (through the addon's codec helpers) against independent
 * float64 references written from the format specifications (reference_numerics.ts):
 * FP8 E4M3 (e4m3fn) decode / encode (RNE, saturation, NaN, subnormals), fp16 / bf16 rounding, int8 quantization
 * (reciprocal in fp32, RNE, saturation) and the scale floors.
 * Every random draw is seeded; the seed is printed and QB_TEST_SEED=<n> reproduces a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNative } from '../js/index.ts';
import { assertExact, logSeed, rngFor, type Rng } from './helpers.ts';
import {
  BF16_MAX,
  FP8_SCALE_FLOOR,
  FP8_VALUES,
  INT8_SCALE_FLOOR,
  bf16Ref,
  fp16Ref,
  fp8DecodeRef,
  fp8EncodeRef,
  int8QuantRef,
  invScaleRef,
  roundHalfEven,
  scaleRef,
} from './reference_numerics.ts';

const native = loadNative();
logSeed('numerics.test.ts');

const hex = (c: number): string => `0x${c.toString(16).padStart(2, '0')}`;
const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);

/** A Float32Array holding these bit patterns (NaN payloads and signs survive only this way). */
function f32FromBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}
/** The raw bits of a Float32Array. */
function bitsOf(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

/** NaN in, NaN out, with its sign, quiet (fp32 quiet bit set). */
function assertNanKept(act: 'fp16' | 'bf16'): void {
  const ins = [0x7fc00000, 0x7f800001, 0x7fffffff, 0xffc00000, 0xff800001];
  const out = native.roundAct(f32FromBits(ins), act);
  const bits = bitsOf(out);
  ins.forEach((b, i) => {
    assert.ok(Number.isNaN(out[i]!), `${act}: NaN bits 0x${b.toString(16)} gave ${out[i]}`);
    assert.equal(bits[i]! >>> 31, b >>> 31, `${act}: NaN 0x${b.toString(16)} lost its sign (0x${bits[i]!.toString(16)})`);
    assert.ok((bits[i]! & 0x00400000) !== 0, `${act}: NaN 0x${b.toString(16)} came back signalling (0x${bits[i]!.toString(16)})`);
  });
}

/** A random fp32 with a log-uniform magnitude in [2^lo, 2^hi) and a random sign. */
function logUniform(rng: Rng, lo: number, hi: number): number {
  const v = Math.fround(2 ** (lo + (hi - lo) * rng.uniform()));
  return rng.uniform() < 0.5 ? -v : v;
}

/** Nearest non-NaN e4m3 code of x by brute force over all codes of x's sign; ties to the even code (mantissa LSB 0). */
function fp8Nearest(x: number): number {
  const neg = x < 0 || Object.is(x, -0);
  const base = neg ? 0x80 : 0;
  const a = Math.abs(x);
  let best = -1;
  let bestD = Infinity;
  for (let c = 0; c < 0x7f; c++) {
    const d = Math.abs(a - FP8_VALUES[c]!);
    if (d < bestD || (d === bestD && (c & 1) === 0)) {
      best = c;
      bestD = d;
    }
  }
  return base | best;
}

// ------------------------------------------------------------------------------------------------- FP8 E4M3

test('fp8 e4m3: decode of all 256 codes equals the value of the bit fields', () => {
  const codes = Uint8Array.from({ length: 256 }, (_, c) => c);
  const out = native.fp8e4m3Decode(codes);
  for (let c = 0; c < 256; c++) {
    const s = c & 0x80 ? -1 : 1;
    const e = (c >> 3) & 15;
    const m = c & 7;
    let want: number;
    if (e === 15 && m === 7) want = NaN;
    else if (e === 0) want = s * (m / 8) * 2 ** -6;
    else want = s * (1 + m / 8) * 2 ** (e - 7);
    if (c === 0x80) want = -0;
    assert.ok(Object.is(out[c], want), `decode(${hex(c)}) = ${out[c]}, expected ${want}`);
  }
  assert.equal(out[0x7e], 448, 'max finite is 448');
  assert.equal(out[0xfe], -448);
  assert.equal(out[0x01], 2 ** -9, 'min subnormal 2^-9');
  assert.equal(out[0x08], 2 ** -6, 'min normal 2^-6');
  assert.ok(Number.isNaN(out[0x7f]!) && Number.isNaN(out[0xff]!), '0x7f / 0xff are NaN');
  assert.ok(Object.is(out[0x00], 0) && Object.is(out[0x80], -0), 'both zeros');
  // The reference decoder used by the op tests agrees with this bit-field reading.
  assertExact(Array.from(codes, (c) => fp8DecodeRef(c)), Array.from(out), 'fp8DecodeRef');
});

test('fp8 e4m3: encode(decode(c)) == c for every non-NaN code, both zeros included', () => {
  const codes = Uint8Array.from({ length: 256 }, (_, c) => c).filter((c) => (c & 0x7f) !== 0x7f);
  assert.equal(codes.length, 254);
  const back = native.fp8e4m3Encode(native.fp8e4m3Decode(codes));
  for (let i = 0; i < codes.length; i++) {
    assert.equal(back[i], codes[i], `encode(decode(${hex(codes[i]!)})) = ${hex(back[i]!)}`);
  }
});

test('fp8 e4m3: every midpoint between adjacent codes rounds to the even code; one fp32 ulp off goes to the nearer', () => {
  const xs: number[] = [];
  const want: number[] = [];
  for (let c = 0; c < 0x7e; c++) {
    const lo = FP8_VALUES[c]!;
    const hi = FP8_VALUES[c + 1]!;
    const mid = (lo + hi) / 2;
    assert.equal(Math.fround(mid), mid, 'midpoints are fp32 values');
    const even = (c & 1) === 0 ? c : c + 1;
    const below = Math.fround(mid - mid * 2 ** -22); // strictly inside (lo, mid)
    const above = Math.fround(mid + mid * 2 ** -22); // strictly inside (mid, hi)
    for (const [v, code] of [
      [mid, even],
      [below, c],
      [above, c + 1],
    ] as const) {
      xs.push(v, -v);
      want.push(code, code | 0x80);
    }
  }
  const out = native.fp8e4m3Encode(f32(xs));
  for (let i = 0; i < xs.length; i++) {
    assert.equal(out[i], want[i], `encode(${xs[i]}) = ${hex(out[i]!)}, expected ${hex(want[i]!)}`);
  }
});

test('fp8 e4m3: saturation to +-448, NaN -> 0x7f | sign', () => {
  const finite: [number, number][] = [
    [448, 0x7e],
    [449, 0x7e],
    [464, 0x7e], // the midpoint to the (missing) 480 saturates
    [465, 0x7e],
    [1e6, 0x7e],
    [3.4028234663852886e38, 0x7e],
    [Infinity, 0x7e],
    [-449, 0xfe],
    [-464, 0xfe],
    [-1e6, 0xfe],
    [-Infinity, 0xfe],
  ];
  const out = native.fp8e4m3Encode(f32(finite.map(([v]) => v)));
  finite.forEach(([v, code], i) => assert.equal(out[i], code, `encode(${v}) = ${hex(out[i]!)}, expected ${hex(code)}`));
  // NaNs are set through their bit patterns so the sign survives (a JS NaN stored in a Float32Array may not keep it).
  const nanBits: [number, number][] = [
    [0x7fc00000, 0x7f], // quiet NaN
    [0x7f800001, 0x7f], // signalling-NaN pattern
    [0x7fffffff, 0x7f],
    [0xffc00000, 0xff], // negative NaN
    [0xff800001, 0xff],
  ];
  const nans = f32FromBits(nanBits.map(([b]) => b));
  const outNan = native.fp8e4m3Encode(nans);
  nanBits.forEach(([b, code], i) => assert.equal(outNan[i], code, `encode(NaN bits 0x${b.toString(16)}) = ${hex(outNan[i]!)}`));
});

test('fp8 e4m3: subnormal range and the subnormal -> normal boundary', () => {
  const cases: [number, number][] = [
    [2 ** -10, 0x00], // half the min subnormal: tie -> 0 (even)
    [Math.fround(2 ** -10 * (1 + 2 ** -20)), 0x01],
    [3 * 2 ** -10, 0x02], // 1.5 * 2^-9: tie between 1 and 2 -> 2
    [5 * 2 ** -10, 0x02], // 2.5 -> 2
    [7 * 2 ** -10, 0x04], // 3.5 -> 4
    [13 * 2 ** -10, 0x06], // 6.5 -> 6
    [15 * 2 ** -10, 0x08], // 7.5 * 2^-9: tie between 0x07 (7/8 * 2^-6) and the min normal 0x08 -> 0x08
    [Math.fround(15 * 2 ** -10 * (1 - 2 ** -20)), 0x07],
    [2 ** -6, 0x08],
    [Math.fround(2 ** -6 * (1 - 2 ** -23)), 0x08], // largest fp32 below the min normal
    [Math.fround(2 ** -6 + 2 ** -10), 0x08], // midpoint 2^-6 .. 2^-6 * 9/8: tie -> 0x08 (even)
    [1e-40, 0x00], // fp32 subnormal input
    [-1e-40, 0x80],
    [-(2 ** -10), 0x80],
    [-(3 * 2 ** -10), 0x82],
    [-0, 0x80],
  ];
  const out = native.fp8e4m3Encode(f32(cases.map(([v]) => v)));
  cases.forEach(([v, code], i) => {
    assert.equal(out[i], code, `encode(${v}) = ${hex(out[i]!)}, expected ${hex(code)}`);
    assert.equal(fp8EncodeRef(Math.fround(v)), code, `reference encoder disagrees with the table at ${v}`);
  });
});

test('fp8 e4m3: random floats encode to the nearest code (ties even) by brute force over all codes', () => {
  const { rng, tag } = rngFor('fp8 random brute force');
  const n = 20000;
  const xs = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = i % 4;
    if (kind === 0) xs[i] = logUniform(rng, -13, 9.5); // the whole e4m3 range, subnormals included
    else if (kind === 1) xs[i] = logUniform(rng, -30, 40); // far outside on both sides
    else if (kind === 2) {
      // exact midpoints between random adjacent codes (ties)
      const c = rng.int(0, 0x7d);
      const v = (FP8_VALUES[c]! + FP8_VALUES[c + 1]!) / 2;
      xs[i] = rng.uniform() < 0.5 ? -v : v;
    } else xs[i] = Math.fround(rng.normal() * 10);
  }
  const out = native.fp8e4m3Encode(xs);
  for (let i = 0; i < n; i++) {
    const want = fp8Nearest(xs[i]!);
    if (out[i] !== want) assert.fail(`${tag} encode(${xs[i]}) = ${hex(out[i]!)}, nearest code is ${hex(want)}`);
    if (fp8EncodeRef(xs[i]!) !== want) assert.fail(`${tag} reference encoder wrong at ${xs[i]}`);
  }
});

// ------------------------------------------------------------------------------------------------- fp16 / bf16

test('roundAct fp16: RNE, overflow to inf at 65520, subnormals, NaN kept, -0 kept', () => {
  const cases: [number, number][] = [
    [65504, 65504],
    [65519.99, 65504], // fp32 65519.9921875: below the midpoint
    [65520, Infinity], // midpoint to 65536: ties to even (inf)
    [-65520, -Infinity],
    [1e6, Infinity],
    [Infinity, Infinity],
    [1 + 2 ** -11, 1], // tie -> even
    [1 + 3 * 2 ** -11, 1 + 2 ** -9], // tie -> even (up)
    [Math.fround(1 + 2 ** -11 + 2 ** -20), 1 + 2 ** -10],
    [2 ** -24, 2 ** -24], // min subnormal
    [2 ** -25, 0], // half of it: tie -> 0
    [-(2 ** -25), -0],
    [3 * 2 ** -25, 2 * 2 ** -24], // 1.5 * 2^-24: tie -> 2 * 2^-24
    [5 * 2 ** -25, 2 * 2 ** -24], // 2.5 -> 2
    [Math.fround(2 ** -14 - 2 ** -25), 2 ** -14], // 1023.5 * 2^-24: tie -> 1024 * 2^-24 = min normal
    [Math.fround(2 ** -14 - 3 * 2 ** -25), 1022 * 2 ** -24], // 1022.5 -> 1022
    [1e-10, 0],
    [-0, -0],
  ];
  const out = native.roundAct(f32(cases.map(([v]) => v)), 'fp16');
  cases.forEach(([v, want], i) => {
    assert.ok(Object.is(out[i], want), `fp16(${v}) = ${out[i]}, expected ${want}`);
    assert.ok(Object.is(fp16Ref(Math.fround(v)), want), `fp16Ref(${v}) = ${fp16Ref(v)}`);
  });
  assertNanKept('fp16');
});

test('roundAct bf16: RNE, overflow to inf, fp32 subnormals, NaN kept', () => {
  const cases: [number, number][] = [
    [1 + 2 ** -8, 1], // tie -> even
    [1 + 3 * 2 ** -8, 1 + 2 ** -6], // tie -> even (up)
    [Math.fround(1 + 2 ** -8 + 2 ** -20), 1 + 2 ** -7],
    [BF16_MAX, BF16_MAX],
    [Math.fround((2 - 2 ** -8) * 2 ** 127), Infinity], // midpoint above the max: ties to even -> inf
    [3.4028234663852886e38, Infinity],
    [-3.4028234663852886e38, -Infinity],
    [2 ** -133, 2 ** -133], // smallest bf16 subnormal
    [2 ** -134, 0], // tie -> 0
    [3 * 2 ** -134, 2 ** -132], // tie -> even
    [2 ** -149, 0],
    [-0, -0],
  ];
  const out = native.roundAct(f32(cases.map(([v]) => v)), 'bf16');
  cases.forEach(([v, want], i) => {
    assert.ok(Object.is(out[i], want), `bf16(${v}) = ${out[i]}, expected ${want}`);
    assert.ok(Object.is(bf16Ref(Math.fround(v)), want), `bf16Ref(${v}) = ${bf16Ref(v)}`);
  });
  assertNanKept('bf16');
});

test('roundAct: random floats over the whole fp32 range match the float64 reference (fp16, bf16, fp32 identity)', () => {
  const { rng, tag } = rngFor('roundAct random');
  const n = 30000;
  const xs = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    if (k === 0) xs[i] = logUniform(rng, -26, 17); // fp16 subnormals .. overflow
    else if (k === 1) xs[i] = logUniform(rng, -149, 128); // all of fp32 (bf16 range)
    else {
      // fp32 values one fp16 half-ulp away from a random fp16 value: exact ties and their neighbours
      const h = Math.fround(logUniform(rng, -24, 15.9));
      const base = fp16Ref(h);
      const e = Math.max(Math.floor(Math.log2(Math.abs(base) || 2 ** -24)), -14);
      xs[i] = Math.fround(base + Math.sign(base || 1) * 2 ** (e - 11) * rng.pick([1, 1, 1 - 2 ** -12, 1 + 2 ** -12]));
    }
  }
  const h = native.roundAct(xs, 'fp16');
  const b = native.roundAct(xs, 'bf16');
  const f = native.roundAct(xs, 'fp32');
  for (let i = 0; i < n; i++) {
    if (!Object.is(h[i], fp16Ref(xs[i]!))) assert.fail(`${tag} fp16(${xs[i]}) = ${h[i]}, expected ${fp16Ref(xs[i]!)}`);
    if (!Object.is(b[i], bf16Ref(xs[i]!))) assert.fail(`${tag} bf16(${xs[i]}) = ${b[i]}, expected ${bf16Ref(xs[i]!)}`);
    if (!Object.is(f[i], xs[i])) assert.fail(`${tag} fp32 round trip changed ${xs[i]} to ${f[i]}`);
  }
});

// ------------------------------------------------------------------------------------------------- int8

test('int8Quantize: round half to even, saturation to [-128, 127], NaN -> 0', () => {
  const cases: [number, number][] = [
    [2.5, 2],
    [3.5, 4],
    [-2.5, -2],
    [-3.5, -4],
    [0.5, 0],
    [-0.5, 0],
    [1.5, 2],
    [126.5, 126],
    [127.49, 127],
    [127.5, 127],
    [200, 127],
    [-128.5, -128],
    [-129, -128],
    [-1e9, -128],
    [Infinity, 127],
    [-Infinity, -128],
    [NaN, 0],
  ];
  const out = native.int8Quantize(f32(cases.map(([v]) => v)), 1);
  cases.forEach(([v, want], i) => assert.equal(out[i], want, `q(${v}, s=1) = ${out[i]}`));
  // With a scale: x / s = 2.5 and 3.5 exactly (s = 0.5 has an exact reciprocal).
  const half = native.int8Quantize(f32([1.25, 1.75, -1.25, 63.75, 64]), 0.5);
  assert.deepEqual(Array.from(half), [2, 4, -2, 127, 127]);
});

test('int8Quantize: q = RNE(fp32(x * fp32(1/s))), the reciprocal formed in fp32 (not x / s)', () => {
  // Fixed case: x / s = -6.50000016 (-> -7) but x * fp32(1/s) rounds to exactly -6.5 in fp32 (-> -6).
  const s = 0.13636495172977448;
  const x = -0.8863722085952759;
  assert.equal(Math.fround(s), s);
  assert.equal(Math.fround(x), x);
  assert.equal(roundHalfEven(x / s), -7, 'the division reading gives -7');
  assert.equal(native.int8Quantize(f32([x]), s)[0], -6, 'the reciprocal reading gives -6');

  // Random near-ties: x = fp32((k + 0.5) * s); the two readings disagree on a fraction of them, and the addon must
  // follow the reciprocal one on all of them.
  const { rng, tag } = rngFor('int8 reciprocal');
  let discriminating = 0;
  for (let trial = 0; trial < 200; trial++) {
    const sc = Math.fround(2 ** (-8 + 10 * rng.uniform()));
    const xs = new Float32Array(257);
    for (let i = 0; i < xs.length; i++) {
      const k = rng.int(-140, 140);
      xs[i] = i % 2 ? (k + 0.5) * sc : rng.normal() * 60 * sc; // near-ties, and ordinary values incl. saturation
    }
    const out = native.int8Quantize(xs, sc);
    const inv = invScaleRef(sc);
    for (let i = 0; i < xs.length; i++) {
      const want = int8QuantRef(xs[i]!, inv);
      if (out[i] !== want) assert.fail(`${tag} q(${xs[i]}, s=${sc}) = ${out[i]}, expected ${want}`);
      if (want !== Math.min(127, Math.max(-128, roundHalfEven(xs[i]! / sc)))) discriminating++;
    }
  }
  assert.ok(discriminating > 0, 'no input told the reciprocal and division readings apart');
});

// ------------------------------------------------------------------------------------------------- scales

test('scaleFromAbsmax: floors for an all-zero row, fp32(absmax / qmax) otherwise', () => {
  assert.equal(native.scaleFromAbsmax(0, 'fp8'), Math.fround(1 / (448 * 512)));
  assert.equal(native.scaleFromAbsmax(0, 'int8'), Math.fround(1 / (127 * 512)));
  assert.equal(FP8_SCALE_FLOOR, Math.fround(1 / (448 * 512)));
  assert.equal(INT8_SCALE_FLOOR, Math.fround(1 / (127 * 512)));
  // Below the floor's absmax (448 * floor = 1/512) the floor holds; above it the plain quotient.
  assert.equal(native.scaleFromAbsmax(1e-3, 'fp8'), FP8_SCALE_FLOOR);
  assert.equal(native.scaleFromAbsmax(1e-3, 'int8'), INT8_SCALE_FLOOR);
  assert.equal(native.scaleFromAbsmax(448, 'fp8'), 1);
  assert.equal(native.scaleFromAbsmax(127, 'int8'), 1);
  const { rng, tag } = rngFor('scales');
  for (let i = 0; i < 2000; i++) {
    const a = Math.fround(Math.abs(logUniform(rng, -12, 12)));
    for (const kind of ['fp8', 'int8'] as const) {
      const got = native.scaleFromAbsmax(a, kind);
      const q = Math.fround(a / (kind === 'fp8' ? 448 : 127));
      const floor = kind === 'fp8' ? FP8_SCALE_FLOOR : INT8_SCALE_FLOOR;
      const want = q > floor ? q : floor;
      if (got !== want) assert.fail(`${tag} scaleFromAbsmax(${a}, ${kind}) = ${got}, expected ${want}`);
      assert.equal(scaleRef(a, kind), want);
    }
  }
});
