/** A deterministic stand-in for the engine: log-likelihoods from a hash of the request, perturbed per precision. */
import { createHash } from 'node:crypto';
import type { ModelInfo, Precision, Provenance } from '@quantbench/engine';
import type { GenerateRequest, LoglikelihoodRequest, LoglikelihoodResponse } from '@quantbench/lm-eval-ts-shim';
import type { EvalModel, LoadOptions, TokenLogprobs } from '../src/engine_lm.ts';

function unit(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32LE(0) / 2 ** 32;
}

const VOCAB = 16;

export class FakeModel implements EvalModel {
  calls = { loglikelihood: 0, generate: 0, requests: 0 };
  closed = false;
  constructor(
    readonly precision: Precision,
    /** Size of the per-precision perturbation (0 = identical to fp16). */
    private readonly noise: number,
  ) {}

  get info(): ModelInfo {
    return { precision: this.precision, device: 'cpu', deviceName: 'fake', model: 'fake', weights: 'synthetic' } as unknown as ModelInfo;
  }

  provenance(): Provenance {
    return {
      device: 'fake',
      deviceKind: 'cpu',
      commit: 'test',
      model: 'fake',
      weights: 'synthetic',
      recipe: { precision: this.precision, actDtype: 'fp16', weights: 'fake', activations: 'fake', source: 'none' },
      date: '2026-01-01T00:00:00.000Z',
      node: process.version,
      host: 'test',
    };
  }

  private noiseFor(key: string): number {
    return this.precision === 'fp16' ? 0 : this.noise * (unit(`${this.precision}|${key}`) - 0.5);
  }

  async loglikelihood(reqs: LoglikelihoodRequest[]): Promise<LoglikelihoodResponse[]> {
    this.calls.loglikelihood++;
    this.calls.requests += reqs.length;
    return reqs.map((r) => {
      const key = `${r.context}\u0000${r.continuation}`;
      return { logprob: -0.3 * r.continuation.length - 4 * unit(key) + this.noiseFor(key), isGreedy: unit(`g${key}`) < 0.2 };
    });
  }

  async generateUntil(reqs: GenerateRequest[]): Promise<string[]> {
    this.calls.generate++;
    this.calls.requests += reqs.length;
    // Answers "#### 20" (correct for the first fixture question) at fp16; a quantized model says 21.
    return reqs.map(() => (this.precision === 'fp16' ? ' 5 * 4 = 20.\n#### 20' : ' 5 * 4 = 21.\n#### 21'));
  }

  async tokenLogprobs(text: string, full: boolean): Promise<TokenLogprobs> {
    const ids = [...text].map((c) => c.charCodeAt(0) % VOCAB);
    const rows: Float32Array[] = [];
    const logprobs: number[] = [];
    for (let i = 1; i < ids.length; i++) {
      const logits = Array.from({ length: VOCAB }, (_, v) => 3 * unit(`${ids[i - 1]}|${v}`) + this.noiseFor(`${i}|${v}`));
      const m = Math.max(...logits);
      const lse = m + Math.log(logits.reduce((a, x) => a + Math.exp(x - m), 0));
      const row = Float32Array.from(logits.map((x) => x - lse));
      rows.push(row);
      logprobs.push(row[ids[i]]);
    }
    return { ids, logprobs, ...(full ? { full: rows } : {}) };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export function fakeLoader(noise = 1.5): { load: (o: LoadOptions) => Promise<EvalModel>; models: FakeModel[] } {
  const models: FakeModel[] = [];
  return {
    models,
    load: async (o) => {
      const m = new FakeModel(o.precision, noise);
      models.push(m);
      return m;
    },
  };
}
