/**
 * The CLI's default engine: the batch on a worker thread (WorkerEngine). The same guarantees as on the main thread:
 * concurrent streams complete with their token counts, a disconnect frees its KV blocks (/metrics back to 0),
 * prompt log-probs equal the in-process scorer, and close() ends the thread.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { dataPath, LLM, missingDataMessage } from '@quantbench/engine';
import { createServer, WorkerEngine, type QbServer } from '../src/index.ts';

const model = dataPath('models/stories260K/hf');
const skip = model ? false : missingDataMessage('models/stories260K/hf');
let srv: QbServer;
let we: WorkerEngine;
let base = '';

before(async () => {
  if (skip) return;
  const engineOptions = { maxNumSeqs: 16, maxNumBatchedTokens: 512 };
  const w = await WorkerEngine.start({ model: model!, precision: 'fp16' }, engineOptions);
  we = w.engine;
  srv = createServer({ llm: w.model, engine: (m) => w.engine.bind(m), engineOptions });
  base = await srv.app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  if (skip) return;
  await srv.drain(5000);
  await we.close();
});

const kvUsage = async () => Number(/^vllm:kv_cache_usage_perc\{[^}]*\} (\S+)$/m.exec(await (await fetch(base + '/metrics')).text())![1]);

test('worker engine: 64 concurrent streams complete with their token counts; KV usage back to 0', { skip }, async () => {
  const res = await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      const r = await fetch(base + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: [1, 10 + i, 20 + i], max_tokens: 6 + (i % 4), ignore_eos: true, stream: true, stream_options: { include_usage: true } }) });
      const events = (await r.text()).split('\n\n').filter(Boolean);
      return { last: events.at(-1), usage: JSON.parse(events.at(-2)!.slice(6)).usage };
    }),
  );
  res.forEach((r, i) => {
    assert.equal(r.last, 'data: [DONE]');
    assert.equal(r.usage.completion_tokens, 6 + (i % 4));
  });
  assert.equal(await kvUsage(), 0);
});

test('worker engine: a disconnect aborts the request and frees its blocks', { skip }, async () => {
  await new Promise<void>((resolve) => {
    const req = http.request(new URL('/v1/completions', base), { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
    req.end(JSON.stringify({ prompt: [1, 30, 31], max_tokens: 400, ignore_eos: true, stream: true }));
  });
  for (let i = 0; i < 200 && (we.numInFlight > 0 || (await kvUsage()) > 0); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(we.numInFlight, 0);
  assert.equal(await kvUsage(), 0);
});

test('worker engine: prompt log-probs equal the in-process scorer', { skip }, async () => {
  const ref = await LLM.load({ model: model!, precision: 'fp16' });
  try {
    const ids = ref.tokenizer.encode('The little dog ran to the park.', true);
    const [want] = await ref.loglikelihoodTokens([{ context: ids.slice(0, 2), continuation: ids.slice(2) }], { tokenLogprobs: true });
    const r = (await (await fetch(base + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: ids, max_tokens: 0, echo: true, logprobs: 1 }) })).json()) as any;
    const got = r.choices[0].logprobs.token_logprobs.slice(2) as number[];
    want!.tokenLogprobs!.forEach((v, i) => assert.ok(Math.abs(v - got[i]!) <= 1e-6));
  } finally {
    ref.close();
  }
});
