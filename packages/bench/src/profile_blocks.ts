/**
 * --profile-blocks: decode-step time by block (attention incl. QKV projection, MLP, quantization, other) against
 * batch size and context length, from the native model's per-block timers (forward with profile on). For each
 * (batch, context) the engine prefills `batch` requests of `context` tokens, then averages the pure decode steps.
 */
import { makeProvenance, type Precision } from '@quantbench/engine';
import type { BenchEngine } from './engine_driver.ts';
import { appendBreakdown } from './run_dir.ts';
import { BENCH_SCHEMA_VERSION, type BlockBreakdownPoint } from './schema.ts';
import { SeededRng } from './rng.ts';

export interface ProfileBlocksConfig {
  runDir: string;
  batches: number[];
  contexts: number[];
  /** Decode steps averaged per point. */
  decodeSteps: number;
  maxNumBatchedTokens: number;
  seed: number;
}

export function profileBlocks(engine: BenchEngine, precision: Precision, cfg: ProfileBlocksConfig, signal?: AbortSignal): BlockBreakdownPoint[] {
  const out: BlockBreakdownPoint[] = [];
  const rng = new SeededRng(cfg.seed);
  const special = new Set(engine.info.specialTokenIds);
  const token = () => {
    for (;;) {
      const t = rng.integers(0, engine.info.vocabSize);
      if (!special.has(t)) return t;
    }
  };
  for (const batch of cfg.batches) {
    for (const ctx of cfg.contexts) {
      if (signal?.aborted) return out;
      const core = engine.createCore({ maxNumSeqs: batch, maxNumBatchedTokens: cfg.maxNumBatchedTokens, profileBlocks: true });
      // Chunked prefill mixes the first requests' decodes with the last ones' prefill: every request must still be
      // decoding when the last prefill chunk is done, so it gets as many tokens as there are prefill steps on top.
      const prefillSteps = Math.ceil((batch * ctx) / cfg.maxNumBatchedTokens) + 1;
      for (let i = 0; i < batch; i++) {
        core.addRequest({
          id: `p${i}`,
          promptIds: Array.from({ length: ctx }, token),
          params: { maxTokens: cfg.decodeSteps + 1 + prefillSteps, ignoreEos: true },
        });
      }
      const acc = { attention: 0, mlp: 0, quantization: 0, other: 0 };
      let stepMs = 0;
      let n = 0;
      while (core.hasUnfinished()) {
        const { stats } = core.step();
        if (stats.numPrefillTokens === 0 && stats.numDecodeTokens === batch && stats.blockMs) {
          acc.attention += stats.blockMs.attention;
          acc.mlp += stats.blockMs.mlp;
          acc.quantization += stats.blockMs.quantization;
          acc.other += stats.blockMs.other;
          stepMs += stats.blockMs.total;
          n++;
          if (n === cfg.decodeSteps) for (let i = 0; i < batch; i++) core.abortRequest(`p${i}`);
        }
      }
      if (n === 0) continue; // never a full decode batch (KV cache too small for batch x context)
      const p: BlockBreakdownPoint = {
        schema: 'quantbench.bench.breakdown',
        version: BENCH_SCHEMA_VERSION,
        provenance: makeProvenance({
          device: engine.info.deviceName,
          deviceKind: engine.info.device,
          model: engine.info.model,
          weights: engine.info.weights,
          recipe: engine.info.recipe,
        }),
        precision,
        batchSize: batch,
        contextLen: ctx,
        blocksMs: { attention: acc.attention / n, mlp: acc.mlp / n, quantization: acc.quantization / n, other: acc.other / n },
        stepMs: stepMs / n,
        numSteps: n,
        timing: engine.info.device === 'cuda' ? 'native per-block timers (CUDA)' : 'native per-block wall clock (CPU)',
      };
      appendBreakdown(cfg.runDir, p);
      out.push(p);
    }
  }
  return out;
}
