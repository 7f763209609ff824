/**
 * The server's engine loop: one continuous-batching EngineCore over the loaded model, stepped while any request is
 * unfinished, yielding to the event loop between steps so that HTTP I/O (new requests, SSE writes, disconnects) is
 * handled while the batch runs. Every request, whichever connection it came from, joins the same batch.
 *
 * Prompt log-probabilities (echo + logprobs) are computed by a scoring forward between steps, on KV blocks borrowed
 * from the same block pool as the running requests (so they never overwrite anyone's cache) and given back at once.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { EngineCore, LLM, RequestOutput, RequestParams, SchedFinishReason } from '@quantbench/engine';
import type { NativeBatch } from '@quantbench/native';
import { ServeMetrics } from './metrics.ts';

export interface TokenEvent {
  ids: number[];
  logprobs: number[];
  finished: boolean;
  finishReason?: SchedFinishReason;
  error?: string;
}

export interface PromptLogprobs {
  /** logprobs[i] = log p(ids[i] | ids[<i]); logprobs[0] is null. */
  logprobs: (number | null)[];
  /** Top candidates per position (null at 0): [token id, logprob], best first. */
  top: ([number, number][] | null)[];
}

interface Pending {
  onEvent: (e: TokenEvent) => void;
  arrival: number;
  firstTokenAt: number | null;
  numPrompt: number;
  numOutput: number;
}

interface ScoreJob {
  ids: number[];
  topK: number;
  resolve: (r: PromptLogprobs) => void;
  reject: (e: Error) => void;
}

/** What the server needs from an engine: AsyncEngine (same thread) or WorkerEngine (a worker thread). */
export interface EngineHandle {
  submit(promptIds: number[], params: RequestParams, onEvent: (e: TokenEvent) => void): string;
  abort(id: string): void;
  scorePrompt(ids: number[], topK: number): Promise<PromptLogprobs>;
  idle(): Promise<void>;
  abortAll(): void;
  readonly numRunning: number;
  readonly numWaiting: number;
  readonly numInFlight: number;
  kvUsage(): number;
}

export class AsyncEngine implements EngineHandle {
  private readonly pending = new Map<string, Pending>();
  private readonly scoreJobs: ScoreJob[] = [];
  private running = false;
  private nextId = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly llm: LLM,
    readonly core: EngineCore,
    readonly metrics: ServeMetrics,
  ) {}

  get numRunning(): number {
    return this.core.numRunning;
  }

  get numWaiting(): number {
    return this.core.numWaiting + this.scoreJobs.length;
  }

  get numInFlight(): number {
    return this.pending.size + this.scoreJobs.length;
  }

  kvUsage(): number {
    return this.core.kv.numUsedBlocks / this.llm.numKvBlocks;
  }

  /** One short unmeasured request before listening, so first-call costs (allocation, threads, graphs) stay out of the first client's TTFT. */
  warmUp(): void {
    const special = new Set(this.llm.eosTokenIds);
    const ids = [...Array(Math.min(this.llm.info.arch.vocabSize, 64)).keys()].filter((t) => !special.has(t)).slice(0, 8);
    this.core.addRequest({ id: 'warmup', promptIds: ids, params: { maxTokens: 2, ignoreEos: true } });
    while (this.core.hasUnfinished()) this.core.step();
  }

  /** Adds a generation request to the batch; events arrive per step. Returns the id to abort it with. */
  submit(promptIds: number[], params: RequestParams, onEvent: (e: TokenEvent) => void, givenId?: string): string {
    const id = givenId ?? `r${this.nextId++}`;
    const now = performance.now();
    this.pending.set(id, { onEvent, arrival: now, firstTokenAt: null, numPrompt: promptIds.length, numOutput: 0 });
    this.core.addRequest({ id, promptIds, params, arrivalTime: now });
    this.metrics.promptTokens.inc(promptIds.length);
    this.kick();
    return id;
  }

  /** Stops a request (client gone): its KV blocks go back to the pool at once. */
  abort(id: string): void {
    if (!this.pending.has(id)) return;
    this.core.abortRequest(id);
    this.pending.delete(id);
    this.metrics.finished('abort');
    this.kick();
  }

  /** Log-probability of every prompt token given the ones before it (plus the top-k alternatives). */
  scorePrompt(ids: number[], topK: number): Promise<PromptLogprobs> {
    return new Promise((resolve, reject) => {
      this.scoreJobs.push({ ids, topK, resolve, reject });
      this.metrics.promptTokens.inc(ids.length);
      this.kick();
    });
  }

  /** Resolves when nothing is in flight. */
  idle(): Promise<void> {
    if (!this.running && this.numInFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Aborts every request (shutdown after the drain timeout). */
  abortAll(): void {
    for (const id of [...this.pending.keys()]) {
      this.pending.get(id)!.onEvent({ ids: [], logprobs: [], finished: true, finishReason: 'abort', error: 'the server is shutting down' });
      this.abort(id);
    }
    for (const j of this.scoreJobs.splice(0)) j.reject(new Error('the server is shutting down'));
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.core.hasUnfinished() || this.scoreJobs.length > 0) {
        // Scoring jobs go between steps, as long as their blocks are free in the pool; with async scheduling the step
        // in flight is finished and its tokens delivered first, so the model is idle for the scoring forward.
        if (this.scoreJobs.length > 0 && this.core.hasInflight) this.deliver(this.core.settle().outputs);
        while (this.scoreJobs.length > 0 && this.runScore(this.scoreJobs[0]!)) this.scoreJobs.shift();
        if (this.core.hasUnfinished()) this.step();
        else if (this.scoreJobs.length > 0) {
          // Nothing running and the job still does not fit: it never will.
          const j = this.scoreJobs.shift()!;
          j.reject(new Error(`the prompt (${j.ids.length} tokens) needs more KV blocks than the cache holds`));
        }
        this.metrics.kvUsage.set(this.kvUsage());
        await yieldToEventLoop();
      }
    } catch (e) {
      process.stderr.write(`engine loop error: ${(e as Error).stack ?? e}\n`);
      for (const [id, p] of this.pending) {
        p.onEvent({ ids: [], logprobs: [], finished: true, finishReason: 'error', error: `engine error: ${(e as Error).message}` });
        this.core.abortRequest(id);
      }
      this.pending.clear();
      for (const j of this.scoreJobs.splice(0)) j.reject(e as Error);
      while (this.core.hasUnfinished()) {
        try {
          this.core.step();
        } catch {
          break;
        }
      }
    } finally {
      this.running = false;
      this.metrics.kvUsage.set(this.kvUsage());
      if (this.numInFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      else if (this.core.hasUnfinished() || this.scoreJobs.length > 0) this.kick();
    }
  }

  private step(): void {
    this.deliver(this.core.step().outputs);
  }

  /** A step's outputs to their requests' handlers, with the metrics. */
  private deliver(outputs: readonly RequestOutput[]): void {
    const now = performance.now();
    for (const out of outputs) {
      const p = this.pending.get(out.id);
      if (!p) continue; // aborted by us: already reported
      if (out.newTokenIds.length > 0) {
        if (p.firstTokenAt === null) {
          p.firstTokenAt = now;
          this.metrics.ttft.observe((now - p.arrival) / 1000);
        }
        p.numOutput += out.newTokenIds.length;
        this.metrics.generationTokens.inc(out.newTokenIds.length);
      }
      if (out.finished) {
        this.pending.delete(out.id);
        this.metrics.e2e.observe((now - p.arrival) / 1000);
        if (p.numOutput > 1 && p.firstTokenAt !== null) this.metrics.tpot.observe((now - p.firstTokenAt) / 1000 / (p.numOutput - 1));
        this.metrics.finished(out.finishReason ?? 'length');
      }
      try {
        p.onEvent({ ids: out.newTokenIds, logprobs: out.newLogprobs, finished: out.finished, finishReason: out.finishReason, error: out.error });
      } catch (e) {
        // One request's handler failing must not stop the batch: that request alone is aborted.
        process.stderr.write(`request ${out.id}: ${(e as Error).stack ?? e}\n`);
        if (!out.finished) this.abort(out.id);
      }
    }
  }

  /** One prefill-only forward over borrowed blocks; false when the pool cannot lend them now. */
  private runScore(job: ScoreJob): boolean {
    const { ids, topK } = job;
    const kv = this.core.kv;
    const hold = `score${this.nextId++}`;
    if (!kv.allocateSlots(hold, ids.length)) return false;
    try {
      const n = ids.length;
      const rows = Int32Array.from({ length: n - 1 }, (_, i) => i);
      const table = kv.blockTable(hold);
      const batch: NativeBatch = {
        tokens: Int32Array.from(ids),
        positions: Int32Array.from(ids.keys()),
        seqStarts: Int32Array.from([0, n]),
        contextLens: Int32Array.from([n]),
        blockTables: Int32Array.from(table),
        maxBlocksPerSeq: table.length,
        gatherRows: rows,
        gatherTargets: Int32Array.from(ids.slice(1)),
        // Greedy samples give the argmax token and its log-probability (top-1); wider tops need the logits.
        sampleRows: topK === 1 ? rows : new Int32Array(0),
        temperature: new Float32Array(topK === 1 ? n - 1 : 0),
        topP: new Float32Array(topK === 1 ? n - 1 : 0).fill(1),
        seeds: new Uint32Array(topK === 1 ? 3 * (n - 1) : 0),
        logitRows: topK > 1 ? rows : new Int32Array(0),
      };
      const r = this.llm.forward(batch);
      const logprobs: (number | null)[] = [null];
      const top: ([number, number][] | null)[] = [null];
      const V = this.llm.info.arch.vocabSize;
      for (let i = 0; i < n - 1; i++) {
        logprobs.push(r.gatherLogprob[i]!);
        // The target is the argmax (the model's own flag, as in-process is_greedy): it is its own top-1.
        if (topK === 1) top.push(r.gatherIsArgmax[i] ? [[ids[i + 1]!, r.gatherLogprob[i]!]] : [[r.sampled[i]!, r.sampledLogprob[i]!]]);
        else if (topK > 1) top.push(topOf(r.logits.subarray(i * V, (i + 1) * V), topK));
        else top.push([]);
      }
      job.resolve({ logprobs, top });
    } catch (e) {
      job.reject(e as Error);
    } finally {
      kv.free(hold);
    }
    return true;
  }
}

/** The k best (token, logprob) of a logits row, best first. */
function topOf(logits: Float32Array, k: number): [number, number][] {
  let mx = -Infinity;
  for (const v of logits) if (v > mx) mx = v;
  let s = 0;
  for (const v of logits) s += Math.exp(v - mx);
  const lse = mx + Math.log(s);
  const best: [number, number][] = [];
  for (let t = 0; t < logits.length; t++) {
    const lp = logits[t]! - lse;
    if (best.length < k || lp > best[best.length - 1]![1]) {
      best.push([t, lp]);
      best.sort((a, b) => b[1] - a[1]);
      if (best.length > k) best.pop();
    }
  }
  return best;
}
