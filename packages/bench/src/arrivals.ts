/**
 * Request arrival offsets (ms from the start of a point), as `vllm bench serve` draws them: rate inf -> all at 0;
 * else inter-arrival gaps ~ Gamma(shape = burstiness, scale = 1 / (rate * burstiness)) seconds (burstiness 1 is a
 * Poisson process; < 1 burstier, > 1 more uniform). The mean rate is `rate` in every case.
 */
import { SeededRng } from './rng.ts';

export function arrivalOffsetsMs(n: number, rate: number | 'inf', burstiness: number, seed: number): number[] {
  if (rate === 'inf' || rate === Infinity) return new Array<number>(n).fill(0);
  if (!(rate > 0)) throw new RangeError(`--request-rate must be > 0 or inf, got ${rate}`);
  if (!(burstiness > 0)) throw new RangeError(`--burstiness must be > 0, got ${burstiness}`);
  const rng = new SeededRng(seed ^ 0x5bd1e995);
  const theta = 1 / (rate * burstiness);
  const out: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    out.push(t * 1000);
    t += rng.gamma(burstiness, theta);
  }
  return out;
}
