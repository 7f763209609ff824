/**
 * The only file that talks to the engine. Wraps `LLM` from @quantbench/engine as the shim's LM (loglikelihood,
 * generateUntil) plus what fidelity metrics need (token log-probs with full log-softmax rows, model info,
 * provenance). Engine API used (packages/engine/src/llm.ts):
 *   LLM.load({ model, precision, dtype?, device?, calib? })
 *   llm.loglikelihood(reqs) -> { logprob, isGreedy, numTokens }[]  (lm-eval's context/continuation split,
 *                                                                    left truncation to the model length)
 *   llm.generate(prompts, { maxTokens, temperature: 0, stop }) -> { text, ... }[]  (text cut before the stop string)
 *   llm.tokenLogprobs(text, { full }) -> { ids, logprobs (logprobs[0] = NaN), full?: rows for ids[1..] }
 *   llm.tokenizer, llm.maxModelLen, llm.info, llm.provenance(), llm.close()
 */
import { LLM } from '@quantbench/engine';
import type { ActDtype, DeviceKind, KvCacheDtype, ModelInfo, Precision, AttentionDtype, Provenance } from '@quantbench/engine';
import { cutAtStop, type GenerateRequest, type LM, type LoglikelihoodRequest, type LoglikelihoodResponse } from '@quantbench/lm-eval-ts-shim';
import { EvalError } from './errors.ts';

export interface LoadOptions {
  model: string;
  precision: Precision;
  dtype?: ActDtype;
  /** vLLM's --kv-cache-dtype (default auto). */
  kvCacheDtype?: KvCacheDtype;
  /** The engine's attentionDtype (default auto; fp8 needs kvCacheDtype fp8, CPU reference only for now). */
  attentionDtype?: AttentionDtype;
  device?: DeviceKind;
  calib?: string;
  dataDir?: string;
  /** lm-eval's add_bos_token: prepend BOS to every scored context (lm-eval's default: false). */
  addBosToken?: boolean;
  /** Contexts are chat-rendered and start with this BOS text (Llama-3 templates): no second BOS is added. */
  chatBosText?: string | null;
}

export interface TokenLogprobs {
  ids: number[];
  /** log p(ids[i] | ids[<i]) for the scored tokens (the first token, which nothing predicts, is left out). */
  logprobs: number[];
  /** Log-softmax rows aligned with `logprobs`, when asked for. */
  full?: Float32Array[];
}

/** What eval needs from a loaded model. */
export interface EvalModel extends LM {
  readonly info: Pick<ModelInfo, 'model' | 'precision' | 'device' | 'weights'>;
  /** Replaces the device in the request cache's identity (a remote server: its model name). */
  readonly cacheTag?: string;
  provenance(): Provenance;
  tokenLogprobs(text: string, full: boolean): Promise<TokenLogprobs>;
  close(): Promise<void>;
}

/** True when @quantbench/engine exports LLM (the model layer has landed). */
export function engineAvailable(): boolean {
  return typeof LLM === 'function' && typeof LLM.load === 'function';
}

class EngineLM implements EvalModel {
  constructor(
    private readonly llm: LLM,
    private readonly addBos = false,
    private readonly chatBosText: string | null = null,
  ) {}

  get info(): ModelInfo {
    return this.llm.info;
  }

  provenance(): Provenance {
    return this.llm.provenance();
  }

  async loglikelihood(requests: LoglikelihoodRequest[]): Promise<LoglikelihoodResponse[]> {
    // lm-eval HFLM.tok_encode: no special tokens are added to a string that already starts with BOS (has_bos_prefix)
    const bos = this.chatBosText;
    const addBos = this.addBos && !(bos && requests.every((r) => r.context.startsWith(bos)));
    const out = await this.llm.loglikelihood(requests, { addBos });
    if (out.length !== requests.length) {
      throw new EvalError('MISMATCH', `engine returned ${out.length} log-likelihoods for ${requests.length} requests`);
    }
    return out.map((r) => ({ logprob: r.logprob, isGreedy: r.isGreedy }));
  }

  /**
   * lm-eval (HF backend) left-truncates a generation context to max_length - max_gen_toks tokens; we do the same on
   * token ids and decode back to text for the engine.
   */
  private fitContext(context: string, maxGenToks: number): string {
    const budget = this.llm.maxModelLen - maxGenToks - 1; // -1: the BOS generate() adds
    if (budget <= 0) return context;
    const ids = this.llm.tokenizer.encode(context, false);
    if (ids.length <= budget) return context;
    return this.llm.tokenizer.decode(ids.slice(ids.length - budget), false);
  }

  async generateUntil(requests: GenerateRequest[]): Promise<string[]> {
    // One engine call per distinct (until, maxGenToks); results go back in request order.
    const out = new Array<string>(requests.length);
    const groups = new Map<string, number[]>();
    requests.forEach((r, i) => {
      const k = JSON.stringify([r.until, r.maxGenToks]);
      const g = groups.get(k);
      if (g) g.push(i);
      else groups.set(k, [i]);
    });
    for (const idx of groups.values()) {
      const { until, maxGenToks } = requests[idx[0]];
      const maxTokens = Math.max(1, Math.min(maxGenToks, this.llm.maxModelLen - 2));
      // generate() encodes with special tokens (one BOS): a chat-rendered context gives up its BOS text for it
      const bos = this.chatBosText;
      const noBos = (c: string) => (bos && c.startsWith(bos) ? c.slice(bos.length) : c);
      const res = await this.llm.generate(
        idx.map((i) => this.fitContext(noBos(requests[i].context), maxTokens)),
        { maxTokens, temperature: 0, stop: until },
      );
      idx.forEach((i, j) => (out[i] = cutAtStop(res[j].text, until)));
    }
    return out;
  }

  async tokenLogprobs(text: string, full: boolean): Promise<TokenLogprobs> {
    const r = await this.llm.tokenLogprobs(text, { full });
    // logprobs[0] is NaN (no prediction for the first token); full rows start at ids[1].
    return { ids: r.ids, logprobs: r.logprobs.slice(1), ...(r.full ? { full: r.full } : {}) };
  }

  async close(): Promise<void> {
    this.llm.close();
  }
}

export async function loadEngineLM(opts: LoadOptions): Promise<EvalModel> {
  if (!engineAvailable()) {
    throw new EvalError('ENGINE_MISSING', '@quantbench/engine does not export LLM (packages/engine/src/llm.ts); eval needs the model layer');
  }
  const llm = await LLM.load({
    model: opts.model,
    precision: opts.precision,
    dtype: opts.dtype,
    kvCacheDtype: opts.kvCacheDtype,
    ...(opts.attentionDtype && opts.attentionDtype !== 'auto' ? { attentionDtype: opts.attentionDtype } : {}),
    device: opts.device,
    calib: opts.calib,
    dataDir: opts.dataDir,
  });
  return new EngineLM(llm, opts.addBosToken ?? false, opts.chatBosText ?? null);
}
