/**
 * The main-thread side of the engine thread (engine_worker.ts): the same EngineHandle as AsyncEngine, so the server
 * does not care where the batch runs. The forward passes run on the worker; this thread only parses requests,
 * detokenizes and writes SSE, in parallel with them. Metrics are kept here, timed when events arrive (what clients see).
 * The tokenizer is loaded here too, from the same place the engine's loader takes it (packages/engine/src/model/loader.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { ByteTokenizer, dataPath, loadTokenizer, type EngineCoreOptions, type LoadOptions, type Provenance, type RequestParams, type TextTokenizer } from '@quantbench/engine';
import type { EngineHandle, PromptLogprobs, TokenEvent } from './async_engine.ts';
import type { ServeMetrics } from './metrics.ts';
import type { FromWorker, ModelFacts, ToWorker } from './worker_protocol.ts';
import type { ServedModel } from './server.ts';

interface Pending {
  onEvent: (e: TokenEvent) => void;
  arrival: number;
  firstTokenAt: number | null;
  numOutput: number;
}

export class WorkerEngine implements EngineHandle {
  private metrics: ServeMetrics | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly scores = new Map<number, { resolve: (r: PromptLogprobs) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private running = 0;
  private waiting = 0;
  private kv = 0;
  private idleWaiters: (() => void)[] = [];
  private closed: (() => void) | null = null;

  private constructor(private readonly worker: Worker) {}

  /** Starts the engine thread and waits for the model to load. */
  static async start(load: LoadOptions, engine: EngineCoreOptions, log: (m: string) => void = () => {}): Promise<{ engine: WorkerEngine; model: ServedModel }> {
    // Bundled (scripts/device/stage.mjs): the worker is serve_worker.mjs beside this bundle; else the TS source,
    // which the worker loads through tsx's loader, registered in the worker itself (loader hooks are per thread).
    const bundled = import.meta.url.endsWith('.mjs');
    const workerData = { load: { ...load, onProgress: undefined }, engine };
    const worker = bundled
      ? new Worker(new URL('./serve_worker.mjs', import.meta.url), { workerData })
      : new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./engine_worker.ts', import.meta.url).href)}); });`,
          { eval: true, workerData },
        );
    const we = new WorkerEngine(worker);
    const facts = await new Promise<ModelFacts>((resolve, reject) => {
      const onMsg = (m: FromWorker) => {
        if (m.t === 'log') log(m.m);
        else if (m.t === 'fatal') reject(Object.assign(new Error(m.message), { code: m.code ?? 'ENGINE' }));
        else if (m.t === 'ready') {
          worker.off('message', onMsg);
          resolve(m.facts);
        }
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
      worker.once('exit', (c) => reject(new Error(`the engine thread exited (${c}) before the model loaded`)));
    });
    worker.on('message', (m: FromWorker) => we.onMessage(m));
    worker.on('error', (e) => {
      process.stderr.write(`engine thread error: ${e.stack ?? e}\n`);
      we.failAll(`engine error: ${e.message}`);
    });
    const tokenizer = tokenizerFor(load, facts);
    const prov = facts.provenance;
    const model: ServedModel = {
      tokenizer,
      info: facts.info,
      maxModelLen: facts.maxModelLen,
      numKvBlocks: facts.numKvBlocks,
      blockSize: facts.blockSize,
      eosTokenIds: facts.eosTokenIds,
      provenance: (): Provenance => ({ ...prov, date: new Date().toISOString() }),
    };
    return { engine: we, model };
  }

  /** The server's metrics (created after the engine). */
  bind(metrics: ServeMetrics): this {
    this.metrics = metrics;
    return this;
  }

  get numRunning(): number {
    return this.running;
  }
  get numWaiting(): number {
    return this.waiting;
  }
  get numInFlight(): number {
    return this.pending.size + this.scores.size;
  }
  kvUsage(): number {
    return this.kv;
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  submit(promptIds: number[], params: RequestParams, onEvent: (e: TokenEvent) => void): string {
    const id = `r${this.nextId++}`;
    this.pending.set(id, { onEvent, arrival: performance.now(), firstTokenAt: null, numOutput: 0 });
    this.waiting++;
    this.metrics?.promptTokens.inc(promptIds.length);
    this.send({ t: 'submit', id, ids: promptIds, params });
    return id;
  }

  abort(id: string): void {
    if (!this.pending.delete(id)) return;
    this.metrics?.finished('abort');
    this.send({ t: 'abort', id });
    this.checkIdle();
  }

  scorePrompt(ids: number[], topK: number): Promise<PromptLogprobs> {
    const job = this.nextId++;
    this.metrics?.promptTokens.inc(ids.length);
    return new Promise((resolve, reject) => {
      this.scores.set(job, { resolve, reject });
      this.send({ t: 'score', job, ids, topK });
    });
  }

  idle(): Promise<void> {
    if (this.numInFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  abortAll(): void {
    this.failAll('the server is shutting down', 'abort');
    this.send({ t: 'abortAll' });
  }

  /** Stops the engine thread after in-flight work (the model is freed there). */
  async close(): Promise<void> {
    await new Promise<void>((r) => {
      this.closed = r;
      this.send({ t: 'close' });
    });
    await this.worker.terminate();
  }

  private failAll(error: string, reason: 'abort' | 'error' = 'error'): void {
    for (const [id, p] of [...this.pending]) {
      this.pending.delete(id);
      this.metrics?.finished(reason);
      p.onEvent({ ids: [], logprobs: [], finished: true, finishReason: reason, error });
    }
    for (const s of this.scores.values()) s.reject(new Error(error));
    this.scores.clear();
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.numInFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private onMessage(m: FromWorker): void {
    if (m.t === 'events') {
      this.running = m.running;
      this.waiting = m.waiting;
      this.kv = m.kv;
      this.metrics?.kvUsage.set(m.kv);
      const now = performance.now();
      for (const [id, ids, lps, finished, reason, error] of m.evs) {
        const p = this.pending.get(id);
        if (!p) continue;
        if (ids.length > 0) {
          if (p.firstTokenAt === null) {
            p.firstTokenAt = now;
            this.metrics?.ttft.observe((now - p.arrival) / 1000);
          }
          p.numOutput += ids.length;
          this.metrics?.generationTokens.inc(ids.length);
        }
        if (finished) {
          this.pending.delete(id);
          this.metrics?.e2e.observe((now - p.arrival) / 1000);
          if (p.numOutput > 1 && p.firstTokenAt !== null) this.metrics?.tpot.observe((now - p.firstTokenAt) / 1000 / (p.numOutput - 1));
          this.metrics?.finished(reason ?? 'length');
        }
        try {
          p.onEvent({ ids, logprobs: lps, finished, ...(reason ? { finishReason: reason } : {}), ...(error ? { error } : {}) });
        } catch (e) {
          process.stderr.write(`request ${id}: ${(e as Error).stack ?? e}\n`);
          if (!finished) this.abort(id);
        }
      }
      this.checkIdle();
    } else if (m.t === 'scored') {
      const s = this.scores.get(m.job);
      if (!s) return;
      this.scores.delete(m.job);
      if (m.res) s.resolve(m.res);
      else s.reject(new Error(m.error ?? 'scoring failed'));
      this.checkIdle();
    } else if (m.t === 'closed') this.closed?.();
    else if (m.t === 'log') process.stderr.write(`${m.m}\n`);
  }
}

/** The tokenizer the engine's loader picks for these load options (loader.ts), loaded on this thread. */
function tokenizerFor(load: LoadOptions, f: ModelFacts): TextTokenizer {
  const { eosTokenIds, bosTokenId } = f.info.arch;
  if (load.model.startsWith('synthetic:')) {
    const dir = load.tokenizer ?? (load.model === 'synthetic:llama-3.1-8b' ? dataPath('tokenizers/llama-3.1', load.dataDir) : null);
    return dir ? loadTokenizer(dir, eosTokenIds, bosTokenId) : new ByteTokenizer();
  }
  const dir = load.tokenizer ?? (fs.statSync(load.model).isDirectory() ? load.model : path.dirname(load.model));
  return loadTokenizer(dir, eosTokenIds, bosTokenId);
}
