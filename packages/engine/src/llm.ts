/**
 * The engine's public API, in the spirit of vLLM's `LLM`: load once, then generate / score.
 *   const llm = await LLM.load({ model: '../shared/models/stories260K/hf', precision: 'fp8-dynamic' });
 *   const [out] = await llm.generate(['Once upon a time'], { maxTokens: 64 });
 */
import { completionText } from './tokenizer/detokenize.ts';
import type { NativeBatch, NativeStepResult, NativeTensor } from '@quantbench/native';
import { EngineError, wrapNative } from './errors.ts';
import { loadModel, KV_BLOCK_SIZE, type LoadedModel, type LoadOptions } from './model/loader.ts';
import { makeProvenance, type Provenance } from './provenance.ts';
import { EngineCore } from './scheduler/index.ts';
import type { ModelRunner, EngineCoreOptions } from './scheduler/types.ts';
import type { TextTokenizer } from './tokenizer/tokenizer.ts';
import { encodeContinuationPair } from './tokenizer/pair.ts';
import { compareIds, ScoringPlan } from './scoring_plan.ts';
import type { GenerateOptions, GenerateOutput, KvCacheDtype, LoglikelihoodRequest, LoglikelihoodResult, ModelInfo } from './types.ts';

export type { LoadOptions } from './model/loader.ts';

export interface LoglikelihoodOptions {
  tokenLogprobs?: boolean;
  /**
   * Prefix for an empty context and whether contexts start with BOS. lm-eval's HF/vLLM backends encode without
   * special tokens and use BOS as the prefix token of an empty context; that is the default here.
   */
  addBos?: boolean;
  /** Token budget of one forward (default 4096). */
  maxBatchTokens?: number;
  onProgress?: (done: number, total: number) => void;
  /**
   * Share computation between requests of one forward (default true): identical inputs become one sequence, and
   * common full KV blocks of a prefix are computed once. Results are bit-identical either way (see scorePairs).
   */
  sharePrefix?: boolean;
}

export interface TokenLogprobsResult {
  ids: number[];
  /** logprobs[i] = log p(ids[i] | ids[<i]); logprobs[0] is NaN (nothing predicts the first token). */
  logprobs: number[];
  /** full[i] = log-softmax row predicting ids[i] (i >= 1), when requested. */
  full?: Float32Array[];
}

interface Scored {
  ctx: number[];
  cont: number[];
}

/** One prompt of a generate() call while it runs. */
interface GenState {
  prompt: string;
  promptIds: number[];
  ids: number[];
  logprobs: number[];
  text: string;
  done: boolean;
  finish: GenerateOutput['finishReason'];
}

export class LLM implements ModelRunner {
  readonly info: ModelInfo;
  readonly tokenizer: TextTokenizer;
  readonly blockSize = KV_BLOCK_SIZE;
  readonly numKvBlocks: number;
  readonly maxModelLen: number;
  readonly eosTokenIds: number[];
  /** KV-cache dtype (vLLM's --kv-cache-dtype): 'auto' = the activation dtype, 'fp8' = FP8 E4M3 with per-layer scales. */
  readonly kvCacheDtype: KvCacheDtype;
  /** Bytes of one KV block (the native model's kvBlockBytes(); 1 byte per element with fp8). */
  readonly kvBlockBytes: number;
  /** Per-layer k/v scales: with fp8 those the model runs with (checkpoint or calibrated); calibrated ones with either dtype; else null. */
  readonly kvScales: { k: number[]; v: number[] } | null;
  private m: LoadedModel | null;
  private busy = false;

  private constructor(m: LoadedModel) {
    this.m = m;
    this.tokenizer = m.tokenizer;
    this.numKvBlocks = m.numKvBlocks;
    this.maxModelLen = m.maxModelLen;
    this.kvCacheDtype = m.kvCacheDtype;
    this.kvBlockBytes = m.kvBlockBytes;
    this.kvScales = m.kvScales;
    this.eosTokenIds = [...new Set([...m.arch.eosTokenIds, ...m.tokenizer.eosTokenIds])];
    this.info = {
      model: m.modelId,
      weights: m.weights,
      arch: m.arch,
      precision: m.precision,
      recipe: m.recipe,
      device: m.device,
      deviceName: m.deviceName,
    };
  }

  static async load(opts: LoadOptions): Promise<LLM> {
    return new LLM(loadModel(opts));
  }

  private get model(): LoadedModel {
    if (!this.m) throw new EngineError('BAD_REQUEST', 'this LLM was closed');
    return this.m;
  }

  /** One varlen step on the native model (ModelRunner, used by the scheduler). */
  forward(batch: NativeBatch): NativeStepResult {
    return wrapNative('forward', () => this.model.native.forward(batch));
  }

  /** Async steps on the native model (ModelRunner.submit / finish, the scheduler's async scheduling). */
  submit(batch: NativeBatch): void {
    wrapNative('submit', () => this.model.native.submit(batch));
  }

  finish(): NativeStepResult {
    return wrapNative('finish', () => this.model.native.finish());
  }

  /** Timing runs: fill the whole KV cache with seeded random values (a step then reads real-looking data). */
  fillKvRandom(seed: number): void {
    wrapNative('fillKvRandom', () => this.model.native.fillKvRandom(seed));
  }

  provenance(): Provenance {
    return makeProvenance({ device: this.info.deviceName, deviceKind: this.info.device, model: this.info.model, weights: this.info.weights, recipe: this.info.recipe });
  }

  /** A continuous-batching engine core over this model (bench and generate use it). */
  engineCore(opts: Partial<EngineCoreOptions> = {}): EngineCore {
    return new EngineCore(this, { maxNumSeqs: 64, maxNumBatchedTokens: 2048, ...opts });
  }

  private exclusive<T>(f: () => T): T {
    if (this.busy) throw new EngineError('BAD_REQUEST', 'this LLM is already running a call; await it first');
    this.busy = true;
    try {
      return f();
    } finally {
      this.busy = false;
    }
  }

  /** Steps the core until every prompt is done, appending tokens to `state` and cutting at stop strings. */
  private generateLoop(core: EngineCore, state: GenState[], stops: string[]): void {
    const tok = this.tokenizer;
    while (core.hasUnfinished()) {
      const { outputs } = core.step();
      for (const out of outputs) {
        const s = state[Number(out.id)]!;
        if (s.done) continue;
        s.ids.push(...out.newTokenIds);
        s.logprobs.push(...out.newLogprobs);
        if (out.finishReason === 'error') throw new EngineError('BAD_REQUEST', `prompt ${out.id}: ${out.error ?? 'cannot be scheduled'}`);
        if (stops.length > 0) {
          const text = completionText(tok, s.promptIds, s.ids);
          const cut = firstStop(text, stops);
          if (cut >= 0) {
            s.text = text.slice(0, cut);
            s.done = true;
            s.finish = 'stop';
            if (!out.finished) core.abortRequest(out.id);
            continue;
          }
        }
        if (out.finished) {
          s.done = true;
          s.finish = out.finishReason === 'eos' || out.finishReason === 'stop' ? out.finishReason : 'length';
        }
      }
    }
  }

  async generate(prompts: string[], opts: GenerateOptions = {}, engine: Partial<EngineCoreOptions> = {}): Promise<GenerateOutput[]> {
    return this.exclusive(() => this.generateSync(prompts, opts, engine));
  }

  private generateSync(prompts: string[], o: GenerateOptions, engineOpts: Partial<EngineCoreOptions>): GenerateOutput[] {
    const tok = this.tokenizer;
    const maxTokens = o.maxTokens ?? 64;
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new EngineError('BAD_REQUEST', `maxTokens must be a positive integer (got ${maxTokens})`);
    const temperature = o.temperature ?? 0;
    if (!(temperature >= 0)) throw new EngineError('BAD_REQUEST', `temperature must be >= 0 (got ${temperature})`);
    const topP = o.topP ?? 1;
    if (!(topP > 0 && topP <= 1)) throw new EngineError('BAD_REQUEST', `topP must be in (0, 1] (got ${topP})`);
    const stops = (o.stop ?? []).filter((s) => s.length > 0);
    const core = this.engineCore(engineOpts);
    const state = prompts.map((prompt, i) => {
      const text = o.chat ? tok.applyChatTemplate([{ role: 'user', content: prompt }], true) : prompt;
      // A chat template already holds BOS as text.
      const promptIds = tok.encode(text, !o.chat);
      if (promptIds.length === 0) throw new EngineError('BAD_REQUEST', `prompt ${i} encodes to no tokens`);
      if (promptIds.length >= this.maxModelLen) {
        throw new EngineError('PROMPT_TOO_LONG', `prompt ${i} has ${promptIds.length} tokens; the model accepts ${this.maxModelLen} in all (raise maxModelLen)`);
      }
      core.addRequest({
        id: String(i),
        promptIds,
        params: {
          maxTokens: Math.min(maxTokens, this.maxModelLen - promptIds.length),
          temperature,
          topP,
          seed: (o.seed ?? 0) + i,
          stopTokenIds: o.stopTokenIds,
          ignoreEos: o.ignoreEos,
          logprobs: o.logprobs,
        },
      });
      const st: GenState = { prompt, promptIds, ids: [], logprobs: [], text: '', done: false, finish: 'length' };
      return st;
    });
    try {
      this.generateLoop(core, state, stops);
    } finally {
      core.drain();  // async scheduling: no step left in flight after an error
    }
    return state.map((s) => {
      const ids = s.ids;
      // Incremental detokenization: what the completion adds to the decoded prompt (keeps its leading space).
      let text = s.finish === 'stop' && stops.length > 0 ? s.text : completionText(tok, s.promptIds, ids);
      if (s.finish === 'eos' && ids.length > 0 && this.eosTokenIds.includes(ids[ids.length - 1]!)) {
        text = completionText(tok, s.promptIds, ids.slice(0, -1));
      }
      const r: GenerateOutput = { prompt: s.prompt, promptIds: s.promptIds, ids, text, finishReason: s.finish };
      if (o.logprobs) r.logprobs = s.logprobs.slice(0, ids.length);
      return r;
    });
  }

  /** lm-eval's context/continuation split: trailing spaces of the context move to the continuation. */
  encodePair(context: string, continuation: string, addBos = false): Scored {
    return this.encodePairMemo(context, continuation, addBos, null);
  }

  /** encodePair with an optional memo of context encodings (requests of one document share their context). */
  private encodePairMemo(context: string, continuation: string, addBos: boolean, memo: Map<string, number[]> | null): Scored {
    const tok = this.tokenizer;
    const prefix = this.prefixTokenId();
    const { ctx, cont } = encodeContinuationPair(tok, prefix, context, continuation, (c) => {
      let ids = memo?.get(c);
      if (!ids) {
        ids = tok.encode(c, false);
        if (memo) {
          if (memo.size >= 256) memo.clear();
          memo.set(c, ids);
        }
      }
      return ids;
    });
    return { ctx: addBos && !(ctx.length === 1 && context.trimEnd() === '') ? [prefix, ...ctx] : ctx, cont };
  }

  private prefixTokenId(): number {
    const id = this.tokenizer.bosTokenId ?? this.eosTokenIds[0];
    if (id === undefined) throw new EngineError('BAD_CONFIG', 'the tokenizer has neither BOS nor EOS to use as a prefix token');
    return id;
  }

  async loglikelihood(reqs: LoglikelihoodRequest[], o: LoglikelihoodOptions = {}): Promise<LoglikelihoodResult[]> {
    return this.exclusive(() => {
      const memo = new Map<string, number[]>();
      return this.scorePairs(reqs.map((r) => this.encodePairMemo(r.context, r.continuation, o.addBos ?? false, memo)), o);
    });
  }

  /** Score pre-tokenized (context, continuation) pairs. */
  async loglikelihoodTokens(pairs: { context: number[]; continuation: number[] }[], o: LoglikelihoodOptions = {}): Promise<LoglikelihoodResult[]> {
    return this.exclusive(() => this.scorePairs(pairs.map((p) => ({ ctx: p.context, cont: p.continuation })), o));
  }

  /**
   * Scores pairs in prefill-only forwards of at most `maxBatchTokens` computed tokens. The model input of a pair is
   * ctx+cont minus its last token, left-truncated to maxModelLen (lm-eval); the last cont.length rows of the input
   * predict the continuation. With prefix sharing (default), inside one forward:
   *   - pairs with the same input are one sequence whose rows are gathered once per pair (MMLU's " A".." D");
   *   - a sequence whose first k full KV blocks (16 tokens each) hold the same tokens as blocks some earlier sequence
   *     of the forward computes references those blocks in its block table and computes only its tokens from 16k on;
   *     rows it needs below 16k are gathered from the sequence that computed them.
   * This is exact: every op of the forward is per row (per-token quantization, per-row GEMMs) or per row over the
   * paged cache (attention), and each layer writes every row's K/V before any row's attention reads them, so a row's
   * result depends only on its tokens and position, never on the batch it is in.
   */
  private scorePairs(items: Scored[], o: LoglikelihoodOptions): LoglikelihoodResult[] {
    const budget = Math.max(1, Math.min(o.maxBatchTokens ?? 4096, this.numKvBlocks * this.blockSize));
    const share = o.sharePrefix ?? true;
    const results: LoglikelihoodResult[] = new Array(items.length);
    // Keep the last maxModelLen tokens (lm-eval truncates from the left).
    const seqs = items.map((it, idx) => {
      if (it.cont.length === 0) throw new EngineError('BAD_REQUEST', `request ${idx}: the continuation encodes to no tokens`);
      const all = [...it.ctx, ...it.cont];
      const input = all.slice(0, -1).slice(-this.maxModelLen);
      if (it.cont.length > input.length) {
        throw new EngineError('BAD_REQUEST', `request ${idx}: ${it.cont.length} continuation tokens but only ${input.length} input positions predict them (empty context, or a continuation longer than maxModelLen ${this.maxModelLen})`);
      }
      return { idx, input, cont: it.cont };
    });
    // Sequences that share a prefix go to the same forward: order by input tokens (the runner's order otherwise).
    const order = share ? seqs.map((_, i) => i).sort((a, b) => compareIds(seqs[a]!.input, seqs[b]!.input) || a - b) : seqs.map((_, i) => i);
    let done = 0;
    const run = (plan: ScoringPlan) => {
      const { batch, gathers } = plan.build();
      const r = this.forward(batch);
      for (const { idx, first, n } of gathers) {
        const lps: number[] = [];
        let greedy = true;
        for (let j = 0; j < n; j++) {
          lps.push(r.gatherLogprob[first + j]!);
          if (!r.gatherIsArgmax[first + j]) greedy = false;
        }
        const res: LoglikelihoodResult = { logprob: lps.reduce((a, b) => a + b, 0), isGreedy: greedy, numTokens: n };
        if (o.tokenLogprobs) res.tokenLogprobs = lps;
        results[idx] = res;
      }
      done += gathers.length;
      o.onProgress?.(done, seqs.length);
    };
    let plan = new ScoringPlan(this.blockSize, share);
    for (const i of order) {
      const s = seqs[i]!;
      if (!plan.tryAdd(s.idx, s.input, s.cont, budget, this.numKvBlocks)) {
        run(plan);
        plan = new ScoringPlan(this.blockSize, share);
        plan.tryAdd(s.idx, s.input, s.cont, budget, this.numKvBlocks);
      }
    }
    if (!plan.empty) run(plan);
    return results;
  }

  /** A prefill-only batch with fresh blocks; the last targets.length rows of each input are gathered. */
  private scoringBatch(seqs: { input: number[]; targets: number[]; logits?: boolean }[]): NativeBatch {
    const tokens: number[] = [];
    const positions: number[] = [];
    const seqStarts = [0];
    const contextLens: number[] = [];
    const maxBlocks = Math.max(...seqs.map((s) => Math.ceil(s.input.length / this.blockSize)));
    const blockTables = new Int32Array(seqs.length * maxBlocks).fill(-1);
    const gatherRows: number[] = [];
    const gatherTargets: number[] = [];
    const logitRows: number[] = [];
    let nextBlock = 0;
    seqs.forEach((s, si) => {
      const start = tokens.length;
      s.input.forEach((t, p) => {
        tokens.push(t);
        positions.push(p);
      });
      seqStarts.push(tokens.length);
      contextLens.push(s.input.length);
      const nb = Math.ceil(s.input.length / this.blockSize);
      for (let b = 0; b < nb; b++) blockTables[si * maxBlocks + b] = nextBlock++;
      const first = start + s.input.length - s.targets.length;
      s.targets.forEach((t, j) => {
        gatherRows.push(first + j);
        gatherTargets.push(t);
        if (s.logits) logitRows.push(first + j);
      });
    });
    return {
      tokens: Int32Array.from(tokens),
      positions: Int32Array.from(positions),
      seqStarts: Int32Array.from(seqStarts),
      contextLens: Int32Array.from(contextLens),
      blockTables,
      maxBlocksPerSeq: maxBlocks,
      gatherRows: Int32Array.from(gatherRows),
      gatherTargets: Int32Array.from(gatherTargets),
      logitRows: Int32Array.from(logitRows),
    };
  }

  /**
   * Per-token log-probabilities of a text (perplexity, KL vs another precision). Long texts are scored in disjoint
   * windows of maxModelLen tokens, each conditioned on the last token of the previous window (lm-eval's rolling
   * windows with context length 1).
   */
  async tokenLogprobs(text: string, o: { full?: boolean; addBos?: boolean } = {}): Promise<TokenLogprobsResult> {
    return this.exclusive(() => {
      const ids = this.tokenizer.encode(text, o.addBos ?? true);
      return this.tokenLogprobsOfIds(ids, o.full ?? false);
    });
  }

  private tokenLogprobsOfIds(ids: number[], full: boolean): TokenLogprobsResult {
    const V = this.info.arch.vocabSize;
    const logprobs: number[] = [NaN];
    const rows: Float32Array[] = [];
    const win = Math.min(this.maxModelLen, this.numKvBlocks * this.blockSize);
    for (let a = 0; a < ids.length - 1; ) {
      const b = Math.min(ids.length - 1, a + win);
      const input = ids.slice(a, b);
      const targets = ids.slice(a + 1, b + 1);
      const r = this.forward(this.scoringBatch([{ input, targets, logits: full }]));
      targets.forEach((_, j) => logprobs.push(r.gatherLogprob[j]!));
      if (full) {
        for (let j = 0; j < targets.length; j++) rows.push(logSoftmax(r.logits.subarray(j * V, (j + 1) * V)));
      }
      a = b;
    }
    const res: TokenLogprobsResult = { ids, logprobs };
    if (full) res.full = rows;
    return res;
  }

  /** Raw fp32 logits at every position of a token sequence ([ids.length * vocab]); for tests and analysis. */
  async scoreLogits(ids: number[]): Promise<Float32Array> {
    return this.exclusive(() => {
      if (ids.length === 0 || ids.length > Math.min(this.maxModelLen, this.numKvBlocks * this.blockSize)) {
        throw new EngineError('BAD_REQUEST', `scoreLogits takes 1..${this.maxModelLen} tokens (got ${ids.length})`);
      }
      const b = this.scoringBatch([{ input: ids, targets: [] }]);
      b.logitRows = Int32Array.from(ids.keys());
      return this.forward(b).logits;
    });
  }

  /** The prepared (possibly quantized) weights under HF / compressed-tensors names; data is read lazily. */
  preparedTensors(): { name: string; dtype: NativeTensor['dtype']; shape: number[]; data: () => Uint8Array }[] {
    const m = this.model.native;
    return m.exportNames().map((name) => {
      const t = wrapNative(`reading tensor ${name}`, () => m.exportTensor(name));
      return { name, dtype: t.dtype, shape: t.shape, data: () => t.data };
    });
  }

  close(): void {
    this.m?.native.free();
    this.m = null;
  }
}

function firstStop(text: string, stops: string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

export function logSoftmax(logits: Float32Array): Float32Array {
  let mx = -Infinity;
  for (const v of logits) if (v > mx) mx = v;
  let s = 0;
  for (const v of logits) s += Math.exp(v - mx);
  const lse = mx + Math.log(s);
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}
