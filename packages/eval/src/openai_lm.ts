/**
 * `pnpm eval TASK --model local-completions --base-url URL`: lm-eval's local-completions model
 * (lm_eval/models/openai_completions.py, LocalCompletionsAPI) against any OpenAI-compatible server.
 *   log-likelihood: the context and continuation are tokenized here with the served model's tokenizer (the same
 *     split as in-process: encodeContinuationPair), left-truncated to the server's context, and sent as token ids
 *     with lm-eval's payload {prompt, temperature: 0, max_tokens: 1, logprobs: 1, seed, echo: true}; the answer's
 *     prompt log-probs over the continuation are summed, and is_greedy is "each token's log-prob is the max of its
 *     top_logprobs" (lm-eval's parse_logprobs).
 *   generate-until: {prompt: text, max_tokens, temperature: 0, stop: until, seed}, cut at the first stop string.
 * Requests run with bounded concurrency; 429, 5xx and connection errors are retried with exponential backoff.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeContinuationPair, loadTokenizer, type ModelInfo, type Precision, type Provenance, type TextTokenizer } from '@quantbench/engine';
import { cutAtStop, type GenerateRequest, type LoglikelihoodRequest, type LoglikelihoodResponse } from '@quantbench/lm-eval-ts-shim';
import type { EvalModel, TokenLogprobs } from './engine_lm.ts';
import { EvalError } from './errors.ts';

export interface OpenAILMOptions {
  baseUrl: string;
  /** The label this server's results go under (a precision name: fp16 is the reference for recovery). */
  label: Precision;
  /** Served model name (default: the server's first /v1/models entry). */
  model?: string;
  /** Tokenizer directory (default: the served model name when it is a local directory). */
  tokenizer?: string;
  numConcurrent?: number;
  maxRetries?: number;
  apiKey?: string;
  /** lm-eval's seed field. */
  seed?: number;
  log?: (m: string) => void;
}

interface ServedModel {
  id: string;
  maxModelLen?: number;
  quantbench?: { provenance: Provenance; precision: string };
}

export class RemoteHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** POST/GET JSON with retries on 429, 5xx and network errors (0.5 s, 1 s, 2 s, ... backoff). */
export async function requestJson(url: string, body: unknown | null, o: { apiKey?: string; maxRetries: number; log?: (m: string) => void }): Promise<unknown> {
  for (let attempt = 0; ; attempt++) {
    let status = 0;
    let text = '';
    try {
      const res = await fetch(url, {
        method: body === null ? 'GET' : 'POST',
        headers: { 'content-type': 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
        ...(body === null ? {} : { body: JSON.stringify(body) }),
      });
      status = res.status;
      text = await res.text();
      if (res.ok) return JSON.parse(text);
    } catch (e) {
      text = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
    }
    const retriable = status === 0 || status === 429 || status >= 500;
    let msg = text;
    try {
      msg = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
    } catch {
      /* not JSON */
    }
    if (!retriable || attempt >= o.maxRetries) {
      throw new RemoteHttpError(status, `${url}: ${status ? `HTTP ${status}` : 'no connection'}: ${msg.slice(0, 400)}${retriable ? ` (after ${attempt + 1} attempts)` : ''}`);
    }
    const wait = Math.min(30_000, 500 * 2 ** attempt);
    o.log?.(`  ${url}: ${status ? `HTTP ${status}` : msg}; retry ${attempt + 1}/${o.maxRetries} in ${wait} ms`);
    await sleep(wait);
  }
}

/** Runs f over items with at most n in flight; results in input order. */
async function pool<T, R>(items: T[], n: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

interface CompletionChoice {
  index?: number;
  text?: string;
  logprobs?: { token_logprobs?: (number | null)[]; top_logprobs?: (Record<string, number> | null)[] } | null;
}

export class OpenAICompletionsLM implements EvalModel {
  readonly info: EvalModel['info'];
  readonly cacheTag: string;
  private constructor(
    private readonly o: OpenAILMOptions & { numConcurrent: number; maxRetries: number },
    private readonly served: ServedModel,
    /** The served model's tokenizer (lm-eval's local-completions renders chat templates with it, client-side). */
    readonly tok: TextTokenizer,
    private readonly maxLength: number,
  ) {
    const qb = served.quantbench?.provenance;
    this.info = { model: served.id, precision: o.label, device: qb?.deviceKind ?? 'cuda', weights: qb?.weights ?? 'real' } satisfies Partial<ModelInfo>;
    // The request cache is keyed by the served model (and the label, as the precision), never shared with in-process runs.
    this.cacheTag = `openai:${served.id}`;
  }

  static async connect(opts: OpenAILMOptions): Promise<OpenAICompletionsLM> {
    const o = { numConcurrent: 8, maxRetries: 5, ...opts, baseUrl: opts.baseUrl.replace(/\/v1\/?(completions)?\/?$/, '').replace(/\/$/, '') };
    const body = (await requestJson(`${o.baseUrl}/v1/models`, null, { apiKey: o.apiKey, maxRetries: o.maxRetries, log: o.log })) as { data?: ServedModel & { max_model_len?: number }[] };
    const models = (body.data ?? []) as (ServedModel & { max_model_len?: number })[];
    const m = o.model ? models.find((x) => x.id === o.model) : models[0];
    if (!m) throw new EvalError('BAD_ARGS', `${o.baseUrl} does not serve ${o.model ? `"${o.model}"` : 'any model'} (it serves: ${models.map((x) => x.id).join(', ') || 'nothing'})`);
    const tokDir = o.tokenizer ?? (fs.existsSync(path.join(m.id, 'tokenizer.json')) ? m.id : null);
    if (!tokDir) throw new EvalError('BAD_ARGS', `local-completions tokenizes here: pass --tokenizer DIR (the tokenizer of "${m.id}")`);
    const tok = loadTokenizer(tokDir);
    // lm-eval's default max_length is 2048; a server that states its context caps it (one position for max_tokens 1).
    const maxLength = m.max_model_len ? Math.min(2048, m.max_model_len - 1) : 2048;
    return new OpenAICompletionsLM(o, { id: m.id, maxModelLen: m.max_model_len, quantbench: m.quantbench }, tok, maxLength);
  }

  provenance(): Provenance {
    const base: Provenance = this.served.quantbench?.provenance ?? {
      device: `unknown (OpenAI-compatible server at ${this.o.baseUrl})`,
      deviceKind: 'cuda',
      commit: 'unknown',
      model: this.served.id,
      weights: 'real',
      recipe: { precision: this.o.label, actDtype: 'fp16', weights: `as served by ${this.o.baseUrl}`, activations: `as served by ${this.o.baseUrl}`, source: 'checkpoint' },
      date: '',
      node: 'unknown',
      host: 'unknown',
    };
    return { ...base, date: new Date().toISOString(), backend: 'openai', baseUrl: this.o.baseUrl, servedModel: this.served.id, label: this.o.label };
  }

  private prefixTokenId(): number {
    const id = this.tok.bosTokenId ?? this.tok.eosTokenIds[0];
    if (id === undefined) throw new EvalError('BAD_ARGS', 'the tokenizer has neither BOS nor EOS to use as a prefix token');
    return id;
  }

  private post(body: Record<string, unknown>): Promise<{ choices?: CompletionChoice[] }> {
    return requestJson(`${this.o.baseUrl}/v1/completions`, { model: this.served.id, ...body }, { apiKey: this.o.apiKey, maxRetries: this.o.maxRetries, log: this.o.log }) as Promise<{ choices?: CompletionChoice[] }>;
  }

  async loglikelihood(requests: LoglikelihoodRequest[]): Promise<LoglikelihoodResponse[]> {
    const prefix = this.prefixTokenId();
    return pool(requests, this.o.numConcurrent, async (r) => {
      const { ctx, cont } = encodeContinuationPair(this.tok, prefix, r.context, r.continuation);
      if (cont.length === 0) throw new EvalError('MISMATCH', `the continuation ${JSON.stringify(r.continuation)} encodes to no tokens`);
      const all = [...ctx, ...cont];
      const inputs = all.slice(-this.maxLength);
      const ctxlen = ctx.length - Math.max(0, all.length - this.maxLength);
      if (ctxlen < 1) throw new EvalError('MISMATCH', `a continuation of ${cont.length} tokens leaves no context within ${this.maxLength} tokens`);
      const res = await this.post({ prompt: inputs, temperature: 0, max_tokens: 1, logprobs: 1, seed: this.o.seed ?? 1234, echo: true });
      const lp = res.choices?.[0]?.logprobs;
      const tl = lp?.token_logprobs;
      const top = lp?.top_logprobs;
      if (!tl || !top || tl.length < inputs.length) {
        throw new EvalError(
          'MISMATCH',
          `${this.o.baseUrl} returned no prompt log-probs (echo + logprobs): it cannot score log-likelihood tasks (multiple choice). ` +
            'Use a server that supports them (vLLM, pnpm serve) or only generate-until tasks (gsm8k).',
        );
      }
      const tokLps = tl.slice(ctxlen, ctxlen + cont.length) as number[];
      const tops = top.slice(ctxlen, ctxlen + cont.length);
      let logprob = 0;
      for (const x of tokLps) logprob += x;
      let isGreedy = true;
      for (let i = 0; i < tokLps.length; i++) {
        const t = tops[i];
        if (!t || tokLps[i] !== Math.max(...Object.values(t))) {
          isGreedy = false;
          break;
        }
      }
      return { logprob, isGreedy };
    });
  }

  async generateUntil(requests: GenerateRequest[]): Promise<string[]> {
    return pool(requests, this.o.numConcurrent, async (r) => {
      // As in-process (engine_lm.ts): at most context - 2 new tokens, the context left-truncated to leave room for
      // them and the BOS the server adds to a text prompt.
      const ctxLen = this.served.maxModelLen ?? this.maxLength;
      const maxTokens = Math.max(1, Math.min(r.maxGenToks, ctxLen - 2));
      const budget = ctxLen - maxTokens - 1;
      let prompt = r.context;
      let ids = this.tok.encode(prompt, false);
      if (budget > 0 && ids.length > budget) {
        ids = ids.slice(ids.length - budget);
        prompt = this.tok.decode(ids, false);
      }
      // A chat-rendered context holds BOS as text: sent as token ids (lm-eval's local-completions sends tokenized
      // requests, TemplateAPI tok_encode without special tokens), so the server adds no second BOS.
      const bos = this.tok.bosTokenId !== null ? this.tok.decode([this.tok.bosTokenId], false) : '';
      const chatted = bos !== '' && r.context.startsWith(bos);
      const res = await this.post({ prompt: chatted ? ids : prompt, max_tokens: maxTokens, temperature: 0, stop: r.until.filter(Boolean).slice(0, 4), seed: this.o.seed ?? 1234 });
      const text = res.choices?.[0]?.text;
      if (typeof text !== 'string') throw new EvalError('MISMATCH', `${this.o.baseUrl} answered a completion without choices[0].text`);
      return cutAtStop(text, r.until);
    });
  }

  async tokenLogprobs(): Promise<TokenLogprobs> {
    throw new EvalError('BAD_ARGS', 'perplexity needs full log-softmax rows, which an OpenAI-compatible server does not return: run it in-process');
  }

  async close(): Promise<void> {}
}
