import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveBench, type RawBenchFlags } from '../src/options.ts';
import { arrivalOffsetsMs } from '../src/arrivals.ts';
import { servePoint } from '../src/serve_point.ts';
import { sampleRequests } from '../src/workload.ts';
import { loadEngine as fakeLoader } from './fake_engine.ts';

const base: RawBenchFlags = { device: 'auto', workload: 'prefill-heavy', rangeRatio: 0, seed: 0, rate: 'inf', burstiness: 1, chunkedPrefill: true, profileBlocks: false };

test('no GPU: CPU backend on synthetic:tiny with the quick profile, said plainly', () => {
  const r = resolveBench(base, false);
  assert.equal(r.device, 'cpu');
  assert.equal(r.model, 'synthetic:tiny');
  assert.equal(r.quick, true);
  assert.match(r.notices.join(' '), /No GPU found/);
  assert.deepEqual(r.precisions, ['fp16', 'int8-w8a8', 'fp8-dynamic', 'fp8-static']);
  assert.equal(r.workload.numPrompts, 8);
});

test('CUDA: the study protocol (synthetic:llama-3.1-8b, 2048/128, default prompts by batch)', () => {
  const r = resolveBench({ ...base, batch: '1,16,64,256', rate: 'inf,4', precision: 'fp8-static' }, true);
  assert.equal(r.device, 'cuda');
  assert.equal(r.model, 'synthetic:llama-3.1-8b');
  assert.equal(r.quick, false);
  assert.deepEqual([r.workload.inputLen, r.workload.outputLen], [2048, 128]);
  assert.equal(r.workload.numPrompts, null);
  assert.deepEqual(r.batches, [1, 16, 64, 256]);
  assert.deepEqual(r.rates, ['inf', 4]);
  assert.deepEqual(r.precisions, ['fp8-static']);
  const d = resolveBench({ ...base, workload: 'decode-heavy' }, true);
  assert.deepEqual([d.workload.inputLen, d.workload.outputLen], [128, 2048]);
});

test('bad options are typed errors that say what to pass', () => {
  assert.throws(() => resolveBench({ ...base, workload: 'custom' }, false), { code: 'BAD_OPTION', message: /--input-len/ });
  assert.throws(() => resolveBench({ ...base, precision: 'int4' }, false), { code: 'BAD_OPTION' });
  assert.throws(() => resolveBench({ ...base, rate: '0' }, false), { code: 'BAD_OPTION' });
  assert.throws(() => resolveBench({ ...base, batch: '4,x' }, false), { code: 'BAD_OPTION' });
  assert.throws(() => resolveBench({ ...base, device: 'cuda' }, false), { code: 'BAD_OPTION' });
});

test('--max-concurrency caps requests in flight', async () => {
  const engine = await fakeLoader({ model: 'fake', precision: 'fp16', device: 'cpu' });
  const spec = { name: 'custom', inputLen: 20, outputLen: 5, rangeRatio: 0.5, numPrompts: 12, seed: 4 };
  const requests = sampleRequests(spec, engine.info.vocabSize, engine.info.specialTokenIds);
  const core = engine.createCore({ maxNumSeqs: 8, maxNumBatchedTokens: 256 });
  let maxInFlight = 0;
  const res = await servePoint(core, {
    requests,
    arrivalsMs: arrivalOffsetsMs(12, 'inf', 1, 0),
    maxConcurrency: 3,
    onStep: (s) => (maxInFlight = Math.max(maxInFlight, s.numRunning + s.numWaiting)),
  });
  assert.equal(maxInFlight, 3);
  assert.ok(res.records.every((r) => r.success && r.tokenTimesMs.length >= 2 && r.tokenTimesMs[0] >= r.sendMs));
});

test('--ncu-steps: A:B with A < B, CUDA serving sweeps only', () => {
  assert.equal(resolveBench(base, false).ncuSteps, null);
  assert.deepEqual(resolveBench({ ...base, ncuSteps: '1037:1038' }, true).ncuSteps, [1037, 1038]);
  for (const bad of ['5', '3:3', '4:2', 'a:b', '-1:2', '1:2:3']) {
    assert.throws(() => resolveBench({ ...base, ncuSteps: bad }, true), { code: 'BAD_OPTION', message: /--ncu-steps takes A:B/ }, bad);
  }
  assert.throws(() => resolveBench({ ...base, ncuSteps: '0:1' }, false), { code: 'BAD_OPTION', message: /needs --device cuda/ });
  assert.throws(() => resolveBench({ ...base, ncuSteps: '0:1', profileBlocks: true }, true), { code: 'BAD_OPTION', message: /--profile-blocks/ });
});

test('--ncu-steps brackets exactly engine steps first..end-1 of a point, and closes a window the point ends inside', async () => {
  const engine = await fakeLoader({ model: 'fake', precision: 'fp16', device: 'cpu' });
  const spec = { name: 'custom', inputLen: 20, outputLen: 6, rangeRatio: 0, numPrompts: 4, seed: 1 };
  const requests = sampleRequests(spec, engine.info.vocabSize, engine.info.specialTokenIds);
  for (const [first, end, expectOpen] of [[2, 4, 2], [3, 1000, null]] as const) {
    const core = engine.createCore({ maxNumSeqs: 4, maxNumBatchedTokens: 256 });
    const calls: { on: boolean; step: number }[] = [];
    let stepsSeen = 0;
    const res = await servePoint(core, {
      requests,
      arrivalsMs: arrivalOffsetsMs(4, 'inf', 1, 0),
      maxConcurrency: null,
      onStep: () => stepsSeen++,
      profileSteps: { first, end, profiler: (on) => calls.push({ on, step: stepsSeen }) },
    });
    assert.ok(res.steps > 4, `the point has more steps than the window (${res.steps})`);
    if (expectOpen !== null) {
      // on before step 2 runs (2 steps seen), off right after step 3 ran (before its onStep: 3 seen)
      assert.deepEqual(calls, [{ on: true, step: 2 }, { on: false, step: 3 }]);
    } else {
      assert.deepEqual(calls, [{ on: true, step: 3 }, { on: false, step: res.steps }]);
    }
  }
});
