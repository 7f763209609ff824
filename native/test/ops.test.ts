/**
 * Pins every CPU reference op (native/src/cpu/ops.h, quant/weight_quant.h, exposed as loadNative().ops) against
 * float64 references written here from the op contracts, on random shapes including odd ones.
 *
 * Comparisons, and why:
 * - Exact where the op is exact: embedding (a copy + rounding), residual output of rmsnorm (one rounded add), int8
 *   GEMM (int32 accumulation is exact; the fp32 epilogue fp32(fp32(acc) * fp32(sa * sw)) is reproduced with
 *   Math.fround), fp8 GEMM (products of e4m3 values are exact and their sum is exact in float64 for these K, so the
 *   accumulator is exact), activation / weight quantization (codes and scales follow numerics.h bit for bit).
 * - Elsewhere: assertRoundedBound, |out - ref| <= 0.5 ulp_act(|ref| + E) + E per element, with ref the float64 value
 *   and E the error the op's documented fp32 arithmetic may add before its final rounding (derived per op below;
 *   u = 2^-24 is the fp32 unit roundoff). That is as tight as the contract allows, so a wrong formula, layout or
 *   rounding fails; assertRepresentable checks the output was rounded to the activation dtype; and a coarse
 *   relative-norm bound (REL_NORM: 1e-6 fp32, 1e-3 fp16, 8e-3 bf16: about twice the unit roundoff of the output
 *   dtype) is checked too.
 * Random inputs are seeded; the seed is printed and QB_TEST_SEED=<n> reproduces a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNative } from '../js/index.ts';
import {
  REL_NORM,
  assertExact,
  assertRepresentable,
  assertRoundedBound,
  logSeed,
  randomAct,
  relNorm,
  rngFor,
  type Rng,
} from './helpers.ts';
import {
  FP8_SCALE_FLOOR,
  FP8_VALUES,
  absmax,
  fp8DecodeRef,
  fp8EncodeRef,
  fp8QuantRef,
  int8QuantRef,
  invScaleRef,
  roundActRef,
  scaleRef,
  ulpOf,
  type ActName,
} from './reference_numerics.ts';

const ops = loadNative().ops;
logSeed('ops.test.ts');

const ACTS: readonly ActName[] = ['fp32', 'fp16', 'bf16'];
const U = 2 ** -24; // fp32 unit roundoff
const TS = [1, 5, 17] as const;
const KS = [1, 3, 37, 129] as const;

/** Relative-norm check with the dtype's threshold. */
function assertRelNorm(out: ArrayLike<number>, ref: ArrayLike<number>, act: ActName, what: string): void {
  const r = relNorm(out, ref);
  assert.ok(r <= REL_NORM[act], `${what}: ||out-ref||/||ref|| = ${r} > ${REL_NORM[act]}`);
}

/**
 * Error of an intermediate fp32 rounding that precedes the rounding to a 16-bit activation dtype (double rounding:
 * fp32(v) may land exactly on an fp16 / bf16 midpoint); none when the output is fp32 itself.
 */
function fp32Step(v: number, act: ActName): number {
  return act === 'fp32' ? 0 : 0.5 * ulpOf(Math.abs(v), 'fp32');
}

/** A positive fp32 with log-uniform magnitude in [2^lo, 2^hi). */
function logUniformPos(rng: Rng, lo: number, hi: number): number {
  return Math.fround(2 ** (lo + (hi - lo) * rng.uniform()));
}

// --------------------------------------------------------------------------------------------- embedding

test('embedding: out[t] = round_act(table[token[t]]) exactly', () => {
  const { rng, tag } = rngFor('embedding');
  for (const act of ACTS)
    for (const T of TS)
      for (const D of KS) {
        const V = rng.int(2, 40);
        const table = new Float32Array(V * D);
        for (let i = 0; i < table.length; i++) table[i] = Math.fround(rng.nonzero(2)); // raw fp32: the op rounds
        const tokens = Int32Array.from({ length: T }, () => rng.int(0, V - 1));
        const out = ops.embedding(table, tokens, D, act);
        const ref = new Float32Array(T * D);
        for (let t = 0; t < T; t++)
          for (let i = 0; i < D; i++) ref[t * D + i] = roundActRef(table[tokens[t]! * D + i]!, act);
        assertExact(out, ref, `${tag} embedding ${act} T=${T} D=${D}`);
      }
});

// --------------------------------------------------------------------------------------------- rmsnorm

test('rmsnormResidual: residual add rounded exactly; out = v / sqrt(mean(v^2) + eps) * w within the fp32 bound', () => {
  const { rng, tag } = rngFor('rmsnorm');
  for (const act of ACTS)
    for (const T of TS)
      for (const D of [1, 3, 37, 129, 256])
        for (const withRes of [false, true]) {
          const eps = Math.fround(rng.pick([1e-6, 1e-5, 0.1]));
          const x = randomAct(rng, T * D, act, 1.5);
          const res = withRes ? randomAct(rng, T * D, act, 3) : null;
          const w = new Float32Array(D);
          for (let i = 0; i < D; i++) w[i] = roundActRef(1 + 0.3 * rng.normal(), act);
          const got = ops.rmsnormResidual(x, res, w, T, D, eps, act);
          const what = `${tag} rmsnorm ${act} T=${T} D=${D} residual=${withRes} eps=${eps}`;
          // The new residual is x + residual stored in the activation dtype.
          const v = new Float64Array(T * D);
          for (let i = 0; i < T * D; i++) v[i] = res ? roundActRef(x[i]! + res[i]!, act) : x[i]!;
          if (res) assertExact(got.residual, v, `${what} residual out`);
          const ref = new Float64Array(T * D);
          for (let t = 0; t < T; t++) {
            let ss = 0;
            for (let i = 0; i < D; i++) ss += v[t * D + i]! ** 2;
            const inv = 1 / Math.sqrt(ss / D + eps);
            for (let i = 0; i < D; i++) ref[t * D + i] = v[t * D + i]! * inv * w[i]!;
          }
          // fp32 chain: fp32(ss/D) + eps, sqrt, 1/x (~2.5u on inv), then v*inv and *w (2u): E = 8u |ref|.
          const E = Array.from(ref, (r) => 8 * U * Math.abs(r));
          assertRoundedBound(got.out, ref, E, act, `${what} out`);
          assertRepresentable(got.out, act, `${what} out`);
          assertRelNorm(got.out, ref, act, what);
        }
});

// --------------------------------------------------------------------------------------------- GEMMs

test('gemmF: y = round_act(sum_k x w) with a double accumulator', () => {
  const { rng, tag } = rngFor('gemmF');
  for (const act of ACTS)
    for (const T of TS)
      for (const K of KS) {
        const N = rng.int(1, 33);
        const x = randomAct(rng, T * K, act);
        const w = randomAct(rng, N * K, act, 0.2);
        const y = ops.gemmF(x, w, T, N, K, act);
        const ref = new Float64Array(T * N);
        const E = new Float64Array(T * N);
        for (let t = 0; t < T; t++)
          for (let n = 0; n < N; n++) {
            let acc = 0;
            let mag = 0;
            for (let k = 0; k < K; k++) {
              acc += x[t * K + k]! * w[n * K + k]!;
              mag += Math.abs(x[t * K + k]! * w[n * K + k]!);
            }
            ref[t * N + n] = acc;
            // The double accumulation (K * 2^-53 * sum|x w|), then fp32(acc) before the rounding to fp16 / bf16.
            E[t * N + n] = K * 2 ** -52 * mag + fp32Step(acc, act);
          }
        const what = `${tag} gemmF ${act} T=${T} N=${N} K=${K}`;
        assertRoundedBound(y, ref, E, act, what);
        assertRepresentable(y, act, what);
        assertRelNorm(y, ref, act, what);
      }
});

function randInt8(rng: Rng, n: number): Int8Array {
  return Int8Array.from({ length: n }, () => rng.int(-128, 127));
}
function randScales(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => logUniformPos(rng, -12, -2));
}

/** The W8A8 / FP8 epilogue: fp32(fp32(acc) * fp32(sa * sw)), then stored in the activation dtype. */
function epilogue(acc: number, sa: number, sw: number, act: ActName): number {
  return roundActRef(Math.fround(Math.fround(acc) * Math.fround(sa * sw)), act);
}

test('gemmInt8: exact int32 accumulation and fp32 epilogue, per-token and per-tensor activation scales', () => {
  const { rng, tag } = rngFor('gemmInt8');
  const shapes: [number, number][] = [];
  for (const T of TS) for (const K of KS) shapes.push([T, K]);
  shapes.push([3, 2053]); // with extreme codes below |acc| > 2^24: fp32(acc) rounds
  for (const act of ACTS)
    for (const [T, K] of shapes)
      for (const perToken of [true, false]) {
        const N = rng.int(1, 19);
        const xq = randInt8(rng, T * K);
        const wq = randInt8(rng, N * K);
        if (K > 1000) {
          xq.fill(-128);
          for (let i = 0; i < wq.length; i++) wq[i] = rng.pick([-128, 127]);
        }
        const sa = randScales(rng, perToken ? T : 1);
        const sw = randScales(rng, N);
        const y = ops.gemmInt8(xq, sa, perToken, wq, sw, T, N, K, act);
        const ref = new Float64Array(T * N);
        for (let t = 0; t < T; t++)
          for (let n = 0; n < N; n++) {
            let acc = 0;
            for (let k = 0; k < K; k++) acc += xq[t * K + k]! * wq[n * K + k]!;
            ref[t * N + n] = epilogue(acc, sa[perToken ? t : 0]!, sw[n]!, act);
          }
        assertExact(y, ref, `${tag} gemmInt8 ${act} T=${T} N=${N} K=${K} perToken=${perToken}`);
      }
});

/** Random e4m3 codes, never NaN. */
function randFp8(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => {
    for (;;) {
      const c = rng.int(0, 255);
      if ((c & 0x7f) !== 0x7f) return c;
    }
  });
}

test('gemmFp8: exact products summed exactly, fp32 epilogue acc * (sa * sw), per-token and per-tensor', () => {
  const { rng, tag } = rngFor('gemmFp8');
  const shapes: [number, number][] = [];
  for (const T of TS) for (const K of KS) shapes.push([T, K]);
  shapes.push([2, 129]); // all +-448: |acc| = 129 * 448^2 > 2^24, so fp32(acc) rounds
  for (const act of ACTS)
    for (const [T, K] of shapes)
      for (const perToken of [true, false]) {
        const N = rng.int(1, 19);
        const xq = randFp8(rng, T * K);
        const wq = randFp8(rng, N * K);
        if (T === 2) {
          xq.fill(0x7e);
          for (let i = 0; i < wq.length; i++) wq[i] = rng.pick([0x7e, 0xfe, 0x7d]);
        }
        const sa = randScales(rng, perToken ? T : 1);
        const sw = randScales(rng, N);
        const y = ops.gemmFp8(xq, sa, perToken, wq, sw, T, N, K, act);
        const ref = new Float64Array(T * N);
        for (let t = 0; t < T; t++)
          for (let n = 0; n < N; n++) {
            // Every product is a multiple of 2^-18 below 2^18: the float64 sum is exact for K < 2^17.
            let acc = 0;
            for (let k = 0; k < K; k++) acc += FP8_VALUES[xq[t * K + k]!]! * FP8_VALUES[wq[n * K + k]!]!;
            ref[t * N + n] = epilogue(acc, sa[perToken ? t : 0]!, sw[n]!, act);
          }
        assertExact(y, ref, `${tag} gemmFp8 ${act} T=${T} N=${N} K=${K} perToken=${perToken}`);
      }
});

// --------------------------------------------------------------------------------------------- activation quantization

/** [T, K] rows with per-row magnitudes spread over 2^-12 .. 2^8, one outlier row, one row under the scale floor. */
function quantInput(rng: Rng, T: number, K: number): Float32Array {
  const x = new Float32Array(T * K);
  for (let t = 0; t < T; t++) {
    const sd = t === T - 1 && T > 1 ? 1e-4 : logUniformPos(rng, -12, 8); // the last row's absmax < 448 * floor
    for (let k = 0; k < K; k++) x[t * K + k] = Math.fround(rng.nonzero(sd));
    if (t === 0 && K > 2) x[rng.int(0, K - 1)] = Math.fround(60 * sd * (rng.uniform() < 0.5 ? -1 : 1)); // outlier
  }
  return x;
}

test('quantPerToken fp8 / int8: scales and codes match numerics.h exactly (reciprocal in fp32, RNE, floors)', () => {
  const { rng, tag } = rngFor('quantPerToken');
  let floored = 0;
  for (const T of TS)
    for (const K of KS) {
      const x = quantInput(rng, T, K);
      for (const kind of ['fp8', 'int8'] as const) {
        const got = kind === 'fp8' ? ops.quantPerToken(x, T, K, 'fp8') : ops.quantPerToken(x, T, K, 'int8');
        const what = `${tag} quantPerToken ${kind} T=${T} K=${K}`;
        const sRef = new Float32Array(T);
        const qRef: number[] = [];
        for (let t = 0; t < T; t++) {
          sRef[t] = scaleRef(absmax(x, t * K, (t + 1) * K), kind);
          if (kind === 'fp8' && sRef[t] === FP8_SCALE_FLOOR) floored++;
          const inv = invScaleRef(sRef[t]!);
          for (let k = 0; k < K; k++) {
            const v = x[t * K + k]!;
            qRef.push(kind === 'fp8' ? fp8QuantRef(v, inv) : int8QuantRef(v, inv));
          }
        }
        assertExact(got.scale, sRef, `${what} scales`);
        assertExact(Array.from(got.q), qRef, `${what} codes`);
      }
    }
  assert.ok(floored > 0, 'no row exercised the scale floor');
});

test('quantStaticFp8: q = fp8(x * fp32(1/scale)) with saturation', () => {
  const { rng, tag } = rngFor('quantStaticFp8');
  for (const T of TS)
    for (const K of KS) {
      const x = quantInput(rng, T, K);
      const scale = Math.fround(absmax(x) / rng.pick([100, 448, 2000])); // 100: many codes saturate
      const q = ops.quantStaticFp8(x, T, K, scale);
      const inv = invScaleRef(scale);
      assertExact(Array.from(q), Array.from(x, (v) => fp8QuantRef(v, inv)), `${tag} quantStaticFp8 T=${T} K=${K} s=${scale}`);
    }
});

// --------------------------------------------------------------------------------------------- RoPE

interface RopeScaling {
  factor: number;
  low: number;
  high: number;
  orig: number;
}

/**
 * inv_freq[i] = theta^(-2i/d); with llama3 scaling (HF _compute_llama3_parameters): wavelen = 2 pi / inv_freq;
 * wavelen > orig/low: inv_freq / factor; orig/high <= wavelen <= orig/low: (1 - s) inv_freq / factor + s inv_freq with
 * s = (orig / wavelen - low) / (high - low); shorter wavelengths unchanged. Returns the float64 values and the band.
 */
function ropeInvFreq(headDim: number, theta: number, sc?: RopeScaling): { inv: number[]; band: string[] } {
  const inv: number[] = [];
  const band: string[] = [];
  for (let i = 0; i < headDim / 2; i++) {
    let f = 1 / theta ** ((2 * i) / headDim);
    let b = 'none';
    if (sc) {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > sc.orig / sc.low) {
        f = f / sc.factor;
        b = 'low';
      } else if (wavelen >= sc.orig / sc.high) {
        const s = (sc.orig / wavelen - sc.low) / (sc.high - sc.low);
        f = ((1 - s) * f) / sc.factor + s * f;
        b = 'medium';
      } else b = 'high';
    }
    inv.push(f);
    band.push(b);
  }
  return { inv, band };
}

/** cos / sin tables [maxPos, d/2]: HF keeps inv_freq in fp32 and forms the angle position * inv_freq in fp32. */
function ropeTablesRef(headDim: number, maxPos: number, inv: number[]): { cos: Float64Array; sin: Float64Array } {
  const half = headDim / 2;
  const cos = new Float64Array(maxPos * half);
  const sin = new Float64Array(maxPos * half);
  for (let p = 0; p < maxPos; p++)
    for (let i = 0; i < half; i++) {
      const ang = Math.fround(p * Math.fround(inv[i]!));
      cos[p * half + i] = Math.cos(ang);
      sin[p * half + i] = Math.sin(ang);
    }
  return { cos, sin };
}

function assertAbsClose(out: ArrayLike<number>, ref: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(out.length, ref.length, `${what}: length`);
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(out[i]! - ref[i]!);
    if (!(d <= tol)) assert.fail(`${what}: element ${i}: got ${out[i]}, expected ${ref[i]}, |diff| ${d} > ${tol}`);
  }
}

test('ropeTables: plain RoPE cos/sin from theta^(-2i/d) within 1e-6', () => {
  const { rng, tag } = rngFor('ropeTables plain');
  for (const headDim of [2, 8, 64, 128]) {
    const theta = rng.pick([10000, 500000, Math.fround(1000 + 1e5 * rng.uniform())]);
    const maxPositions = rng.int(1, 700);
    const got = ops.ropeTables({ headDim, maxPositions, ropeTheta: theta });
    const ref = ropeTablesRef(headDim, maxPositions, ropeInvFreq(headDim, theta).inv);
    const what = `${tag} ropeTables d=${headDim} theta=${theta} maxPos=${maxPositions}`;
    assertAbsClose(got.cos, ref.cos, 1e-6, `${what} cos`);
    assertAbsClose(got.sin, ref.sin, 1e-6, `${what} sin`);
  }
});

test('ropeTables: llama3 scaling (factor 8, low 1, high 4, original 8192, theta 500000, d 128) within 1e-6', () => {
  const sc: RopeScaling = { factor: 8, low: 1, high: 4, orig: 8192 };
  const { inv, band } = ropeInvFreq(128, 500000, sc);
  for (const b of ['low', 'medium', 'high']) assert.ok(band.includes(b), `config exercises no ${b}-frequency dim`);
  const maxPositions = 4096; // large positions: a wrong band (a factor 8 on the frequency) moves cos/sin far past 1e-6
  const got = ops.ropeTables({
    headDim: 128,
    maxPositions,
    ropeTheta: 500000,
    ropeFactor: sc.factor,
    ropeLowFreqFactor: sc.low,
    ropeHighFreqFactor: sc.high,
    ropeOriginalMaxPos: sc.orig,
  });
  const ref = ropeTablesRef(128, maxPositions, inv);
  assertAbsClose(got.cos, ref.cos, 1e-6, 'llama3 cos');
  assertAbsClose(got.sin, ref.sin, 1e-6, 'llama3 sin');
  // The scaled table differs from the plain one (guards against the scaling being ignored).
  const plain = ropeTablesRef(128, maxPositions, ropeInvFreq(128, 500000).inv);
  assert.ok(relNorm(got.sin, plain.sin) > 1e-3, 'llama3 table equals the unscaled one');
});

test('rope: rotate-half layout, x[i] * cos - x[i + d/2] * sin and x[i + d/2] * cos + x[i] * sin per position', () => {
  const { rng, tag } = rngFor('rope');
  for (const act of ACTS)
    for (const T of TS)
      for (const Dh of [2, 8, 64])
        for (const H of [1, 3]) {
          const half = Dh / 2;
          const maxPos = 50;
          const cos = new Float32Array(maxPos * half);
          const sin = new Float32Array(maxPos * half);
          for (let i = 0; i < cos.length; i++) {
            const a = rng.uniform() * 2 * Math.PI;
            cos[i] = Math.fround(Math.cos(a));
            sin[i] = Math.fround(Math.sin(a));
          }
          const positions = Int32Array.from({ length: T }, () => rng.int(0, maxPos - 1));
          const x = randomAct(rng, T * H * Dh, act, 2);
          const out = ops.rope(x, positions, T, H, Dh, cos, sin, act);
          const ref = new Float64Array(x.length);
          const E = new Float64Array(x.length);
          for (let t = 0; t < T; t++)
            for (let h = 0; h < H; h++) {
              const base = (t * H + h) * Dh;
              for (let i = 0; i < half; i++) {
                const c = cos[positions[t]! * half + i]!;
                const s = sin[positions[t]! * half + i]!;
                const a = x[base + i]!;
                const b = x[base + i + half]!;
                ref[base + i] = a * c - b * s;
                ref[base + i + half] = b * c + a * s;
                // two fp32 products and a sum/difference, then (for fp16/bf16) a second rounding: 4u (|ac| + |bs|)
                E[base + i] = 4 * U * (Math.abs(a * c) + Math.abs(b * s));
                E[base + i + half] = 4 * U * (Math.abs(b * c) + Math.abs(a * s));
              }
            }
          const what = `${tag} rope ${act} T=${T} H=${H} Dh=${Dh}`;
          assertRoundedBound(out, ref, E, act, what);
          assertRepresentable(out, act, what);
        }
});

// --------------------------------------------------------------------------------------------- SiLU * mul

test('siluMul: out = g / (1 + exp(-g)) * u', () => {
  const { rng, tag } = rngFor('siluMul');
  for (const act of ACTS)
    for (const T of TS)
      for (const F of KS) {
        const g = randomAct(rng, T * F, act, 4);
        const u = randomAct(rng, T * F, act, 2);
        const out = ops.siluMul(g, u, T, F, act);
        const ref = Array.from(g, (gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
        // expf (<= 1 ulp), 1 + e, the division and the product: about 5u relative; 8u allowed.
        const E = ref.map((r) => 8 * U * Math.abs(r));
        const what = `${tag} siluMul ${act} T=${T} F=${F}`;
        assertRoundedBound(out, ref, E, act, what);
        assertRepresentable(out, act, what);
        assertRelNorm(out, ref, act, what);
      }
});

test('siluMul: every finite 16-bit g (bf16 and fp16, u = 1) within the bound of float64 silu (exp_f32 exhaustively)', () => {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  const fp16 = (h: number) => {
    const e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
    return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
  };
  for (const act of ['bf16', 'fp16'] as const) {
    const gs: number[] = [];
    for (let h = 0; h < 65536; h++) {
      if (act === 'bf16') {
        u32[0] = h << 16;
        if (Number.isFinite(f32[0])) gs.push(f32[0]!);
      } else if (((h >> 10) & 31) !== 31) gs.push(fp16(h));
    }
    // Below -88.72 exp(-g) overflows fp32 (the definition both backends share): silu is then -0, not g e^g.
    const g = Float32Array.from(gs.filter((x) => x >= -88.72));
    const out = ops.siluMul(g, new Float32Array(g.length).fill(1), 1, g.length, act);
    const ref = Array.from(g, (gv) => gv / (1 + Math.exp(-gv)));
    const E = ref.map((r) => 8 * U * Math.abs(r));
    assertRoundedBound(out, ref, E, act, `siluMul exhaustive ${act}`);
    const under = Float32Array.from(gs.filter((x) => x < -88.73));
    const z = ops.siluMul(under, new Float32Array(under.length).fill(1), 1, under.length, act);
    assert.ok(z.every((v) => Object.is(v, -0)), `siluMul ${act}: exp(-g) overflows below -88.73, silu must be -0`);
  }
});

// --------------------------------------------------------------------------------------------- paged attention

interface AttnCase {
  q: Float32Array;
  kCache: Float32Array;
  vCache: Float32Array;
  seqStarts: Int32Array;
  positions: Int32Array;
  blockTables: Int32Array;
  maxBlocks: number;
  H: number;
  Hkv: number;
  Dh: number;
  blockSize: number;
  scale: number;
}

/**
 * A varlen batch: a prefill chunk that starts mid-sequence (its earlier context already cached), a prefill from 0,
 * and single-token decodes (one at position 0). Physical blocks are shuffled; every cache slot that no sequence owns
 * (spare blocks, the tail of the last block) holds NaN, so reading outside a sequence's context poisons the output.
 */
function attnCase(rng: Rng, group: number, act: ActName): AttnCase {
  const Hkv = rng.int(1, 2);
  const H = Hkv * group;
  const Dh = rng.pick([5, 16, 64]);
  const blockSize = rng.pick([1, 4, 16]);
  const chunkStart = rng.int(3, 40);
  const chunkLen = rng.int(5, 17);
  const seqs: { first: number; len: number }[] = [
    { first: chunkStart, len: chunkLen }, // prefill chunk starting mid-sequence
    { first: 0, len: rng.int(1, 9) }, // prefill from the start
    { first: rng.int(1, 90), len: 1 }, // decodes
    { first: 0, len: 1 },
    { first: rng.int(1, 30), len: 1 },
  ];
  rng.shuffle(seqs);
  const ctxLens = seqs.map((s) => s.first + s.len);
  const nBlocks = ctxLens.map((c) => Math.ceil(c / blockSize));
  const maxBlocks = Math.max(...nBlocks) + 1; // at least one -1 pad per row
  const numPhysical = nBlocks.reduce((a, b) => a + b, 0) + 3;
  const physical = rng.shuffle(Array.from({ length: numPhysical }, (_, i) => i));
  const blockTables = new Int32Array(seqs.length * maxBlocks).fill(-1);
  let next = 0;
  for (let s = 0; s < seqs.length; s++)
    for (let b = 0; b < nBlocks[s]!; b++) blockTables[s * maxBlocks + b] = physical[next++]!;
  const row = Hkv * Dh;
  const kCache = new Float32Array(numPhysical * blockSize * row).fill(NaN);
  const vCache = new Float32Array(numPhysical * blockSize * row).fill(NaN);
  for (let s = 0; s < seqs.length; s++)
    for (let p = 0; p < ctxLens[s]!; p++) {
      const slot = blockTables[s * maxBlocks + Math.floor(p / blockSize)]! * blockSize + (p % blockSize);
      for (let i = 0; i < row; i++) {
        kCache[slot * row + i] = roundActRef(rng.nonzero(1), act);
        vCache[slot * row + i] = roundActRef(rng.nonzero(1), act);
      }
    }
  const seqStarts = new Int32Array(seqs.length + 1);
  const positions: number[] = [];
  seqs.forEach((s, i) => {
    seqStarts[i + 1] = seqStarts[i]! + s.len;
    for (let j = 0; j < s.len; j++) positions.push(s.first + j);
  });
  const T = positions.length;
  return {
    q: randomAct(rng, T * H * Dh, act, 1.5),
    kCache,
    vCache,
    seqStarts,
    positions: Int32Array.from(positions),
    blockTables,
    maxBlocks,
    H,
    Hkv,
    Dh,
    blockSize,
    scale: Math.fround(1 / Math.sqrt(Dh)),
  };
}

/**
 * Float64 causal softmax attention reading the same paged cache: row t of sequence s, head h, uses kv head
 * floor(h / (H / Hkv)) and cache positions 0..positions[t]. fp32Scores rounds each score to fp32 as the op's
 * contract states ("scores and softmax in fp32, double sums"). Error allowance per output element, from that
 * contract: each softmax numerator exp(s_p - max) may be an fp32 value (argument rounded to fp32: 2^-24 |s_p - max|
 * relative; expf: <= 1 ulp = 2^-23 relative), so with delta = 2^-23 + 2^-24 (max - min score) the normalised weights
 * move by <= 2 delta w_p and the output by <= 2 delta sum_p w_p |v_p|; 2.2 delta is allowed, plus 1e-12 sum_p w_p |v_p|
 * for float64 noise and the fp32 store of the accumulator before a 16-bit rounding.
 */
function attentionRef(c: AttnCase, fp32Scores: boolean, act: ActName, fp8Attn = false): { out: Float64Array; err: Float64Array } {
  const { H, Hkv, Dh, blockSize } = c;
  const group = H / Hkv;
  const T = c.positions.length;
  const out = new Float64Array(T * H * Dh);
  const err = new Float64Array(T * H * Dh);
  const row = Hkv * Dh;
  for (let s = 0; s + 1 < c.seqStarts.length; s++)
    for (let t = c.seqStarts[s]!; t < c.seqStarts[s + 1]!; t++)
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / group);
        const ctx = c.positions[t]! + 1;
        const fp8 = fp8Attn;
        // FP8 path: the row's head as e4m3 codes times its scale (the product rounded to fp32)
        const q0 = (t * H + h) * Dh;
        const sq = fp8 ? scaleRef(absmax(c.q, q0, q0 + Dh), 'fp8') : 1;
        const qv = Array.from({ length: Dh }, (_, i) =>
          fp8 ? Math.fround(fp8DecodeRef(fp8QuantRef(c.q[q0 + i]!, invScaleRef(sq))) * sq) : c.q[q0 + i]!);
        const slots: number[] = [];
        const scores: number[] = [];
        for (let p = 0; p < ctx; p++) {
          const slot = c.blockTables[s * c.maxBlocks + Math.floor(p / blockSize)]! * blockSize + (p % blockSize);
          slots.push(slot);
          let d = 0;
          for (let i = 0; i < Dh; i++) d += qv[i]! * c.kCache[slot * row + kvh * Dh + i]!;
          scores.push(fp32Scores ? Math.fround(d * c.scale) : d * c.scale);
        }
        const mx = Math.max(...scores);
        const delta = 2 ** -23 + 2 ** -24 * (mx - Math.min(...scores));
        // FP8 path: numerators p = fp32(2^8 exp(fp32(s - max))) summed unrounded, weights e4m3(p) / sum. expf may
        // be an ulp off exp, so where p lies within 2^-22 of an e4m3 rounding boundary either neighbour is allowed.
        const numer = scores.map((x) => (fp8 ? Math.fround(256 * Math.exp(Math.fround(x - mx))) : Math.exp(x - mx)));
        const w = fp8 ? numer.map((x) => fp8DecodeRef(fp8EncodeRef(x))) : numer;
        const flip = fp8 ? numer.map((x) => Math.abs(fp8DecodeRef(fp8EncodeRef(x * (1 + 2 ** -22))) - fp8DecodeRef(fp8EncodeRef(x * (1 - 2 ** -22))))) : null;
        const sum = numer.reduce((a, b) => a + b, 0);
        for (let i = 0; i < Dh; i++) {
          let acc = 0;
          let mag = 0;
          let flips = 0;
          for (let p = 0; p < ctx; p++) {
            const v = c.vCache[slots[p]! * row + kvh * Dh + i]!;
            acc += (w[p]! / sum) * v;
            mag += (w[p]! / sum) * Math.abs(v);
            if (flip) flips += (flip[p]! / sum) * Math.abs(v);
          }
          out[(t * H + h) * Dh + i] = acc;
          err[(t * H + h) * Dh + i] = (2.2 * delta + 1e-12) * mag + flips + fp32Step(acc, act);
        }
      }
  return { out, err };
}

test('attentionPaged: varlen batch (mid-sequence prefill chunk, prefill, decodes), shuffled blocks, GQA 1/2/4', () => {
  const { rng, tag } = rngFor('attentionPaged');
  for (const group of [1, 2, 4])
    for (const act of ACTS) {
      const c = attnCase(rng, group, act);
      const out = ops.attentionPaged(
        c.q, c.kCache, c.vCache, c.seqStarts, c.positions, c.blockTables, c.maxBlocks, c.H, c.Hkv, c.Dh, c.blockSize,
        c.scale, act,
      );
      const what = `${tag} attention ${act} group=${group} H=${c.H} Hkv=${c.Hkv} Dh=${c.Dh} bs=${c.blockSize} positions=[${c.positions}]`;
      assert.ok(out.every((v) => Number.isFinite(v)), `${what}: non-finite output (read a slot outside the context?)`);
      const spec = attentionRef(c, true, act);
      assertRoundedBound(out, spec.out, spec.err, act, `${what} (fp32 scores)`);
      assertRepresentable(out, act, what);
      // Against exact float64 scores: rounding |score| <= ~10 to fp32 moves the softmax weights by <= 2^-20
      // relatively, well inside the dtype thresholds.
      assertRelNorm(out, attentionRef(c, false, act).out, act, `${what} (float64 scores)`);
    }
});

test('attentionPaged fp8: FlashAttention-3 FP8 numerics on every row (prefill chunks and decodes)', () => {
  const { rng, tag } = rngFor('attentionPagedFp8');
  for (const group of [1, 2, 4])
    for (const act of ACTS) {
      const c = attnCase(rng, group, act);
      const args = [c.q, c.kCache, c.vCache, c.seqStarts, c.positions, c.blockTables, c.maxBlocks, c.H, c.Hkv, c.Dh, c.blockSize, c.scale, act] as const;
      const out = ops.attentionPaged(...args, 'fp8');
      const auto = ops.attentionPaged(...args, 'auto');
      const what = `${tag} fp8 attention ${act} group=${group} H=${c.H} Hkv=${c.Hkv} Dh=${c.Dh} bs=${c.blockSize} positions=[${c.positions}]`;
      assert.ok(out.every((v) => Number.isFinite(v)), `${what}: non-finite output`);
      const spec = attentionRef(c, true, act, true);
      assertRoundedBound(out, spec.out, spec.err, act, what);
      assertRepresentable(out, act, what);
      // the outputs moved against 'auto' (Q and P rounded to e4m3): the flag reached the op
      let moved = 0;
      for (let i = 0; i < out.length; i++) moved += out[i] !== auto[i] ? 1 : 0;
      assert.ok(moved > 0, `${what}: the outputs came out as with 'auto'`);
    }
});

// --------------------------------------------------------------------------------------------- sampling

/** log_softmax(logits)[i] in float64. */
function logSoftmaxRef(logits: Float32Array, i: number): number {
  const mx = Math.max(...logits);
  let s = 0;
  for (const l of logits) s += Math.exp(l - mx);
  return logits[i]! - mx - Math.log(s);
}

function assertLogprob(got: number, logits: Float32Array, tok: number, what: string): void {
  const ref = logSoftmaxRef(logits, tok);
  // fp32 of a float64 log-softmax: half an fp32 ulp plus float64 noise
  const bound = 0.5 * ulpOf(Math.abs(ref), 'fp32') + 1e-12 * (1 + Math.abs(ref));
  assert.ok(Math.abs(got - ref) <= bound, `${what}: logprob ${got}, float64 reference ${ref}`);
}

function randLogits(rng: Rng, V: number, sd: number): Float32Array {
  return Float32Array.from({ length: V }, () => Math.fround(rng.nonzero(sd)));
}

test('sampleRow temperature 0: argmax with the first index on ties; logprob = float64 log-softmax', () => {
  const { rng, tag } = rngFor('sample greedy');
  for (let trial = 0; trial < 60; trial++) {
    const V = rng.int(1, 300);
    const logits = randLogits(rng, V, 3);
    let want = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[want]!) want = i;
    if (V >= 2 && trial % 2 === 0) {
      // two equal maxima: the first index wins
      const i = rng.int(0, V - 2);
      const j = rng.int(i + 1, V - 1);
      logits[i] = logits[j] = Math.fround(Math.max(...logits) + 1);
      want = i;
    }
    const r = ops.sampleRow(logits, 0, rng.uniform(), rng.u32(), rng.u32(), rng.int(0, 1e6));
    const what = `${tag} greedy V=${V} trial=${trial}`;
    assert.equal(r.token, want, `${what}: token`);
    assertLogprob(r.logprob, logits, r.token, what);
  }
});

/** Nucleus in float64: softmax(logits / T), descending (stable), smallest prefix with mass >= top_p (whole row for
 * top_p >= 1). Returns the order, the unnormalised weights and the kept count; null if the cut is numerically
 * ambiguous (a prefix mass within 1e-9 of the threshold). */
interface Nucleus {
  /** token ids by descending weight (ties: lower id first) */
  order: number[];
  /** unnormalised weights exp((l - max) / T) */
  p: number[];
  /** tokens kept */
  n: number;
  /** their total weight */
  cum: number;
}
function nucleusRef(logits: Float32Array, temperature: number, topP: number): Nucleus | null {
  const mx = Math.max(...logits);
  const p = Array.from(logits, (l) => Math.exp((l - mx) / temperature));
  const sum = p.reduce((a, b) => a + b, 0);
  const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]! || a - b);
  const keepMass = topP > 0 && topP < 1 ? topP * sum : sum;
  let n = 0;
  let cum = 0;
  while (n < order.length) {
    cum += p[order[n]!]!;
    n++;
    if (Math.abs(cum - keepMass) < 1e-9 * sum && n < order.length) return null;
    if (cum >= keepMass) break;
  }
  return { order, p, n, cum };
}

test('sampleRow temperature / top-p: deterministic per (seed, counter), only nucleus tokens, frequencies follow it', () => {
  const { rng, tag } = rngFor('sample top-p');
  for (let trial = 0; trial < 6; trial++) {
    const V = rng.int(2, 24);
    const logits = randLogits(rng, V, 1.5);
    const temperature = Math.fround(0.6 + 0.8 * rng.uniform());
    const topP = trial === 5 ? 1 : Math.fround(0.5 + 0.45 * rng.uniform());
    const nuc = nucleusRef(logits, temperature, topP);
    if (!nuc) continue; // cut too close to call in float64: this draw does not pin anything
    const seedLo = rng.u32();
    const seedHi = rng.u32();
    const keep = new Set(nuc.order.slice(0, nuc.n));
    const counts = new Map<number, number>();
    const N = 3000;
    const what = `${tag} top-p V=${V} T=${temperature} top_p=${topP} seed=${seedLo},${seedHi}`;
    for (let counter = 0; counter < N; counter++) {
      const r = ops.sampleRow(logits, temperature, topP, seedLo, seedHi, counter);
      assert.ok(keep.has(r.token), `${what} counter=${counter}: token ${r.token} outside the nucleus [${[...keep]}]`);
      counts.set(r.token, (counts.get(r.token) ?? 0) + 1);
      if (counter % 97 === 0) {
        const again = ops.sampleRow(logits, temperature, topP, seedLo, seedHi, counter);
        assert.deepEqual(again, r, `${what} counter=${counter}: not deterministic`);
        assertLogprob(r.logprob, logits, r.token, `${what} counter=${counter}`); // temperature-1 model logprob
        // The draw is the inverse CDF of the descending nucleus at u * mass, u = rngUniform(seed, counter).
        const u = ops.rngUniform(seedLo, seedHi, counter);
        let c = 0;
        let want: number = nuc.order[nuc.n - 1]!;
        for (let j = 0; j < nuc.n; j++) {
          c += nuc.p[nuc.order[j]!]!;
          if (u * nuc.cum < c) {
            want = nuc.order[j]!;
            break;
          }
        }
        assert.equal(r.token, want, `${what} counter=${counter} u=${u}: inverse-CDF token`);
      }
    }
    // Chi-square of the counts against the renormalised nucleus; bins expecting < 5 are pooled. The bound
    // dof + 8 sqrt(2 dof) + 16 has a false-alarm probability far below 1e-6 while a sampler that ignores the
    // temperature or the nucleus renormalisation lands in the hundreds at N = 3000.
    let chi2 = 0;
    let dof = -1;
    let poolE = 0;
    let poolO = 0;
    for (const tok of nuc.order.slice(0, nuc.n)) {
      const e = (N * nuc.p[tok]!) / nuc.cum;
      const o = counts.get(tok) ?? 0;
      if (e < 5) {
        poolE += e;
        poolO += o;
        continue;
      }
      chi2 += (o - e) ** 2 / e;
      dof++;
    }
    if (poolE > 0) {
      chi2 += (poolO - poolE) ** 2 / poolE;
      dof++;
    }
    if (dof > 0) {
      const bound = dof + 8 * Math.sqrt(2 * dof) + 16;
      assert.ok(chi2 <= bound, `${what}: chi-square ${chi2.toFixed(1)} > ${bound.toFixed(1)} (dof ${dof})`);
    }
  }
});

test('sampleRow: a tiny top-p keeps only the most likely token; rngUniform is in [0, 1) on a 2^-24 grid', () => {
  const { rng, tag } = rngFor('sample edge');
  for (let trial = 0; trial < 20; trial++) {
    const logits = randLogits(rng, rng.int(2, 50), 2);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    const r = ops.sampleRow(logits, 1, 1e-6, rng.u32(), rng.u32(), trial);
    assert.equal(r.token, best, `${tag} tiny top-p trial ${trial}`);
  }
  const lo = rng.u32();
  let sum = 0;
  const seen = new Set<number>();
  for (let counter = 0; counter < 2000; counter++) {
    const u = ops.rngUniform(lo, 7, counter);
    assert.ok(u >= 0 && u < 1 && Number.isInteger(u * 2 ** 24), `${tag} rngUniform(${lo}, 7, ${counter}) = ${u}`);
    sum += u;
    seen.add(u);
  }
  assert.ok(Math.abs(sum / 2000 - 0.5) < 0.05, `${tag} rngUniform mean ${sum / 2000}`);
  assert.ok(seen.size > 1990, `${tag} rngUniform repeats values`);
  // Both halves of the 64-bit seed matter.
  let differ = 0;
  for (let counter = 0; counter < 50; counter++) if (ops.rngUniform(lo, 7, counter) !== ops.rngUniform(lo, 8, counter)) differ++;
  assert.ok(differ > 45, `${tag} the seed's high word does not change the stream`);
});

test('gatherLogprob: float64 log-softmax of the target; isArgmax is the greedy (first-index) choice', () => {
  const { rng, tag } = rngFor('gatherLogprob');
  for (let trial = 0; trial < 60; trial++) {
    const V = rng.int(1, 500);
    const logits = randLogits(rng, V, 4);
    let am = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[am]!) am = i;
    let tie = -1;
    if (V >= 2 && trial % 3 === 0) {
      const i = rng.int(0, V - 2);
      tie = rng.int(i + 1, V - 1);
      logits[i] = logits[tie] = Math.fround(Math.max(...logits) + 0.5);
      am = i;
    }
    const targets = [am, rng.int(0, V - 1)];
    if (tie >= 0) targets.push(tie);
    for (const target of targets) {
      const r = ops.gatherLogprob(logits, target);
      const what = `${tag} gather V=${V} target=${target} argmax=${am}`;
      assertLogprob(r.logprob, logits, target, what);
      assert.equal(r.isArgmax, target === am, `${what}: isArgmax`);
    }
  }
});

// --------------------------------------------------------------------------------------------- weight quantization

/** [N, K] weights: per-row magnitudes over 2^-10 .. 2^2, a few outliers, and (N > 2) one row under the floor. */
function weightInput(rng: Rng, N: number, K: number): Float32Array {
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const sd = n === 1 && N > 2 ? 1e-5 : logUniformPos(rng, -10, 2);
    for (let k = 0; k < K; k++) w[n * K + k] = Math.fround(rng.nonzero(sd));
  }
  for (let o = 0; o < 3; o++) w[rng.int(0, N * K - 1)] = Math.fround(30 * rng.nonzero(1));
  return w;
}

test('quantWeight int8-channel / fp8-channel / fp8-tensor: scales and codes exactly as numerics.h', () => {
  const { rng, tag } = rngFor('quantWeight');
  for (const N of [1, 3, 17])
    for (const K of KS) {
      const w = weightInput(rng, N, K);
      const what = `${tag} quantWeight N=${N} K=${K}`;
      for (const kind of ['int8', 'fp8'] as const) {
        const got = kind === 'int8' ? ops.quantWeight(w, N, K, 'int8-channel') : ops.quantWeight(w, N, K, 'fp8-channel');
        const sRef = Array.from({ length: N }, (_, n) => scaleRef(absmax(w, n * K, (n + 1) * K), kind));
        const qRef = Array.from(w, (v, i) => {
          const inv = invScaleRef(sRef[Math.floor(i / K)]!);
          return kind === 'int8' ? int8QuantRef(v, inv) : fp8QuantRef(v, inv);
        });
        assertExact(got.scale, sRef, `${what} ${kind}-channel scales`);
        assertExact(Array.from(got.q), qRef, `${what} ${kind}-channel codes`);
      }
      const t = ops.quantWeight(w, N, K, 'fp8-tensor');
      const s = scaleRef(absmax(w), 'fp8');
      assertExact(t.scale, [s], `${what} fp8-tensor scale`);
      const inv = invScaleRef(s);
      assertExact(Array.from(t.q), Array.from(w, (v) => fp8QuantRef(v, inv)), `${what} fp8-tensor codes`);
    }
});

test('smoothquantFactors: s_j = max(|X_j|)^a / max(|W_j|)^(1-a), clamped at 1e-5, 1 where either max is 0', () => {
  const { rng, tag } = rngFor('smoothquant');
  for (const K of KS)
    for (const alpha of [0.5, 0.8, Math.fround(0.2 + 0.7 * rng.uniform())]) {
      const act = Float32Array.from({ length: K }, () => logUniformPos(rng, -10, 7));
      const groups = rng.int(1, 3);
      const weights = Array.from({ length: groups }, () => {
        const rows = rng.int(1, 5);
        return Float32Array.from({ length: rows * K }, () => Math.fround(rng.nonzero(logUniformPos(rng, -6, 1))));
      });
      // Special channels (when K allows): activation max 0, a weight column 0 in every linear of the group, and an
      // activation max so small that the quotient falls under the 1e-5 clamp.
      const special = K >= 3 ? rng.shuffle(Array.from({ length: K }, (_, i) => i)).slice(0, 3) : [];
      if (special.length === 3) {
        act[special[0]!] = 0;
        for (const w of weights) for (let r = 0; r < w.length / K; r++) w[r * K + special[1]!] = 0;
        act[special[2]!] = 1e-38; // with a large weight column: 1e-38^a / 10^(1-a) < 1e-7 for a in [0.2, 0.9]
        weights[0]![special[2]!] = 10;
      }
      const got = ops.smoothquantFactors(act, weights, K, alpha);
      const a = Math.fround(alpha);
      const what = `${tag} smoothquant K=${K} alpha=${a} groups=${groups}`;
      assert.equal(got.length, K, `${what}: length`);
      for (let j = 0; j < K; j++) {
        let wmax = 0;
        for (const w of weights) for (let r = 0; r < w.length / K; r++) wmax = Math.max(wmax, Math.abs(w[r * K + j]!));
        const ref = act[j]! > 0 && wmax > 0 ? Math.fround(Math.max(act[j]! ** a / wmax ** (1 - a), 1e-5)) : 1;
        // pow may differ by an ulp between libm and V8: allow one fp32 ulp.
        assert.ok(Math.abs(got[j]! - ref) <= ulpOf(ref, 'fp32'), `${what}: channel ${j}: got ${got[j]}, expected ${ref}`);
      }
      if (special.length === 3) {
        assert.equal(got[special[0]!], 1, `${what}: zero activation -> 1`);
        assert.equal(got[special[1]!], 1, `${what}: zero weight column -> 1`);
        assert.equal(got[special[2]!], Math.fround(1e-5), `${what}: clamp at 1e-5`);
      }
    }
});
