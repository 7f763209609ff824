/**
 * EngineCore driving the real native CPU model (synthetic:tiny): recompute preemption and chunked prefill must not
 * change greedy tokens. Skips when the native addon is not built.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { ADDON_PATH, type NativeBatch } from '@quantbench/native';
import { LLM } from '../src/llm.ts';
import type { EngineCoreOptions, RequestParams } from '../src/scheduler/index.ts';
import { rng } from './scheduler_fake_runner.ts';

const skip = fs.existsSync(ADDON_PATH) ? false : `skipped: native addon not built (${ADDON_PATH}); run pnpm build`;

interface Req {
  id: string;
  promptIds: number[];
  params: RequestParams;
}

function workload(seed: number, n: number, maxPrompt: number, maxOut: number): Req[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `q${i}`,
    promptIds: Array.from({ length: 4 + Math.floor(r() * maxPrompt) }, () => 3 + Math.floor(r() * 500)),
    params: { maxTokens: 2 + Math.floor(r() * maxOut), ignoreEos: true, logprobs: true },
  }));
}

function run(llm: LLM, reqs: Req[], opts: EngineCoreOptions) {
  const core = llm.engineCore(opts);
  reqs.forEach((q) => core.addRequest(q));
  const toks = new Map<string, number[]>(reqs.map((q) => [q.id, []]));
  const lps = new Map<string, number[]>(reqs.map((q) => [q.id, []]));
  const reasons = new Map<string, string>();
  let mixed = 0;
  while (core.hasUnfinished()) {
    const { outputs, stats } = core.step();
    if (stats.numPrefillTokens > 0 && stats.numDecodeTokens > 0) mixed++;
    for (const o of outputs) {
      toks.get(o.id)!.push(...o.newTokenIds);
      lps.get(o.id)!.push(...o.newLogprobs);
      if (o.finished) reasons.set(o.id, o.finishReason!);
    }
  }
  return { toks, lps, reasons, core, mixed };
}

test('real CPU model: KV exhaustion preempts and reproduces the unconstrained greedy tokens', { skip }, async () => {
  const big = await LLM.load({ model: 'synthetic:tiny', precision: 'fp32', device: 'cpu', kvBlocks: 256 });
  const small = await LLM.load({ model: 'synthetic:tiny', precision: 'fp32', device: 'cpu', kvBlocks: 12 });
  try {
    const reqs = workload(5, 8, 40, 24);
    const ref = run(big, reqs, { maxNumSeqs: 16, maxNumBatchedTokens: 1024 });
    const con = run(small, reqs, { maxNumSeqs: 8, maxNumBatchedTokens: 64 });
    assert.equal(ref.core.totalPreemptions, 0);
    assert.ok(con.core.totalPreemptions > 0, 'the 12-block cache forces preemption');
    for (const q of reqs) {
      assert.equal(con.reasons.get(q.id), 'length');
      assert.deepEqual(con.toks.get(q.id), ref.toks.get(q.id), `tokens of ${q.id}`);
      assert.equal(con.toks.get(q.id)!.length, q.params.maxTokens);
    }
    assert.equal(con.core.kv.numUsedBlocks, 0);
  } finally {
    big.close();
    small.close();
  }
});

test('real CPU model: chunked prefill mixed with decodes gives the same greedy tokens as whole prefill', { skip }, async () => {
  const llm = await LLM.load({ model: 'synthetic:tiny', precision: 'fp16', device: 'cpu', kvBlocks: 256 });
  try {
    const reqs = workload(9, 6, 60, 12);
    const whole = run(llm, reqs, { maxNumSeqs: 8, maxNumBatchedTokens: llm.maxModelLen, enableChunkedPrefill: false });
    const chunked = run(llm, reqs, { maxNumSeqs: 8, maxNumBatchedTokens: 20 });
    assert.ok(chunked.mixed > 0, 'some steps mix prefill chunks and decodes');
    for (const q of reqs) {
      assert.deepEqual(chunked.toks.get(q.id), whole.toks.get(q.id), `tokens of ${q.id}`);
      const a = chunked.lps.get(q.id)!;
      const b = whole.lps.get(q.id)!;
      assert.equal(a.length, b.length);
      a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-3, `logprob ${i} of ${q.id}: ${x} vs ${b[i]}`));
    }
  } finally {
    llm.close();
  }
});

test('real CPU model: async scheduling (native submit / finish, decode inputs from the step before) gives the same tokens and log-probs', { skip }, async () => {
  const llm = await LLM.load({ model: 'synthetic:tiny', precision: 'fp16', device: 'cpu', kvBlocks: 12 });
  try {
    const reqs = workload(5, 8, 40, 24);
    reqs.forEach((q, i) => {
      if (i % 2) Object.assign(q.params, { temperature: 0.9, seed: 4000 + i });
    });
    const opts: EngineCoreOptions = { maxNumSeqs: 8, maxNumBatchedTokens: 64 };
    const sync = run(llm, reqs, opts);
    const asy = run(llm, reqs, { ...opts, asyncScheduling: true });
    assert.ok(asy.core.totalPreemptions > 0, 'the 12-block cache forces preemption');
    assert.ok(asy.mixed > 0, 'some steps mix prefill chunks and decodes');
    for (const q of reqs) {
      assert.deepEqual(asy.toks.get(q.id), sync.toks.get(q.id), `tokens of ${q.id}`);
      assert.deepEqual(asy.lps.get(q.id), sync.lps.get(q.id), `log-probs of ${q.id}`);
      assert.equal(asy.reasons.get(q.id), 'length');
    }
    assert.equal(asy.core.kv.numUsedBlocks, 0);
    // The native side holds nothing in flight afterwards: a synchronous step works.
    assert.equal(run(llm, reqs.slice(0, 1), opts).toks.get('q0')!.length, reqs[0].params.maxTokens);
  } finally {
    llm.close();
  }
});

test('native submit / finish: tokenSources read the previous step\'s samples; misuse fails with typed errors', { skip }, async () => {
  const llm = await LLM.load({ model: 'synthetic:tiny', precision: 'fp16', device: 'cpu', kvBlocks: 16 });
  try {
    const step = (tokens: number[], pos0: number, sources?: number[]): NativeBatch => ({
      tokens: Int32Array.from(tokens),
      positions: Int32Array.from(tokens.map((_, i) => pos0 + i)),
      seqStarts: Int32Array.from([0, tokens.length]),
      contextLens: Int32Array.from([pos0 + tokens.length]),
      blockTables: Int32Array.from([0]),
      maxBlocksPerSeq: 1,
      sampleRows: Int32Array.from([tokens.length - 1]),
      temperature: Float32Array.from([0]),
      topP: Float32Array.from([1]),
      seeds: Uint32Array.from([0, 0, pos0 + tokens.length]),
      ...(sources ? { tokenSources: Int32Array.from(sources) } : {}),
    });
    assert.throws(() => llm.finish(), { code: 'BAD_STATE' });
    // Reference: prefill, then a decode of the sampled token given explicitly.
    const a = llm.forward(step([5, 6, 7], 0)).sampled[0];
    const b = llm.forward(step([a], 3)).sampled[0];
    // The same two steps in flight together, the decode's input read from the prefill's sample.
    llm.submit(step([5, 6, 7], 0));
    llm.submit(step([0], 3, [0]));
    assert.throws(() => llm.submit(step([0], 4, [0])), { code: 'BAD_STATE' }, 'at most two steps in flight');
    assert.throws(() => llm.forward(step([1], 4)), { code: 'BAD_STATE' }, 'forward() while steps are in flight');
    assert.equal(llm.finish().sampled[0], a);
    assert.equal(llm.finish().sampled[0], b);
    assert.throws(() => llm.submit(step([0], 4, [1])), { code: 'BAD_BATCH' }, 'source past the previous step\'s one sample');
    assert.throws(() => llm.submit(step([0, 0], 4, [0])), { code: 'BAD_BATCH' }, 'one source per token');
  } finally {
    llm.close();
  }
});
