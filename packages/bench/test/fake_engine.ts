/**
 * Test double for the bench's engine: the scheduler tests' deterministic paged-KV runner behind the BenchEngine
 * interface. Used with --engine-module (CLI tests) and as a loader (in-process tests). QB_FAKE_STEP_MS slows each
 * forward down so a test can interrupt a run part-way; QB_FAKE_DEVICE_NAME and QB_FAKE_ARCH set the device name and
 * the architecture the roofline uses.
 */
import { syntheticConfig, type PrecisionRecipe } from '@quantbench/engine';
import { EngineCore, type BenchEngine, type EngineLoader } from '../src/engine_driver.ts';
import { FakeRunner } from '@quantbench/engine/testing';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export const loadEngine: EngineLoader = async (o) => {
  const runner = new FakeRunner({ numKvBlocks: o.numKvBlocks ?? 2048, vocab: 97, eosTokenIds: [0], maxModelLen: 4096 });
  const stepMs = Number(process.env.QB_FAKE_STEP_MS ?? 0);
  const forward = runner.forward.bind(runner);
  runner.forward = (b) => {
    if (stepMs > 0) Atomics.wait(sleeper, 0, 0, stepMs);
    return forward(b);
  };
  const recipe: PrecisionRecipe = { precision: o.precision, actDtype: 'fp32', weights: 'fake', activations: 'fake', source: 'none', kvCacheDtype: o.kvCacheDtype ?? 'auto' };
  const engine: BenchEngine = {
    info: {
      model: 'fake:test',
      weights: 'synthetic',
      precision: o.precision,
      recipe,
      device: o.device,
      // QB_FAKE_DEVICE_NAME / QB_FAKE_ARCH (a synthetic config name): what the roofline tests need
      deviceName: process.env.QB_FAKE_DEVICE_NAME ?? 'fake device',
      vocabSize: 97,
      specialTokenIds: [0],
      ...(process.env.QB_FAKE_ARCH ? { arch: syntheticConfig(process.env.QB_FAKE_ARCH) } : {}),
    },
    runner,
    createCore: (opts) => new EngineCore(runner, opts),
    close: () => {},
  };
  return engine;
};
