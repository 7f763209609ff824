/**
 * Test helpers for the native numerics/op tests: a seeded PRNG whose seed is logged (and can be pinned with
 * QB_TEST_SEED=<n> to reproduce a failure), and comparators that name the first failing element.
 */
import assert from 'node:assert/strict';
import { roundActRef, ulpOf, type ActName } from './reference_numerics.ts';

/** Base seed of this run: QB_TEST_SEED if set, else derived from the clock (so every run draws fresh inputs). */
export const BASE_SEED: number = (() => {
  const env = process.env.QB_TEST_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0) throw new Error(`QB_TEST_SEED must be a non-negative integer, got '${env}'`);
    return n >>> 0;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
})();

/** Print the seed once per test file (shown by node's test runner). */
export function logSeed(file: string): void {
  console.log(`${file}: seed=${BASE_SEED} (reproduce with QB_TEST_SEED=${BASE_SEED})`);
}

function hashString(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x9e3779b1) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

/** xoshiro128** seeded through splitmix32; each test gets its own stream so a failure reproduces on its own. */
export class Rng {
  private s = new Uint32Array(4);
  readonly seed: number;
  constructor(seed: number) {
    this.seed = seed >>> 0;
    let z = this.seed;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2] ^= s[0]!;
    s[3] ^= s[1]!;
    s[1] ^= s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }
  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
  /** Non-zero normal sample scaled by sd (zero is redrawn so no input is trivially 0). */
  nonzero(sd = 1): number {
    for (;;) {
      const v = this.normal() * sd;
      if (v !== 0) return v;
    }
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A test's own PRNG plus a tag that names the seeds, for assertion messages. */
export function rngFor(testName: string): { rng: Rng; tag: string } {
  const seed = hashString(testName, BASE_SEED);
  return { rng: new Rng(seed), tag: `[QB_TEST_SEED=${BASE_SEED} test='${testName}']` };
}

/** Float32Array of n non-zero normal samples scaled by sd, rounded to the activation dtype. */
export function randomAct(rng: Rng, n: number, act: ActName, sd = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = roundActRef(rng.nonzero(sd), act);
  return a;
}

/** ||out - ref|| / ||ref|| in float64. */
export function relNorm(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = out[i]! - ref[i]!;
    num += d * d;
    den += ref[i]! * ref[i]!;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}

function bitsEqual(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

/** Elementwise identity (NaN == NaN, +0 != -0); names the first mismatch. */
export function assertExact(out: ArrayLike<number>, ref: ArrayLike<number>, what: string): void {
  assert.equal(out.length, ref.length, `${what}: length ${out.length} != ${ref.length}`);
  for (let i = 0; i < ref.length; i++) {
    if (!bitsEqual(out[i]!, ref[i]!)) {
      assert.fail(`${what}: element ${i}: got ${out[i]}, expected ${ref[i]} (first mismatch)`);
    }
  }
}

/** Like assertExact but +0 == -0 (for sums that may legitimately produce either zero). */
export function assertEqualValues(out: ArrayLike<number>, ref: ArrayLike<number>, what: string): void {
  assert.equal(out.length, ref.length, `${what}: length ${out.length} != ${ref.length}`);
  for (let i = 0; i < ref.length; i++) {
    if (!(out[i] === ref[i] || (Number.isNaN(out[i]!) && Number.isNaN(ref[i]!)))) {
      assert.fail(`${what}: element ${i}: got ${out[i]}, expected ${ref[i]} (first mismatch)`);
    }
  }
}

/**
 * Rounding-aware bound: |out - ref| <= 0.5 * ulp_act(|ref| + E) + E, element by element, where ref is the exact
 * (float64) value and E the absolute error the op's fp32 arithmetic may add before the final rounding to the
 * activation dtype. With E from the op's error model this is tight: a wrong formula, a missed rounding step or
 * the wrong dtype fails it.
 */
export function assertRoundedBound(
  out: ArrayLike<number>,
  ref: ArrayLike<number>,
  errAbs: ArrayLike<number> | number,
  act: ActName,
  what: string,
): void {
  assert.equal(out.length, ref.length, `${what}: length ${out.length} != ${ref.length}`);
  for (let i = 0; i < ref.length; i++) {
    const e = typeof errAbs === 'number' ? errAbs : errAbs[i]!;
    const r = ref[i]!;
    const bound = 0.5 * ulpOf(Math.abs(r) + e, act) + e;
    const d = Math.abs(out[i]! - r);
    if (!(d <= bound)) {
      assert.fail(`${what}: element ${i}: got ${out[i]}, float64 reference ${r}, |diff| ${d} > bound ${bound}`);
    }
  }
}

/** Every value must already be a value of the activation dtype (the op rounded its output). */
export function assertRepresentable(out: ArrayLike<number>, act: ActName, what: string): void {
  for (let i = 0; i < out.length; i++) {
    const v = out[i]!;
    if (!bitsEqual(roundActRef(v, act), v)) assert.fail(`${what}: element ${i} = ${v} is not a ${act} value`);
  }
}

/** Relative-norm thresholds per output dtype: fp32 keeps ~7 digits; fp16 / bf16 outputs are bounded by their
 * unit roundoff (2^-11 ~ 4.9e-4, 2^-8 ~ 3.9e-3) times a factor 2 for the fp32 arithmetic before the rounding. */
export const REL_NORM: Record<ActName, number> = { fp32: 1e-6, fp16: 1e-3, bf16: 8e-3 };
