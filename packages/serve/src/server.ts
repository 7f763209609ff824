/**
 * The OpenAI-compatible HTTP server over one loaded model, with vLLM's endpoints:
 *   GET  /health, /v1/models, /metrics (Prometheus, vLLM metric names)
 *   POST /v1/completions       (text, token ids or a list of either; stream as SSE ending in [DONE]; logprobs; echo —
 *                               echo + logprobs gives prompt log-probs, max_tokens 0 only them: lm-eval's
 *                               local-completions log-likelihood)
 *   POST /v1/chat/completions  (the checkpoint's chat template, or --chat-template; streaming)
 * All requests share one continuous batch (AsyncEngine). A client that disconnects is aborted and its KV blocks go
 * back to the pool; malformed input gets a 400 with OpenAI's error object; a full waiting queue a 429; a draining
 * server a 503.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Template } from '@huggingface/jinja';
import type { EngineCoreOptions, LLM, ModelInfo, Provenance, RequestParams, TextTokenizer } from '@quantbench/engine';
import { AsyncEngine, type EngineHandle, type PromptLogprobs, type TokenEvent } from './async_engine.ts';
import { decodeIds, IncrementalDetokenizer, StopChecker } from './detokenizer.ts';
import { ServeMetrics } from './metrics.ts';
import { ApiError, chatSchema, completionSchema, type ChatBody, type CompletionBody, type SamplingBody } from './protocol.ts';

/** What the server needs to know about the model (an LLM has all of it; WorkerEngine.start returns it too). */
export interface ServedModel {
  readonly tokenizer: TextTokenizer;
  readonly info: ModelInfo;
  readonly maxModelLen: number;
  readonly numKvBlocks: number;
  readonly blockSize: number;
  readonly eosTokenIds: number[];
  provenance(): Provenance;
}

export interface ServerOptions {
  /** The model; when it is an LLM and no engine is given, its batch runs on this thread. */
  llm: ServedModel | LLM;
  /** The engine running the batch (WorkerEngine: a worker thread); given the server's metrics. */
  engine?: (metrics: ServeMetrics) => EngineHandle;
  /** Name clients put in "model" (default: the model path as given, like vLLM). */
  servedModelName?: string;
  engineOptions?: Partial<EngineCoreOptions>;
  apiKey?: string;
  /** Requests that may wait for a batch slot before new ones get 429 (default 4 x max batch, at least 64). */
  maxWaiting?: number;
  /** Jinja chat template file overriding the tokenizer's. */
  chatTemplate?: string;
  logRequests?: boolean;
}

export interface QbServer {
  app: FastifyInstance;
  engine: EngineHandle;
  metrics: ServeMetrics;
  servedModelName: string;
  /** Refuse new requests (503), wait for in-flight ones (at most timeoutMs, then abort them), close. */
  drain(timeoutMs: number): Promise<void>;
}

type FinishReason = 'stop' | 'length' | 'abort' | 'error';

interface Prompt {
  ids: number[];
  text: string;
}

interface ChoiceState {
  index: number;
  prompt: Prompt;
  detok: IncrementalDetokenizer;
  stop: StopChecker;
  outIds: number[];
  outLogprobs: number[];
  text: string;
  finish: FinishReason | null;
  engineId?: string;
  promptLogprobs?: PromptLogprobs;
}

export function createServer(o: ServerOptions): QbServer {
  const llm = o.llm;
  const tok = llm.tokenizer;
  const name = o.servedModelName ?? llm.info.model;
  const engineOpts: EngineCoreOptions = { maxNumSeqs: 256, maxNumBatchedTokens: 8192, ...o.engineOptions };
  const maxWaiting = o.maxWaiting ?? Math.max(64, 4 * engineOpts.maxNumSeqs);
  let engine!: EngineHandle;
  const metrics = new ServeMetrics(name, { running: () => engine.numRunning, waiting: () => engine.numWaiting });
  if (o.engine) engine = o.engine(metrics);
  else if ('engineCore' in llm) engine = new AsyncEngine(llm, llm.engineCore(engineOpts), metrics);
  else throw new Error('createServer: give an LLM or an engine');
  const chatTemplate = o.chatTemplate ? new Template(fs.readFileSync(o.chatTemplate, 'utf8')) : null;
  const created = Math.floor(Date.now() / 1000);
  let draining = false;

  const app = Fastify({
    logger: o.logRequests ? { level: 'info' } : false,
    bodyLimit: 64 * 1024 * 1024,
    // Wrong types are errors, never coerced; unknown fields are kept (and ignored), as vLLM does.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown; code?: string }, _req, reply) => {
    if (err instanceof ApiError) return reply.code(err.status).send(err.toBody());
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    const msg = err.validation ? `invalid request: ${err.message}` : status === 500 ? `internal error: ${err.message}` : err.message;
    if (status === 500) process.stderr.write(`internal error: ${err.stack ?? err.message}\n`);
    return reply.code(status === 413 ? 400 : status).send(new ApiError(status === 413 ? 400 : status, msg).toBody());
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(new ApiError(404, `no route ${req.method} ${req.url}`).toBody()));

  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/v1/')) return;
    if (o.apiKey && req.headers.authorization !== `Bearer ${o.apiKey}`) throw new ApiError(401, 'invalid or missing API key (Authorization: Bearer KEY)');
    if (draining) throw new ApiError(503, 'the server is shutting down');
  });

  app.get('/health', async (_req, reply) => reply.code(draining ? 503 : 200).send());
  app.get('/metrics', async (_req, reply) => {
    metrics.kvUsage.set(engine.kvUsage());
    return reply.type(metrics.contentType).send(await metrics.text());
  });
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [
      {
        id: name,
        object: 'model',
        created,
        owned_by: 'quantbench',
        root: llm.info.model,
        parent: null,
        max_model_len: llm.maxModelLen,
        // Our extension: what a client needs to build exact token-id workloads and record provenance.
        quantbench: {
          provenance: llm.provenance(),
          precision: llm.info.precision,
          kv_cache_dtype: llm.info.recipe.kvCacheDtype ?? 'auto',
          vocab_size: llm.info.arch.vocabSize,
          special_token_ids: specialIds(llm),
          num_kv_blocks: llm.numKvBlocks,
          block_size: llm.blockSize,
          max_num_seqs: engineOpts.maxNumSeqs,
          max_num_batched_tokens: engineOpts.maxNumBatchedTokens,
          capacity_scheduler_policy: engineOpts.capacitySchedulerPolicy ?? 'max-utilization',
          async_scheduling: engineOpts.asyncScheduling ?? false,
        },
      },
    ],
  }));

  const checkCommon = (b: SamplingBody) => {
    if (b.model != null && b.model !== name) throw new ApiError(404, `The model \`${b.model}\` does not exist (this server serves \`${name}\`).`, 'model');
    if (b.n != null && b.n !== 1) throw new ApiError(400, 'only n=1 is supported', 'n');
    if (b.repetition_penalty != null && b.repetition_penalty !== 1) throw new ApiError(400, 'only repetition_penalty 1.0 is supported', 'repetition_penalty');
    if (b.presence_penalty || b.frequency_penalty) throw new ApiError(400, 'presence/frequency penalties are not supported (use 0)', 'presence_penalty');
    if (b.min_tokens) throw new ApiError(400, 'min_tokens is not supported', 'min_tokens');
    if (engine.numWaiting >= maxWaiting) throw new ApiError(429, `too many requests waiting (${engine.numWaiting}); retry later`);
  };

  const checkIds = (ids: number[], what: string) => {
    const V = llm.info.arch.vocabSize;
    for (const t of ids) if (t >= V) throw new ApiError(400, `${what}: token id ${t} is outside the vocabulary (size ${V})`, 'prompt');
    if (ids.length === 0) throw new ApiError(400, `${what} is empty`, 'prompt');
  };

  const maxTokensFor = (requested: number | null | undefined, promptLen: number, dflt: number | null): number => {
    const mt = requested ?? dflt ?? llm.maxModelLen - promptLen;
    if (promptLen + mt > llm.maxModelLen) {
      throw new ApiError(
        400,
        `This model's maximum context length is ${llm.maxModelLen} tokens. However, you requested ${promptLen + mt} tokens (${promptLen} in the prompt, ${mt} in the completion). Please reduce the length of the prompt or completion.`,
        'max_tokens',
      );
    }
    const peak = Math.min(promptLen + Math.max(mt, 1) - 1, llm.maxModelLen);
    if (Math.ceil(peak / llm.blockSize) > llm.numKvBlocks) {
      throw new ApiError(400, `the request needs ${Math.ceil(peak / llm.blockSize)} KV blocks but the cache holds ${llm.numKvBlocks}`, 'max_tokens');
    }
    return mt;
  };

  const params = (b: SamplingBody, maxTokens: number, logprobs: boolean): RequestParams => ({
    maxTokens,
    temperature: b.temperature ?? 1,
    topP: b.top_p ?? 1,
    ...(b.seed != null ? { seed: b.seed } : {}),
    stopTokenIds: b.stop_token_ids ?? undefined,
    ignoreEos: b.ignore_eos ?? false,
    logprobs,
  });

  /** Runs choices to completion; calls onDelta as text arrives (streaming) and resolves when all are finished. */
  const runChoices = (
    choices: ChoiceState[],
    b: SamplingBody,
    maxTokens: number,
    wantLogprobs: boolean,
    raw: ServerResponse,
    onDelta: ((c: ChoiceState, text: string, ids: number[], lps: number[]) => void) | null,
  ): Promise<void> =>
    new Promise((resolve) => {
      let open = choices.length;
      let settled = false;
      const settle = () => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      const done = (c: ChoiceState, reason: FinishReason) => {
        if (c.finish) return;
        c.finish = reason;
        if (--open === 0) settle();
      };
      raw.on('close', () => {
        if (raw.writableFinished) return;
        // The client went away: abort what is still running (frees its KV blocks).
        for (const c of choices) if (!c.finish && c.engineId) engine.abort(c.engineId);
        for (const c of choices) done(c, 'abort');
      });
      if (choices.length === 0 || maxTokens === 0) {
        for (const c of choices) done(c, 'length');
        return;
      }
      const stops = typeof b.stop === 'string' ? [b.stop] : (b.stop ?? []).filter((s) => s.length > 0);
      for (const c of choices) {
        c.engineId = engine.submit(c.prompt.ids, params(b, maxTokens, wantLogprobs), (e: TokenEvent) => {
          if (c.finish) return;
          c.outIds.push(...e.ids);
          c.outLogprobs.push(...e.logprobs);
          const piece = c.detok.push(e.ids);
          let { emit, stopped } = c.stop.add(piece);
          if (stopped && !e.finished) engine.abort(c.engineId!);
          if (e.finished || stopped) emit += stopped ? '' : c.stop.flush();
          c.text += emit;
          if (onDelta && (emit.length > 0 || e.ids.length > 0)) onDelta(c, emit, e.ids, e.logprobs);
          if (stopped) done(c, 'stop');
          else if (e.finished) done(c, e.finishReason === 'eos' || e.finishReason === 'stop' ? 'stop' : e.finishReason === 'length' ? 'length' : e.finishReason === 'abort' ? 'abort' : 'error');
          if (e.finishReason === 'error' && e.error) c.text += '';
        });
      }
    });

  const tokenStr = (id: number) => decodeIds(tok, [id], false);

  const sseHead = (reply: FastifyReply): ServerResponse => {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    raw.flushHeaders();
    return raw;
  };
  const sse = (raw: ServerResponse, obj: unknown) => {
    if (!raw.destroyed) raw.write(`data: ${JSON.stringify(obj)}\n\n`);
  };

  // ---------------------------------------------------------------- /v1/completions
  app.post('/v1/completions', { schema: { body: completionSchema } }, async (req: FastifyRequest, reply) => {
    const b = req.body as CompletionBody;
    checkCommon(b);
    if (b.suffix) throw new ApiError(400, 'suffix is not supported', 'suffix');
    const prompts = normalizePrompts(b.prompt, tok);
    prompts.forEach((p, i) => checkIds(p.ids, prompts.length > 1 ? `prompt ${i}` : 'the prompt'));
    const echo = b.echo ?? false;
    const lpK = b.logprobs ?? null;
    if (b.max_tokens === 0 && !echo) throw new ApiError(400, 'max_tokens 0 needs echo (prompt log-probs only)', 'max_tokens');
    const maxTokens = Math.max(...prompts.map((p) => maxTokensFor(b.max_tokens, p.ids.length, 16)));
    const id = `cmpl-${randomUUID().replace(/-/g, '')}`;
    const choices: ChoiceState[] = prompts.map((p, index) => ({
      index,
      prompt: p,
      detok: new IncrementalDetokenizer(tok),
      stop: new StopChecker(typeof b.stop === 'string' ? [b.stop] : (b.stop ?? []).filter((s) => s.length > 0)),
      outIds: [],
      outLogprobs: [],
      text: '',
      finish: null,
    }));
    if (echo && lpK !== null) {
      const scored = await Promise.all(choices.map((c) => engine.scorePrompt(c.prompt.ids, lpK)));
      choices.forEach((c, i) => (c.promptLogprobs = scored[i]));
    }
    const usage = () => {
      const p = choices.reduce((a, c) => a + c.prompt.ids.length, 0);
      const g = choices.reduce((a, c) => a + c.outIds.length, 0);
      return { prompt_tokens: p, total_tokens: p + g, completion_tokens: g };
    };
    const head = { id, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: name };

    if (b.stream) {
      const raw = sseHead(reply);
      if (echo) {
        for (const c of choices) {
          sse(raw, { ...head, choices: [{ index: c.index, text: c.prompt.text, logprobs: lpK !== null ? promptLogprobsObj(c, tokenStr) : null, finish_reason: null, stop_reason: null }] });
        }
      }
      await runChoices(choices, b, maxTokens, lpK !== null, raw, (c, text, ids, lps) => {
        sse(raw, {
          ...head,
          choices: [{ index: c.index, text, logprobs: lpK !== null ? genLogprobsObj(ids, lps, tokenStr, 0) : null, finish_reason: null, stop_reason: null }],
        });
      });
      if (raw.destroyed) return;
      for (const c of choices) sse(raw, { ...head, choices: [{ index: c.index, text: '', logprobs: null, finish_reason: c.finish ?? 'length', stop_reason: null }] });
      if (b.stream_options?.include_usage) sse(raw, { ...head, choices: [], usage: usage() });
      raw.end('data: [DONE]\n\n');
      return;
    }
    await runChoices(choices, b, maxTokens, lpK !== null, reply.raw, null);
    if (reply.raw.destroyed) return;
    return reply.send({
      ...head,
      choices: choices.map((c) => ({
        index: c.index,
        text: (echo ? c.prompt.text : '') + c.text,
        logprobs: lpK !== null ? mergeLogprobs(echo ? promptLogprobsObj(c, tokenStr) : null, genLogprobsObj(c.outIds, c.outLogprobs, tokenStr, 0), c.prompt.text.length) : null,
        finish_reason: c.finish ?? 'length',
        stop_reason: null,
      })),
      usage: usage(),
    });
  });

  // ---------------------------------------------------------------- /v1/chat/completions
  app.post('/v1/chat/completions', { schema: { body: chatSchema } }, async (req: FastifyRequest, reply) => {
    const b = req.body as ChatBody;
    checkCommon(b);
    const messages = b.messages.map((m) => ({
      role: m.role === 'developer' ? ('system' as const) : m.role,
      content: typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => {
        if (p.type !== 'text' || typeof p.text !== 'string') throw new ApiError(400, `content part of type "${p.type}" is not supported (text only)`, 'messages');
        return p.text;
      }).join('\n'),
    }));
    let text: string;
    try {
      text = chatTemplate
        ? chatTemplate.render({ messages, add_generation_prompt: true, bos_token: tok.bosTokenId !== null ? tok.decode([tok.bosTokenId], false) : '', eos_token: tok.eosTokenIds.length ? tok.decode([tok.eosTokenIds[0]!], false) : '' })
        : tok.applyChatTemplate(messages, true);
    } catch (e) {
      throw new ApiError(400, `cannot apply the chat template: ${(e as Error).message} (start the server with --chat-template FILE)`, 'messages');
    }
    const ids = tok.encode(text, false);
    checkIds(ids, 'the chat prompt');
    const maxTokens = maxTokensFor(b.max_completion_tokens ?? b.max_tokens, ids.length, null);
    if (maxTokens === 0) throw new ApiError(400, 'max_completion_tokens must be at least 1', 'max_completion_tokens');
    const wantLp = b.logprobs ?? false;
    const c: ChoiceState = { index: 0, prompt: { ids, text }, detok: new IncrementalDetokenizer(tok), stop: new StopChecker(typeof b.stop === 'string' ? [b.stop] : (b.stop ?? []).filter((s) => s.length > 0)), outIds: [], outLogprobs: [], text: '', finish: null };
    const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
    const head = { id, created: Math.floor(Date.now() / 1000), model: name };
    const usage = () => ({ prompt_tokens: ids.length, total_tokens: ids.length + c.outIds.length, completion_tokens: c.outIds.length });
    const chatLp = (tids: number[], lps: number[]) => ({ content: tids.map((t, i) => ({ token: tokenStr(t), logprob: lps[i] ?? null, bytes: [...Buffer.from(tokenStr(t), 'utf8')], top_logprobs: [] })) });
    if (b.stream) {
      const raw = sseHead(reply);
      let first = true;
      await runChoices([c], b, maxTokens, wantLp, raw, (_c, delta, tids, lps) => {
        if (first) {
          sse(raw, { ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
          first = false;
        }
        sse(raw, { ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: delta }, logprobs: wantLp ? chatLp(tids, lps) : null, finish_reason: null }] });
      });
      if (raw.destroyed) return;
      sse(raw, { ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: c.finish ?? 'length', stop_reason: null }] });
      if (b.stream_options?.include_usage) sse(raw, { ...head, object: 'chat.completion.chunk', choices: [], usage: usage() });
      raw.end('data: [DONE]\n\n');
      return;
    }
    await runChoices([c], b, maxTokens, wantLp, reply.raw, null);
    if (reply.raw.destroyed) return;
    return reply.send({
      ...head,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: c.text }, logprobs: wantLp ? chatLp(c.outIds, c.outLogprobs) : null, finish_reason: c.finish ?? 'length', stop_reason: null }],
      usage: usage(),
    });
  });

  const drain = async (timeoutMs: number) => {
    draining = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((r) => (timer = setTimeout(() => {
      engine.abortAll();
      r();
    }, timeoutMs)));
    await Promise.race([engine.idle(), timedOut]);
    clearTimeout(timer);
    await app.close();
  };

  return { app, engine, metrics, servedModelName: name, drain };
}

/** The ids a random benchmark prompt must avoid, exactly as the in-process bench picks them (engine_driver.ts). */
function specialIds(llm: ServedModel): number[] {
  const s = new Set<number>(llm.eosTokenIds);
  if (llm.info.arch.bosTokenId !== null) s.add(llm.info.arch.bosTokenId);
  return [...s];
}

/** Text prompts get BOS as vLLM's completions do (add_special_tokens); token-id prompts are taken as they are. */
function normalizePrompts(p: CompletionBody['prompt'], tok: TextTokenizer): Prompt[] {
  if (typeof p === 'string') return [{ ids: tok.encode(p, true), text: p }];
  if (p.length > 0 && typeof p[0] === 'number') {
    const ids = p as number[];
    return [{ ids, text: decodeIds(tok, ids, false) }];
  }
  return (p as (string | number[])[]).map((x) =>
    typeof x === 'string' ? { ids: tok.encode(x, true), text: x } : { ids: x, text: decodeIds(tok, x, false) },
  );
}

interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/** Prompt tokens with their log-probs; the first token has none (null), as in vLLM. */
function promptLogprobsObj(c: ChoiceState, tokenStr: (id: number) => string): CompletionLogprobs {
  const pl = c.promptLogprobs!;
  const tokens = c.prompt.ids.map(tokenStr);
  const top = pl.top.map((t, i) => {
    if (t === null) return null;
    // The actual token first, then the top-k: when they collide, the top-k value wins (max stays the argmax's).
    const d: Record<string, number> = { [tokens[i]!]: pl.logprobs[i]! };
    for (const [id, lp] of t) d[tokenStr(id)] = lp;
    return d;
  });
  return { tokens, token_logprobs: pl.logprobs, top_logprobs: top, text_offset: offsets(tokens, 0) };
}

function genLogprobsObj(ids: number[], lps: number[], tokenStr: (id: number) => string, start: number): CompletionLogprobs {
  const tokens = ids.map(tokenStr);
  return {
    tokens,
    token_logprobs: ids.map((_, i) => lps[i] ?? null),
    // Only the chosen token's log-prob is known for generated tokens (it is the top-1 under greedy decoding).
    top_logprobs: ids.map((_, i) => ({ [tokens[i]!]: lps[i]! })),
    text_offset: offsets(tokens, start),
  };
}

function offsets(tokens: string[], start: number): number[] {
  const out: number[] = [];
  let o = start;
  for (const t of tokens) {
    out.push(o);
    o += t.length;
  }
  return out;
}

function mergeLogprobs(a: CompletionLogprobs | null, b: CompletionLogprobs, shift: number): CompletionLogprobs {
  if (!a) return b;
  return {
    tokens: [...a.tokens, ...b.tokens],
    token_logprobs: [...a.token_logprobs, ...b.token_logprobs],
    top_logprobs: [...a.top_logprobs, ...b.top_logprobs],
    text_offset: [...a.text_offset, ...b.text_offset.map((x) => x + shift)],
  };
}
