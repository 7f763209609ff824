/** Test helpers shared by the engine tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dataPath, missingDataMessage } from '../src/datadir.ts';

export const STORIES_REL = 'models/stories260K/hf';
export const STORIES_REF_REL = 'models/stories260K/reference/reference_fp32.json';

/** The stories260K directory, or a skip message when the data dir is absent. */
export function storiesDir(): { dir: string | null; skip: string | false } {
  const dir = dataPath(STORIES_REL);
  return { dir, skip: dir ? false : missingDataMessage(STORIES_REL) };
}

export function tmpDir(prefix = 'qb-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** KL(p || q) of two log-softmax rows, in float64. */
export function klLog(p: Float32Array, q: Float32Array): number {
  let k = 0;
  for (let i = 0; i < p.length; i++) k += Math.exp(p[i]!) * (p[i]! - q[i]!);
  return k;
}

export function argmax(x: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[b]!) b = i;
  return b;
}

/** Seeded PRNG (mulberry32) for reproducible random inputs; log the seed in the test. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
