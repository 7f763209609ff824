/**
 * The bench's HTTP side: one streaming request to an OpenAI-compatible server, timed as `vllm bench serve` times it
 * (vllm/benchmarks/lib/endpoint_request_func.py): the request is sent with stream + stream_options.include_usage,
 * every SSE data chunk carrying a choice is one token arrival (TTFT = first, ITL = gaps), the output token count
 * comes from the final `usage` chunk. SSE framing by eventsource-parser; HTTP by Node's fetch.
 */
import { performance } from 'node:perf_hooks';
import { createParser } from 'eventsource-parser';
import type { RequestRecord } from './metrics.ts';

export type OpenAIEndpoint = '/v1/completions' | '/v1/chat/completions';

export interface StreamRequest {
  baseUrl: string;
  endpoint: OpenAIEndpoint;
  model: string;
  /** Token ids (completions) or text (chat, or a server without token-id prompts). */
  prompt: number[] | string;
  promptLen: number;
  maxTokens: number;
  apiKey?: string;
  signal?: AbortSignal;
}

export interface StreamResult {
  record: RequestRecord;
  usage: { promptTokens: number; completionTokens: number } | null;
  chunks: number;
}

export function payloadFor(r: StreamRequest): Record<string, unknown> {
  const common = { model: r.model, stream: true, stream_options: { include_usage: true }, ignore_eos: true, temperature: 0 };
  if (r.endpoint === '/v1/chat/completions') {
    const text = typeof r.prompt === 'string' ? r.prompt : '';
    return { ...common, messages: [{ role: 'user', content: [{ type: 'text', text }] }], max_completion_tokens: r.maxTokens };
  }
  return { ...common, prompt: r.prompt, max_tokens: r.maxTokens };
}

/** Sends one request and times its stream; never throws (a failure is a failed record with the reason). */
export async function streamRequest(r: StreamRequest): Promise<StreamResult> {
  const record: RequestRecord = { promptLen: r.promptLen, sendMs: performance.now(), tokenTimesMs: [], success: false };
  let usage: StreamResult['usage'] = null;
  let chunks = 0;
  let done = false;
  try {
    const res = await fetch(new URL(r.endpoint, r.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(r.apiKey ? { authorization: `Bearer ${r.apiKey}` } : {}) },
      body: JSON.stringify(payloadFor(r)),
      signal: r.signal,
    });
    if (!res.ok || !res.body) {
      record.error = `HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`;
      return { record, usage, chunks };
    }
    const parser = createParser({
      onEvent: (ev) => {
        if (ev.data === '[DONE]') {
          done = true;
          return;
        }
        const data = JSON.parse(ev.data) as { choices?: unknown[]; usage?: { prompt_tokens?: number; completion_tokens?: number } | null; error?: { message?: string } };
        if (data.error) throw new Error(data.error.message ?? 'error event in the stream');
        if (data.choices && data.choices.length > 0) {
          const c = data.choices[0] as { text?: string; delta?: { content?: string }; finish_reason?: string | null };
          // A finish-only chunk (no text) carries no token.
          const text = c.text ?? c.delta?.content ?? '';
          if (text !== '' || !c.finish_reason) {
            record.tokenTimesMs.push(performance.now());
            chunks++;
          }
        } else if (data.usage) {
          usage = { promptTokens: data.usage.prompt_tokens ?? r.promptLen, completionTokens: data.usage.completion_tokens ?? 0 };
        }
      },
    });
    const decoder = new TextDecoder();
    for await (const part of res.body) parser.feed(decoder.decode(part as Uint8Array, { stream: true }));
    if (!done) {
      record.error = 'the stream ended without [DONE]';
      return { record, usage, chunks };
    }
  } catch (e) {
    record.error = (e as Error).message;
    return { record, usage, chunks };
  }
  const u = usage as StreamResult['usage'];
  if (u) {
    record.promptLen = u.promptTokens;
    // Token counts come from usage; a chunk that carried several tokens shares its arrival time among them.
    const t = record.tokenTimesMs;
    while (t.length < u.completionTokens && t.length > 0) t.push(t[t.length - 1]!);
    if (t.length > u.completionTokens) t.length = u.completionTokens;
  }
  record.success = record.tokenTimesMs.length > 0;
  if (!record.success) record.error = 'no token chunk arrived';
  return { record, usage, chunks };
}

export interface ServerModelInfo {
  id: string;
  maxModelLen?: number;
  /** Present when the server is `pnpm serve` (our extension of the model card). */
  quantbench?: {
    provenance: import('@quantbench/engine').Provenance;
    precision: string;
    /** The server's --kv-cache-dtype (absent: a server from before it was reported, i.e. auto). */
    kv_cache_dtype?: string;
    vocab_size: number;
    special_token_ids: number[];
    num_kv_blocks: number;
    block_size: number;
    max_num_seqs: number;
    max_num_batched_tokens: number;
  };
}

/** GET /v1/models: the first (or the named) model. */
export async function serverModel(baseUrl: string, name?: string, apiKey?: string): Promise<ServerModelInfo> {
  let res: Response;
  try {
    res = await fetch(new URL('/v1/models', baseUrl), { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  } catch (e) {
    throw new Error(`cannot reach ${baseUrl}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message} (is the server up?)`);
  }
  if (!res.ok) throw new Error(`${baseUrl}/v1/models answered HTTP ${res.status}`);
  const body = (await res.json()) as { data?: { id: string; max_model_len?: number; quantbench?: ServerModelInfo['quantbench'] }[] };
  const models = body.data ?? [];
  const m = name ? models.find((x) => x.id === name) : models[0];
  if (!m) throw new Error(name ? `${baseUrl} does not serve "${name}" (it serves: ${models.map((x) => x.id).join(', ') || 'nothing'})` : `${baseUrl} serves no model`);
  return { id: m.id, maxModelLen: m.max_model_len, quantbench: m.quantbench };
}
