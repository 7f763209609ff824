/**
 * The OpenAI-compatible server on the real engine (stories260K, CPU reference), listening on an ephemeral port:
 * concurrency through one continuous batch, disconnects that free KV blocks, 400s for malformed input, 429 on
 * overload, prompt log-probs equal to the in-process scorer, and drain on shutdown. The server survives all of it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { dataPath, LLM, missingDataMessage } from '@quantbench/engine';
import { AsyncEngine, createServer, type QbServer } from '../src/index.ts';

const model = dataPath('models/stories260K/hf');
const skip = model ? false : missingDataMessage('models/stories260K/hf');

let llm: LLM;
let ref: LLM;
let srv: QbServer;
let base = '';

before(async () => {
  if (skip) return;
  llm = await LLM.load({ model: model!, precision: 'fp16' });
  ref = await LLM.load({ model: model!, precision: 'fp16' });
  srv = createServer({ llm, engineOptions: { maxNumSeqs: 32, maxNumBatchedTokens: 1024 }, maxWaiting: 96 });
  const address = await srv.app.listen({ host: '127.0.0.1', port: 0 });
  base = address;
});

after(async () => {
  if (skip) return;
  await srv.app.close();
  llm.close();
  ref.close();
});

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Reads an SSE stream: the data payloads, in order. */
async function stream(path: string, body: unknown): Promise<string[]> {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const text = await res.text();
  return text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(base + '/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
  assert.ok(line, `metric ${name} missing`);
  return Number(line.split(' ').pop());
}

test('GET /health, /v1/models (vLLM fields + our extension) and /metrics with vLLM names', { skip }, async () => {
  assert.equal((await fetch(base + '/health')).status, 200);
  const models = (await (await fetch(base + '/v1/models')).json()) as any;
  assert.equal(models.object, 'list');
  assert.equal(models.data[0].id, llm.info.model);
  assert.equal(models.data[0].object, 'model');
  assert.equal(models.data[0].max_model_len, llm.maxModelLen);
  assert.equal(models.data[0].quantbench.vocab_size, 512);
  // the KV-cache dtype (vLLM's --kv-cache-dtype) is reported, and in the provenance clients record
  assert.equal(models.data[0].quantbench.kv_cache_dtype, 'auto');
  assert.equal(models.data[0].quantbench.provenance.kv_cache_dtype, 'auto');
  const text = await (await fetch(base + '/metrics')).text();
  for (const m of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc', 'vllm:prompt_tokens_total',
    'vllm:generation_tokens_total', 'vllm:time_to_first_token_seconds_bucket', 'vllm:time_per_output_token_seconds_bucket', 'vllm:e2e_request_latency_seconds_bucket']) {
    assert.ok(text.includes(m), `${m} in /metrics`);
  }
});

test('completions: greedy text equals in-process generate; stream SSE ends in [DONE] with usage', { skip }, async () => {
  const [want] = await ref.generate(['Once upon a time'], { maxTokens: 12, temperature: 0 });
  const r = await post('/v1/completions', { prompt: 'Once upon a time', max_tokens: 12, temperature: 0 });
  assert.equal(r.status, 200);
  assert.equal(r.json.object, 'text_completion');
  assert.equal(r.json.choices[0].text, want!.text);
  assert.deepEqual(r.json.usage, { prompt_tokens: want!.promptIds.length, completion_tokens: want!.ids.length, total_tokens: want!.promptIds.length + want!.ids.length });
  const events = await stream('/v1/completions', { prompt: 'Once upon a time', max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.equal(chunks.map((c) => c.choices[0]?.text ?? '').join(''), want!.text);
  assert.equal(chunks.at(-1).usage.completion_tokens, 12);
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
});

test('echo + logprobs + max_tokens 0 gives prompt log-probs equal to the in-process scorer (|d| <= 1e-6)', { skip }, async () => {
  const ids = ref.tokenizer.encode('The cat sat on the mat and looked at the dog.', true);
  const inproc = await ref.loglikelihoodTokens([{ context: ids.slice(0, 4), continuation: ids.slice(4) }], { tokenLogprobs: true });
  const r = await post('/v1/completions', { prompt: ids, max_tokens: 0, echo: true, logprobs: 1, temperature: 0 });
  assert.equal(r.status, 200);
  const lp = r.json.choices[0].logprobs;
  assert.equal(lp.token_logprobs.length, ids.length);
  assert.equal(lp.token_logprobs[0], null);
  assert.equal(lp.top_logprobs[0], null);
  const served = lp.token_logprobs.slice(4) as number[];
  inproc[0]!.tokenLogprobs!.forEach((v, i) => assert.ok(Math.abs(v - served[i]!) <= 1e-6, `token ${i}: ${v} vs ${served[i]}`));
  // lm-eval's is_greedy rule on top_logprobs agrees with the engine's argmax flag.
  const greedy = (lp.top_logprobs.slice(4) as Record<string, number>[]).every((t, i) => served[i] === Math.max(...Object.values(t)));
  assert.equal(greedy, inproc[0]!.isGreedy);
  assert.equal(r.json.usage.completion_tokens, 0);
});

test('--async-scheduling: concurrent generations equal the one-step-at-a-time server\'s, with prompt scoring in between (the step in flight settled first)', { skip }, async () => {
  const asyncLlm = await LLM.load({ model: model!, precision: 'fp16' });
  const s = createServer({ llm: asyncLlm, engineOptions: { maxNumSeqs: 32, maxNumBatchedTokens: 1024, asyncScheduling: true } });
  try {
    const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    const models = (await (await fetch(url + '/v1/models')).json()) as { data: { quantbench: { async_scheduling: boolean } }[] };
    assert.equal(models.data[0]!.quantbench.async_scheduling, true);
    const at = (u: string, body: unknown) =>
      fetch(u + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<any>);
    const gens = Array.from({ length: 12 }, (_, i) => ({ prompt: [1, 20 + i, 30 + 2 * i, 7], max_tokens: 24 + i, temperature: 0, ignore_eos: true }));
    const ids = ref.tokenizer.encode('The cat sat on the mat and looked at the dog.', true);
    const inproc = await ref.loglikelihoodTokens([{ context: ids.slice(0, 4), continuation: ids.slice(4) }], { tokenLogprobs: true });
    // Generations and scoring requests at once: the scoring forwards run between engine steps.
    const [asyncOut, scored] = await Promise.all([
      Promise.all(gens.map((g) => at(url, g))),
      Promise.all([0, 1, 2].map(() => at(url, { prompt: ids, max_tokens: 0, echo: true, logprobs: 1, temperature: 0 }))),
    ]);
    const syncOut = await Promise.all(gens.map((g) => at(base, g)));
    gens.forEach((g, i) => {
      assert.equal(asyncOut[i].usage.completion_tokens, g.max_tokens);
      assert.equal(asyncOut[i].choices[0].text, syncOut[i].choices[0].text, `generation ${i}`);
    });
    for (const r of scored) {
      const served = r.choices[0].logprobs.token_logprobs.slice(4) as number[];
      inproc[0]!.tokenLogprobs!.forEach((v, i) => assert.ok(Math.abs(v - served[i]!) <= 1e-6, `token ${i}: ${v} vs ${served[i]}`));
    }
    assert.equal((s.engine as AsyncEngine).core.hasInflight, false, 'idle at the end');
  } finally {
    await s.app.close();
    asyncLlm.close();
  }
});

test('64 concurrent streaming clients all complete with the requested token counts', { skip }, async () => {
  const n = 64;
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      stream('/v1/completions', { prompt: Array.from({ length: 5 + (i % 7) }, (_, j) => 3 + ((i * 13 + j) % 400)), max_tokens: 8 + (i % 5), temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
    ),
  );
  results.forEach((events, i) => {
    assert.equal(events.at(-1), '[DONE]');
    const usage = JSON.parse(events.at(-2)!).usage;
    assert.equal(usage.completion_tokens, 8 + (i % 5), `client ${i}`);
    assert.equal(usage.prompt_tokens, 5 + (i % 7));
  });
  assert.equal(await metric('vllm:num_requests_running'), 0);
  assert.equal(await metric('vllm:kv_cache_usage_perc'), 0);
});

test('a client that disconnects mid-stream is aborted and its KV blocks are freed', { skip }, async () => {
  const before = await metric('vllm:generation_tokens_total');
  await new Promise<void>((resolve, reject) => {
    const url = new URL('/v1/completions', base);
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let got = 0;
      res.on('data', () => {
        // After a few chunks, go away (the request asked for far more tokens than it will get).
        if (++got === 3) {
          req.destroy();
          resolve();
        }
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
    req.end(JSON.stringify({ prompt: [1, 20, 30, 40], max_tokens: 400, ignore_eos: true, stream: true, temperature: 0 }));
    setTimeout(() => reject(new Error('no chunks')), 20_000).unref();
  });
  for (let i = 0; i < 100 && srv.engine.numInFlight > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.engine.numInFlight, 0);
  assert.equal(await metric('vllm:kv_cache_usage_perc'), 0);
  assert.ok((await metric('vllm:generation_tokens_total')) - before < 400, 'generation stopped early');
});

test('malformed requests get 400 with OpenAI\'s error object; the server survives', { skip }, async () => {
  const bad: [string, unknown][] = [
    ['not JSON', '{bad json'],
    ['no prompt', { max_tokens: 4 }],
    ['max_tokens a string', { prompt: 'x', max_tokens: '4' }],
    ['temperature a string', { prompt: 'x', temperature: 'hot' }],
    ['negative max_tokens', { prompt: 'x', max_tokens: -1 }],
    ['stream not boolean', { prompt: 'x', stream: 'yes' }],
    ['token id out of vocabulary', { prompt: [1, 99999], max_tokens: 2 }],
    ['prompt over the context', { prompt: Array(600).fill(5), max_tokens: 2 }],
    ['n > 1', { prompt: 'x', n: 2 }],
    ['max_tokens 0 without echo', { prompt: 'x', max_tokens: 0 }],
    ['empty prompt list', { prompt: [] }],
  ];
  for (const [what, body] of bad) {
    const r = await post('/v1/completions', body);
    assert.equal(r.status, 400, what);
    assert.equal(typeof r.json.error.message, 'string', what);
    assert.equal(r.json.error.type, 'BadRequestError', what);
    assert.equal(r.json.error.code, 400, what);
  }
  const chat = await post('/v1/chat/completions', { messages: [{ role: 'robot', content: 'hi' }] });
  assert.equal(chat.status, 400);
  const wrongModel = await post('/v1/completions', { model: 'gpt-4', prompt: 'x' });
  assert.equal(wrongModel.status, 404);
  assert.equal(wrongModel.json.error.type, 'NotFoundError');
  assert.equal((await fetch(base + '/health')).status, 200);
  const ok = await post('/v1/completions', { prompt: 'Once', max_tokens: 2 });
  assert.equal(ok.status, 200);
});

test('overload: past --max-waiting new requests get 429, and all accepted ones finish', { skip }, async () => {
  // A second server (on the reference model: the two must not share a KV cache) with 2 slots and 4 waiting places.
  const small = createServer({ llm: ref, engineOptions: { maxNumSeqs: 2, maxNumBatchedTokens: 256 }, maxWaiting: 4 });
  const url = await small.app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const res = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const r = await fetch(url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: [1, 5 + i], max_tokens: 48, ignore_eos: true }) });
        return { status: r.status, json: (await r.json()) as any };
      }),
    );
    const codes = res.map((r) => r.status);
    assert.ok(codes.includes(429), `some 429s: ${codes.join(',')}`);
    assert.ok(codes.includes(200), 'some accepted');
    assert.ok(codes.every((c) => c === 200 || c === 429), `only 200/429: ${[...new Set(codes)]}`);
    for (const r of res.filter((x) => x.status === 429)) assert.equal(r.json.error.type, 'RateLimitError');
    for (const r of res.filter((x) => x.status === 200)) assert.equal(r.json.usage.completion_tokens, 48);
    assert.equal(small.engine.kvUsage(), 0);
  } finally {
    await small.drain(1000);
  }
});

test('drain: in-flight requests finish, new ones get 503, then the server closes', { skip }, async () => {
  const s2 = createServer({ llm: ref, engineOptions: { maxNumSeqs: 4, maxNumBatchedTokens: 256 } });
  const url = await s2.app.listen({ host: '127.0.0.1', port: 0 });
  const inflight = fetch(url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: [1, 9, 10], max_tokens: 40, ignore_eos: true }) });
  while (s2.engine.numInFlight === 0) await new Promise((r) => setTimeout(r, 5));
  const drained = s2.drain(30_000);
  const late = await fetch(url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x' }) }).catch(() => null);
  if (late) assert.equal(late.status, 503);
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as any).usage.completion_tokens, 40);
  await drained;
});

test('guaranteed-no-evict: concurrent requests that outgrow a small cache all complete without the preemptions max-utilization makes; /v1/models reports the policy', { skip }, async () => {
  const small = await LLM.load({ model: model!, precision: 'fp16', kvBlocks: 12 });
  try {
    for (const policy of ['max-utilization', 'guaranteed-no-evict'] as const) {
      const s = createServer({ llm: small, engineOptions: { maxNumSeqs: 8, maxNumBatchedTokens: 256, capacitySchedulerPolicy: policy } });
      try {
        const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
        const models = (await (await fetch(url + '/v1/models')).json()) as { data: { quantbench: { capacity_scheduler_policy: string } }[] };
        assert.equal(models.data[0]!.quantbench.capacity_scheduler_policy, policy);
        // 8 requests of 3 + 40 tokens (3 blocks each at their whole length) against 12 blocks.
        const rs = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            fetch(url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: [1, 9 + i, 10], max_tokens: 40, ignore_eos: true }) }),
          ),
        );
        for (const r of rs) {
          assert.equal(r.status, 200);
          assert.equal(((await r.json()) as any).usage.completion_tokens, 40);
        }
        const core = (s.engine as AsyncEngine).core;
        if (policy === 'guaranteed-no-evict') assert.equal(core.totalPreemptions, 0, 'no preemption');
        else assert.ok(core.totalPreemptions > 0, 'max-utilization preempts in this cache');
      } finally {
        await s.app.close();
      }
    }
  } finally {
    small.close();
  }
});

test('/v1/models of a server started with --kv-cache-dtype fp8 reports it (quantbench.kv_cache_dtype and its provenance)', { skip }, async () => {
  const fp8 = await LLM.load({ model: model!, precision: 'fp16', kvCacheDtype: 'fp8', kvBlocks: 64 });
  const s = createServer({ llm: fp8, engineOptions: { maxNumSeqs: 2, maxNumBatchedTokens: 256 } });
  try {
    const addr = await s.app.listen({ host: '127.0.0.1', port: 0 });
    const models = (await (await fetch(addr + '/v1/models')).json()) as { data: { quantbench: { kv_cache_dtype: string; provenance: { kv_cache_dtype: string } } }[] };
    assert.equal(models.data[0]!.quantbench.kv_cache_dtype, 'fp8');
    assert.equal(models.data[0]!.quantbench.provenance.kv_cache_dtype, 'fp8');
  } finally {
    await s.app.close();
    fp8.close();
  }
});
