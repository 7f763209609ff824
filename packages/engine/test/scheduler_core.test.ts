import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineCore, type EngineCoreOptions, type RequestOutput, type RequestParams } from '../src/scheduler/index.ts';
import { FakeRunner, rng, type FakeRunnerOptions } from './scheduler_fake_runner.ts';

interface Req {
  id: string;
  promptIds: number[];
  params: RequestParams;
}

function workload(seed: number, n: number, maxPrompt: number, maxOut: number, extra: Partial<RequestParams> = {}): Req[] {
  const r = rng(seed);
  const out: Req[] = [];
  for (let i = 0; i < n; i++) {
    const len = 1 + Math.floor(r() * maxPrompt);
    out.push({
      id: `r${i}`,
      promptIds: Array.from({ length: len }, () => 1 + Math.floor(r() * 90)),
      params: { maxTokens: 1 + Math.floor(r() * maxOut), ignoreEos: true, ...extra },
    });
  }
  return out;
}

interface RunResult {
  tokens: Map<string, number[]>;
  logprobs: Map<string, number[]>;
  reasons: Map<string, string>;
  core: EngineCore;
  runner: FakeRunner;
  steps: ReturnType<EngineCore['step']>['stats'][];
}

function runAll(reqs: Req[], runnerOpts: FakeRunnerOptions, opts: EngineCoreOptions, addEvery = 0): RunResult {
  const runner = new FakeRunner(runnerOpts);
  const core = new EngineCore(runner, opts);
  const tokens = new Map<string, number[]>();
  const logprobs = new Map<string, number[]>();
  const reasons = new Map<string, string>();
  const steps: RunResult['steps'] = [];
  let next = 0;
  const addSome = (k: number) => {
    for (; k > 0 && next < reqs.length; k--, next++) {
      core.addRequest(reqs[next]);
      tokens.set(reqs[next].id, []);
      logprobs.set(reqs[next].id, []);
    }
  };
  addSome(addEvery > 0 ? addEvery : reqs.length);
  const onOut = (o: RequestOutput) => {
    assert.ok(!reasons.has(o.id), `output after finish for ${o.id}`);
    tokens.get(o.id)!.push(...o.newTokenIds);
    logprobs.get(o.id)!.push(...o.newLogprobs);
    if (o.finished) reasons.set(o.id, o.finishReason!);
  };
  let guard = 0;
  while (core.hasUnfinished() || next < reqs.length) {
    if (addEvery > 0) addSome(addEvery);
    const { outputs, stats } = core.step();
    steps.push(stats);
    outputs.forEach(onOut);
    assert.ok(++guard < 100000, 'engine did not finish (hang)');
  }
  return { tokens, logprobs, reasons, core, runner, steps };
}

const BIG: FakeRunnerOptions = { numKvBlocks: 4096 };
const BIG_OPTS: EngineCoreOptions = { maxNumSeqs: 256, maxNumBatchedTokens: 8192 };

test('block accounting: every block comes back once all requests finish (with EOS and stop tokens)', () => {
  const reqs = workload(11, 40, 70, 30, { ignoreEos: false, stopTokenIds: [5] });
  const res = runAll(reqs, { numKvBlocks: 64, eosTokenIds: [3, 7] }, { maxNumSeqs: 8, maxNumBatchedTokens: 64 }, 3);
  assert.equal(res.reasons.size, reqs.length);
  assert.equal(res.core.kv.numUsedBlocks, 0);
  assert.equal(res.core.kv.numFreeBlocks, 64);
  assert.equal(res.core.kv.numHolders, 0);
  assert.equal(res.core.hasUnfinished(), false);
  const reasons = new Set(res.reasons.values());
  assert.ok(reasons.has('length'), 'some requests end by length');
  assert.ok(reasons.has('eos') || reasons.has('stop'), 'some requests end by eos/stop');
  for (const r of reqs) {
    const toks = res.tokens.get(r.id)!;
    assert.ok(toks.length >= 1 && toks.length <= r.params.maxTokens);
    const why = res.reasons.get(r.id);
    if (why === 'eos') assert.ok([3, 7].includes(toks.at(-1)!));
    if (why === 'stop') assert.equal(toks.at(-1), 5);
    if (why === 'length') assert.equal(toks.length, r.params.maxTokens);
  }
});

test('KV exhaustion: preemption by recompute happens and every request completes with the unconstrained tokens', () => {
  const reqs = workload(23, 24, 60, 80);
  const ref = runAll(reqs, BIG, BIG_OPTS);
  const small = runAll(reqs, { numKvBlocks: 20 }, { maxNumSeqs: 16, maxNumBatchedTokens: 128 });
  assert.ok(small.core.totalPreemptions > 0, 'the small cache must force preemptions');
  assert.equal(ref.core.totalPreemptions, 0);
  for (const r of reqs) {
    assert.equal(small.reasons.get(r.id), 'length');
    assert.deepEqual(small.tokens.get(r.id), ref.tokens.get(r.id), `tokens of ${r.id}`);
    assert.equal(small.tokens.get(r.id)!.length, r.params.maxTokens);
  }
  assert.equal(small.core.kv.numUsedBlocks, 0);
  assert.ok(small.steps.every((s) => s.kvBlocksUsed <= 20));
});

test('guaranteed-no-evict: the cache that forces preemptions by recompute runs without any, with the same tokens, sync and async', () => {
  const reqs = workload(23, 24, 60, 80);
  const ref = runAll(reqs, BIG, BIG_OPTS);
  const cache = { numKvBlocks: 20 };
  const opts: EngineCoreOptions = { maxNumSeqs: 16, maxNumBatchedTokens: 128 };
  assert.ok(runAll(reqs, cache, opts).core.totalPreemptions > 0, 'max-utilization preempts in this cache');
  for (const asyncScheduling of [false, true]) {
    const res = runAll(reqs, cache, { ...opts, asyncScheduling, capacitySchedulerPolicy: 'guaranteed-no-evict' });
    assert.equal(res.core.totalPreemptions, 0, `no preemption (async ${asyncScheduling})`);
    assert.ok(res.steps.every((st) => st.preempted === 0));
    for (const r of reqs) assert.deepEqual(res.tokens.get(r.id), ref.tokens.get(r.id), `tokens of ${r.id} (async ${asyncScheduling})`);
    assert.equal(res.core.kv.numUsedBlocks, 0);
    // What started fits whole: after every step, the running requests' whole lengths fit in the 20 blocks (ceil).
    assert.ok(res.steps.every((st) => st.kvBlocksUsed <= 20));
  }
  // A request whose whole length alone exceeds the cache is still rejected up front, not left waiting.
  const huge = runAll([{ id: 'huge', promptIds: [1, 2, 3], params: { maxTokens: 400, ignoreEos: true } }], cache, {
    ...opts,
    capacitySchedulerPolicy: 'guaranteed-no-evict',
  });
  assert.equal(huge.reasons.get('huge'), 'error');
  assert.throws(() => new EngineCore(new FakeRunner(cache), { ...opts, capacitySchedulerPolicy: 'lazy' as never }), /capacitySchedulerPolicy must be one of/);
});

test('guaranteed-no-evict admits only what fits at full length: running requests x their blocks never exceed the cache', () => {
  // 12 requests of 10 prompt + 30 output tokens: 39 KV entries = 3 blocks of 16 each; a 10-block cache holds 3 at once.
  const reqs: Req[] = Array.from({ length: 12 }, (_, i) => ({ id: `q${i}`, promptIds: Array.from({ length: 10 }, (_, j) => 1 + ((i + j) % 50)), params: { maxTokens: 30, ignoreEos: true } }));
  const res = runAll(reqs, { numKvBlocks: 10 }, { maxNumSeqs: 12, maxNumBatchedTokens: 256, capacitySchedulerPolicy: 'guaranteed-no-evict' });
  assert.equal(res.core.totalPreemptions, 0);
  assert.ok(res.steps.every((st) => st.numRunning <= 3), `at most 3 running (${Math.max(...res.steps.map((st) => st.numRunning))})`);
  assert.ok(res.steps.some((st) => st.numRunning === 3), 'and 3 do run at once');
  const mu = runAll(reqs, { numKvBlocks: 10 }, { maxNumSeqs: 12, maxNumBatchedTokens: 256 });
  assert.ok(mu.steps.some((st) => st.numRunning > 3), 'max-utilization starts more than fit at full length');
  for (const r of reqs) assert.deepEqual(res.tokens.get(r.id), mu.tokens.get(r.id));
});

test('KV exhaustion with seeded sampling (temperature > 0): same tokens as unconstrained', () => {
  const reqs = workload(29, 16, 40, 60, { temperature: 0.8, topP: 0.9 });
  reqs.forEach((r, i) => (r.params.seed = 1000 + i * 0x100000001));
  const ref = runAll(reqs, BIG, BIG_OPTS);
  const small = runAll(reqs, { numKvBlocks: 14 }, { maxNumSeqs: 8, maxNumBatchedTokens: 32 });
  assert.ok(small.core.totalPreemptions > 0);
  for (const r of reqs) assert.deepEqual(small.tokens.get(r.id), ref.tokens.get(r.id));
});

test('chunked prefill (mixed with decodes) gives the same tokens as whole prefill', () => {
  const reqs = workload(31, 20, 120, 20);
  const whole = runAll(reqs, BIG, { maxNumSeqs: 64, maxNumBatchedTokens: 4096, enableChunkedPrefill: false });
  const chunked = runAll(reqs, BIG, { maxNumSeqs: 64, maxNumBatchedTokens: 24 }, 2);
  assert.ok(whole.runner.batches.every((b) => b.numTokens <= 4096));
  for (const r of reqs) assert.deepEqual(chunked.tokens.get(r.id), whole.tokens.get(r.id));
  assert.ok(chunked.runner.batches.every((b) => b.numTokens <= 24), 'token budget respected');
  assert.ok(
    chunked.steps.some((s) => s.numPrefillTokens > 0 && s.numDecodeTokens > 0),
    'some step mixes prefill chunks with decodes',
  );
  // Decodes come first in the batch: once a multi-row (prefill) sequence appears, no 1-row decode follows it...
  // except a 1-token final prefill chunk, which is a prefill; so check the weaker property on the first row.
  const mixed = chunked.runner.batches.filter((b) => b.rowsPerSeq.some((n) => n > 1) && b.rowsPerSeq.some((n) => n === 1));
  assert.ok(mixed.length > 0);
  for (const b of mixed) assert.equal(b.rowsPerSeq[0], 1, 'a decode leads a mixed batch');
});

test('logprobs are returned only when asked, one per token', () => {
  const reqs = workload(37, 6, 20, 10, { logprobs: true });
  reqs[0].params.logprobs = false;
  const res = runAll(reqs, BIG, BIG_OPTS);
  assert.equal(res.logprobs.get('r0')!.length, 0);
  for (const r of reqs.slice(1)) {
    assert.equal(res.logprobs.get(r.id)!.length, res.tokens.get(r.id)!.length);
    assert.ok(res.logprobs.get(r.id)!.every((x) => x <= 0));
  }
});

test('maxNumSeqs is respected', () => {
  const reqs = workload(41, 30, 30, 25);
  const res = runAll(reqs, BIG, { maxNumSeqs: 4, maxNumBatchedTokens: 512 });
  assert.ok(res.runner.batches.every((b) => b.numSeqs <= 4));
  assert.ok(res.steps.every((s) => s.numRunning <= 4));
  assert.ok(res.runner.batches.some((b) => b.numSeqs === 4), 'the limit is reached');
  assert.equal(res.reasons.size, 30);
});

test('a request that can never fit finishes with an error; the others complete', () => {
  const reqs = workload(43, 5, 20, 10);
  reqs.push({ id: 'huge', promptIds: Array.from({ length: 200 }, (_, i) => (i % 50) + 1), params: { maxTokens: 4 } });
  reqs.push({ id: 'toolong', promptIds: Array.from({ length: 300 }, () => 1), params: { maxTokens: 4 } });
  const res = runAll(reqs, { numKvBlocks: 8, maxModelLen: 256 }, { maxNumSeqs: 8, maxNumBatchedTokens: 64 });
  assert.equal(res.reasons.get('huge'), 'error');
  assert.equal(res.reasons.get('toolong'), 'error');
  assert.equal(res.tokens.get('huge')!.length, 0);
  for (const r of reqs.slice(0, 5)) assert.equal(res.reasons.get(r.id), 'length');
  assert.equal(res.core.kv.numUsedBlocks, 0);
});

test('generation stops at maxModelLen with finish reason length', () => {
  const reqs: Req[] = [{ id: 'a', promptIds: Array.from({ length: 30 }, (_, i) => i + 1), params: { maxTokens: 100 } }];
  const res = runAll(reqs, { numKvBlocks: 16, maxModelLen: 40 }, { maxNumSeqs: 2, maxNumBatchedTokens: 64 });
  assert.equal(res.reasons.get('a'), 'length');
  assert.equal(res.tokens.get('a')!.length, 10);
});

test('abort frees the blocks of a running request and reports abort', () => {
  const reqs = workload(47, 4, 30, 50);
  const runner = new FakeRunner({ numKvBlocks: 64 });
  const core = new EngineCore(runner, { maxNumSeqs: 8, maxNumBatchedTokens: 256 });
  reqs.forEach((r) => core.addRequest(r));
  core.step();
  core.step();
  assert.ok(core.kv.numUsedBlocks > 0);
  core.abortRequest('r1');
  core.abortRequest('does-not-exist');
  const seen = new Map<string, string>();
  while (core.hasUnfinished()) {
    for (const o of core.step().outputs) if (o.finished) seen.set(o.id, o.finishReason!);
  }
  assert.equal(seen.get('r1'), 'abort');
  assert.equal(seen.size, 4);
  assert.equal(core.kv.numUsedBlocks, 0);
});

test('bad configuration and duplicate ids throw typed errors', () => {
  const runner = new FakeRunner({ numKvBlocks: 8, maxModelLen: 512 });
  assert.throws(() => new EngineCore(runner, { maxNumSeqs: 0, maxNumBatchedTokens: 8 }), { code: 'BAD_CONFIG' });
  assert.throws(
    () => new EngineCore(runner, { maxNumSeqs: 1, maxNumBatchedTokens: 64, enableChunkedPrefill: false }),
    { code: 'BAD_CONFIG' },
  );
  const core = new EngineCore(runner, { maxNumSeqs: 1, maxNumBatchedTokens: 64 });
  core.addRequest({ id: 'x', promptIds: [1, 2], params: { maxTokens: 2 } });
  assert.throws(() => core.addRequest({ id: 'x', promptIds: [1], params: { maxTokens: 2 } }), { code: 'DUPLICATE_REQUEST' });
  assert.throws(() => core.addRequest({ id: 'y', promptIds: [], params: { maxTokens: 2 } }), { code: 'BAD_REQUEST' });
});

test('KV placement: requests that grow together keep their blocks side by side (each reserves its expected length)', () => {
  const runner = new FakeRunner({ numKvBlocks: 256 });
  const core = new EngineCore(runner, { maxNumSeqs: 8, maxNumBatchedTokens: 256 });
  for (let i = 0; i < 4; i++) core.addRequest({ id: `s${i}`, promptIds: Array.from({ length: 20 }, (_, j) => 1 + ((i + j) % 50)), params: { maxTokens: 60, ignoreEos: true } });
  for (let k = 0; k < 40; k++) core.step();
  for (let i = 0; i < 4; i++) {
    const t = core.kv.blockTable(`s${i}`);
    assert.equal(t.length, 4, '59 tokens in the cache');
    assert.ok(t.every((b, j) => j === 0 || b === t[j - 1] + 1), `s${i}: blocks ${t.join(',')} not consecutive`);
  }
  while (core.hasUnfinished()) core.step();
  assert.deepEqual([core.kv.numUsedBlocks, core.kv.numReservedBlocks, core.kv.numFreeBlocks], [0, 0, 256]);
});

test('async scheduling: the same tokens, logprobs and finish reasons as one step at a time (EOS, stop tokens, sampling, chunked prefill, arrivals, preemption)', () => {
  const reqs = workload(53, 40, 70, 40, { ignoreEos: false, stopTokenIds: [5], logprobs: true });
  reqs.forEach((r, i) => {
    if (i % 3 === 0) Object.assign(r.params, { temperature: 0.8, topP: 0.9, seed: 7000 + i });
  });
  for (const [runner, opts, addEvery] of [
    [{ numKvBlocks: 4096, eosTokenIds: [3, 7] }, { maxNumSeqs: 256, maxNumBatchedTokens: 8192 }, 0],
    [{ numKvBlocks: 24, eosTokenIds: [3, 7] }, { maxNumSeqs: 12, maxNumBatchedTokens: 48 }, 3],
  ] as [FakeRunnerOptions, EngineCoreOptions, number][]) {
    const sync = runAll(reqs, runner, opts, addEvery);
    const asy = runAll(reqs, runner, { ...opts, asyncScheduling: true }, addEvery);
    assert.equal(asy.runner.maxInFlight, 2, 'a step is submitted while the one before it runs');
    for (const r of reqs) {
      assert.deepEqual(asy.tokens.get(r.id), sync.tokens.get(r.id), `tokens of ${r.id}`);
      assert.deepEqual(asy.logprobs.get(r.id), sync.logprobs.get(r.id), `logprobs of ${r.id}`);
      assert.equal(asy.reasons.get(r.id), sync.reasons.get(r.id), `finish reason of ${r.id}`);
    }
    const reasons = new Set(asy.reasons.values());
    assert.ok(reasons.has('length') && (reasons.has('eos') || reasons.has('stop')));
    assert.equal(asy.core.kv.numUsedBlocks, 0);
    assert.equal(asy.core.kv.numHolders, 0);
    if (runner.numKvBlocks === 24) assert.ok(asy.core.totalPreemptions > 0, 'the small cache forces preemption');
    // Rows sampled beyond the tokens returned: at most one per request that ended on EOS / a stop token.
    const rows = asy.runner.batches.reduce((a, b) => a + b.sampled, 0) - sync.runner.batches.reduce((a, b) => a + b.sampled, 0);
    const stopped = [...asy.reasons.values()].filter((w) => w === 'eos' || w === 'stop').length;
    assert.ok(rows >= 0 && rows <= stopped + asy.core.totalPreemptions, `${rows} extra rows, ${stopped} EOS / stop ends`);
  }
});

test('async scheduling with settle() between steps (the server\'s scoring interludes): the same tokens, nothing left in flight after each settle', () => {
  const reqs = workload(67, 30, 50, 40, { ignoreEos: false, stopTokenIds: [5], logprobs: true });
  const runnerOpts: FakeRunnerOptions = { numKvBlocks: 40, eosTokenIds: [3, 7] };
  const opts: EngineCoreOptions = { maxNumSeqs: 12, maxNumBatchedTokens: 64 };
  const sync = runAll(reqs, runnerOpts, opts, 2);
  const runner = new FakeRunner(runnerOpts);
  const core = new EngineCore(runner, { ...opts, asyncScheduling: true });
  const tokens = new Map<string, number[]>(reqs.map((r) => [r.id, []]));
  const logprobs = new Map<string, number[]>(reqs.map((r) => [r.id, []]));
  const reasons = new Map<string, string>();
  const take = (outs: RequestOutput[]) => {
    for (const o of outs) {
      assert.ok(!reasons.has(o.id), `output after finish for ${o.id}`);
      tokens.get(o.id)!.push(...o.newTokenIds);
      logprobs.get(o.id)!.push(...o.newLogprobs);
      if (o.finished) reasons.set(o.id, o.finishReason!);
    }
  };
  let next = 0;
  let settles = 0;
  for (let i = 0; core.hasUnfinished() || next < reqs.length; i++) {
    for (let k = 0; k < 2 && next < reqs.length; k++) core.addRequest(reqs[next++]);
    take(core.step().outputs);
    if (i % 3 === 2 && core.hasInflight) {
      take(core.settle().outputs);
      settles++;
      assert.equal(core.hasInflight, false);
      assert.throws(() => runner.finish(), /without a submitted step/, 'the model is idle after settle()');
    }
    assert.ok(i < 100000, 'hang');
  }
  assert.ok(settles > 5, `settled ${settles} times`);
  assert.equal(core.settle().outputs.length, 0, 'nothing in flight: an empty result');
  for (const r of reqs) {
    assert.deepEqual(tokens.get(r.id), sync.tokens.get(r.id), `tokens of ${r.id}`);
    assert.deepEqual(logprobs.get(r.id), sync.logprobs.get(r.id), `logprobs of ${r.id}`);
    assert.equal(reasons.get(r.id), sync.reasons.get(r.id), `finish reason of ${r.id}`);
  }
  assert.equal(core.kv.numUsedBlocks, 0);
});

test('async scheduling: requests that end by length leave no extra row', () => {
  const reqs = workload(59, 30, 40, 50);
  const sync = runAll(reqs, BIG, BIG_OPTS);
  const asy = runAll(reqs, BIG, { ...BIG_OPTS, asyncScheduling: true });
  const sampled = (r: RunResult) => r.runner.batches.reduce((a, b) => a + b.sampled, 0);
  assert.equal(sampled(asy), sampled(sync));
  for (const r of reqs) assert.deepEqual(asy.tokens.get(r.id), sync.tokens.get(r.id));
});

test('async scheduling: abort while steps are in flight, and its configuration errors', () => {
  const reqs = workload(61, 6, 30, 60);
  const runner = new FakeRunner({ numKvBlocks: 64 });
  const core = new EngineCore(runner, { maxNumSeqs: 8, maxNumBatchedTokens: 256, asyncScheduling: true });
  reqs.forEach((r) => core.addRequest(r));
  const seen = new Map<string, string>();
  const counts = new Map<string, number>();
  const take = (outs: RequestOutput[]) => {
    for (const o of outs) {
      assert.ok(!seen.has(o.id), `output after finish for ${o.id}`);
      counts.set(o.id, (counts.get(o.id) ?? 0) + o.newTokenIds.length);
      if (o.finished) seen.set(o.id, o.finishReason!);
    }
  };
  take(core.step().outputs);
  take(core.step().outputs);
  core.abortRequest('r1');
  while (core.hasUnfinished()) take(core.step().outputs);
  assert.equal(seen.get('r1'), 'abort');
  assert.equal(seen.size, 6);
  for (const r of reqs.filter((q) => q.id !== 'r1')) assert.equal(counts.get(r.id), r.params.maxTokens);
  assert.equal(core.kv.numUsedBlocks, 0);
  assert.throws(() => runner.finish(), /without a submitted step/, 'nothing left in flight');

  const plain = { ...runner, forward: runner.forward.bind(runner), submit: undefined, finish: undefined };
  assert.throws(() => new EngineCore(plain, { maxNumSeqs: 1, maxNumBatchedTokens: 64, asyncScheduling: true }), { code: 'BAD_CONFIG' });
  assert.throws(
    () => new EngineCore(runner, { maxNumSeqs: 1, maxNumBatchedTokens: 64, asyncScheduling: true, profileBlocks: true }),
    { code: 'BAD_CONFIG' },
  );
});
