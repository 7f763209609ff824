/**
 * Our server answers the requests vLLM's `vllm bench serve` (openai, openai-chat backends) and lm-eval's
 * local-completions send, with the response fields those clients read (fixtures/client_requests.ts cites the source
 * files each shape is written from).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { dataPath, LLM, missingDataMessage } from '@quantbench/engine';
import { createServer, type QbServer } from '../src/index.ts';
import { LM_EVAL_GENERATE, LM_EVAL_LOGLIKELIHOOD, LM_EVAL_LOGLIKELIHOOD_BATCH, VLLM_BENCH_OPENAI, VLLM_BENCH_OPENAI_CHAT } from './fixtures/client_requests.ts';

const model = dataPath('models/stories260K/hf');
const skip = model ? false : missingDataMessage('models/stories260K/hf');
const here = path.dirname(fileURLToPath(import.meta.url));

let llm: LLM;
let srv: QbServer;
let base = '';

before(async () => {
  if (skip) return;
  llm = await LLM.load({ model: model!, precision: 'fp16' });
  srv = createServer({ llm, engineOptions: { maxNumSeqs: 8, maxNumBatchedTokens: 512 }, chatTemplate: path.join(here, 'fixtures/chat_template.jinja') });
  base = await srv.app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  if (skip) return;
  await srv.app.close();
  llm.close();
});

const post = (p: string, body: unknown) => fetch(base + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** vLLM's StreamedResponseHandler + the request function's parsing, in short. */
async function vllmStyleStream(res: Response, chat: boolean): Promise<{ ttftSeen: boolean; chunks: number; text: string; outputTokens: number | null; done: boolean }> {
  assert.equal(res.status, 200);
  const body = await res.text();
  let chunks = 0, text = '', outputTokens: number | null = null, done = false;
  for (const message of body.split('\n\n').map((m) => m.trim()).filter(Boolean)) {
    assert.ok(message.startsWith('data: '), `SSE data line: ${message.slice(0, 40)}`);
    const chunk = message.slice('data: '.length);
    if (chunk === '[DONE]') {
      done = true;
      continue;
    }
    const data = JSON.parse(chunk);
    if (data.choices && data.choices.length > 0) {
      chunks++;
      text += (chat ? data.choices[0].delta.content : data.choices[0].text) ?? '';
    } else if (data.usage) outputTokens = data.usage.completion_tokens;
  }
  return { ttftSeen: chunks > 0, chunks, text, outputTokens, done };
}

test('vllm bench serve --backend openai: streamed completion with usage (token-id and text prompts)', { skip }, async () => {
  for (const prompt of [[1, 40, 41, 42, 43], 'Once upon a time']) {
    const r = await vllmStyleStream(await post('/v1/completions', VLLM_BENCH_OPENAI(llm.info.model, prompt, 16)), false);
    assert.ok(r.ttftSeen);
    assert.ok(r.done);
    assert.equal(r.outputTokens, 16);
    assert.ok(r.chunks >= 16);
  }
});

test('vllm bench serve --backend openai-chat: content parts, max_completion_tokens, delta.content stream, usage', { skip }, async () => {
  const r = await vllmStyleStream(await post('/v1/chat/completions', VLLM_BENCH_OPENAI_CHAT(llm.info.model, 'Tell me a story.', 12)), true);
  assert.ok(r.ttftSeen);
  assert.ok(r.done);
  assert.equal(r.outputTokens, 12);
  // Non-streaming chat: OpenAI's chat.completion object.
  const res = await post('/v1/chat/completions', { model: llm.info.model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, temperature: 0, ignore_eos: true });
  const j = (await res.json()) as any;
  assert.equal(j.object, 'chat.completion');
  assert.equal(j.choices[0].message.role, 'assistant');
  assert.equal(typeof j.choices[0].message.content, 'string');
  assert.equal(j.usage.completion_tokens, 5);
});

test("lm-eval local-completions log-likelihood: echo + logprobs, parse_logprobs' [ctxlen:-1] slice and is_greedy", { skip }, async () => {
  const ctx = llm.tokenizer.encode('Lily went to the park', false);
  const cont = llm.tokenizer.encode(' and played', false).slice(0);
  const whole = llm.tokenizer.encode('Lily went to the park and played', false);
  const ctxlen = whole.length - cont.length;
  const res = await post('/v1/completions', LM_EVAL_LOGLIKELIHOOD(llm.info.model, whole));
  assert.equal(res.status, 200);
  const out = (await res.json()) as any;
  const choice = out.choices.sort((a: any, b: any) => a.index - b.index)[0];
  // The prompt tokens plus the one generated token (max_tokens 1): lm-eval drops that with [ctxlen:-1].
  assert.equal(choice.logprobs.token_logprobs.length, whole.length + 1);
  const tl = choice.logprobs.token_logprobs.slice(ctxlen, -1) as number[];
  const top = choice.logprobs.top_logprobs.slice(ctxlen, -1) as Record<string, number>[];
  const served = tl.reduce((a, b) => a + b, 0);
  const [want] = await llm.loglikelihoodTokens([{ context: whole.slice(0, ctxlen), continuation: whole.slice(ctxlen) }]);
  assert.ok(Math.abs(served - want!.logprob) <= 1e-6, `${served} vs ${want!.logprob}`);
  const isGreedy = tl.every((t, i) => t === Math.max(...Object.values(top[i]!)));
  assert.equal(isGreedy, want!.isGreedy);
  assert.ok(ctx.length > 0);
  // Batched prompts (a list of token lists): one choice per prompt, by index.
  const batch = (await (await post('/v1/completions', LM_EVAL_LOGLIKELIHOOD_BATCH(llm.info.model, [whole, whole.slice(0, -1)]))).json()) as any;
  assert.deepEqual(batch.choices.map((c: any) => c.index).sort(), [0, 1]);
  assert.equal(batch.choices.find((c: any) => c.index === 1).logprobs.token_logprobs.length, whole.length);
});

test('lm-eval local-completions generate-until: stop strings cut the text; choices[i].text by index', { skip }, async () => {
  const res = await post('/v1/completions', LM_EVAL_GENERATE(llm.info.model, 'Once upon a time', ['.'], 64));
  assert.equal(res.status, 200);
  const out = (await res.json()) as any;
  const [ref] = await llm.generate(['Once upon a time'], { maxTokens: 64, temperature: 0, stop: ['.'] });
  assert.equal(out.choices[0].index, 0);
  assert.equal(out.choices[0].text, ref!.text);
  assert.ok(!out.choices[0].text.includes('.'));
  assert.equal(out.choices[0].finish_reason, ref!.finishReason === 'stop' ? 'stop' : out.choices[0].finish_reason);
});
