/**
 * Continuous-batching engine core, after vLLM v1's scheduler: one token budget per step; running requests first
 * (decodes, then unfinished prefill chunks), then new requests while budget, sequence slots and KV blocks last.
 * When the KV cache runs out, the most recently admitted running request is preempted by recompute: its blocks are
 * freed and it goes back to the front of the waiting queue with prompt + generated tokens, to be prefilled again.
 * With capacitySchedulerPolicy 'guaranteed-no-evict' (TensorRT-LLM's default) a request starts only when the blocks of
 * its whole length fit beside the whole lengths of those running, so the cache never runs out and nothing is preempted.
 *
 * Host work per step stays linear in the number of running requests (2048 and more under the peer protocol): the
 * waiting queue is a deque (no array shift / unshift per admission or preemption), and requests that leave the
 * running list in a step (preempted, finished) are marked by status and swept out in one pass, not filtered out
 * one by one. test/scheduler_scaling.test.ts counts the array work per step.
 */
import { performance } from 'node:perf_hooks';
import type { NativeBatch, NativeStepResult } from '@quantbench/native';
import { BatchArrays, buildBatch, type ScheduledSlice } from './batch_builder.ts';
import { Deque } from './deque.ts';
import { SchedulerError } from './errors.ts';
import { KvCacheManager } from './kv_cache_manager.ts';
import { SchedRequest, seedFromId } from './request.ts';
import { CAPACITY_SCHEDULER_POLICIES } from './types.ts';
import type {
  AddRequestArgs,
  BlockTimings,
  CapacitySchedulerPolicy,
  EngineCoreOptions,
  ModelRunner,
  RequestOutput,
  SchedFinishReason,
  StepResult,
} from './types.ts';

/** newLogprobs of every output without logprobs: one shared array, not a new one per request and step (frozen). */
const NO_LOGPROBS: number[] = Object.freeze([]) as unknown as number[];

interface StepCounts {
  numPrefillTokens: number;
  numDecodeTokens: number;
  sumContextLens: number;
}

/** A step submitted to the runner and not finished (async scheduling). */
interface InFlightStep extends StepCounts {
  slices: ScheduledSlice[];
  submitMs: number;
}

export class EngineCore {
  readonly runner: ModelRunner;
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  readonly enableChunkedPrefill: boolean;
  readonly profileBlocks: boolean;
  readonly kv: KvCacheManager;
  private readonly requests = new Map<string, SchedRequest>();
  private readonly waiting = new Deque<SchedRequest>();
  /** Admission order. Entries whose status is no longer 'running' are swept out at the end of schedule() / step(). */
  private running: SchedRequest[] = [];
  /** pickVictim's scan position (from the end of `running`) within one schedule(). */
  private victimCursor = -1;
  /** Counts schedule() calls; a request with scheduledIn equal to it has a slice in the step being scheduled. */
  private scheduleSeq = 0;
  /** Finished outside a step (abort, rejected at add): reported by the next step(). */
  private finishedPending: SchedRequest[] = [];
  private readonly eos: ReadonlySet<number>;
  /** The arrays every step's batch is built in (the previous step's block tables extended in place among them). */
  private readonly batchArrays = new BatchArrays();
  /** Async scheduling (EngineCoreOptions.asyncScheduling): the step submitted and not finished yet. */
  readonly asyncScheduling: boolean;
  /** EngineCoreOptions.capacitySchedulerPolicy. */
  readonly capacitySchedulerPolicy: CapacitySchedulerPolicy;
  /** 'guaranteed-no-evict': the blocks of the whole lengths of the requests that hold a commitment (SchedRequest.committedBlocks). */
  private committedBlocks = 0;
  private inflight: InFlightStep | null = null;
  /** Totals since construction. */
  totalPreemptions = 0;
  totalSteps = 0;

  constructor(runner: ModelRunner, opts: EngineCoreOptions) {
    const { maxNumSeqs, maxNumBatchedTokens } = opts;
    if (!Number.isInteger(maxNumSeqs) || maxNumSeqs < 1) {
      throw new SchedulerError('BAD_CONFIG', `maxNumSeqs must be an integer >= 1, got ${maxNumSeqs}`);
    }
    if (!Number.isInteger(maxNumBatchedTokens) || maxNumBatchedTokens < 1) {
      throw new SchedulerError('BAD_CONFIG', `maxNumBatchedTokens must be an integer >= 1, got ${maxNumBatchedTokens}`);
    }
    this.enableChunkedPrefill = opts.enableChunkedPrefill ?? true;
    if (!this.enableChunkedPrefill && maxNumBatchedTokens < runner.maxModelLen) {
      throw new SchedulerError(
        'BAD_CONFIG',
        `without chunked prefill maxNumBatchedTokens (${maxNumBatchedTokens}) must be >= maxModelLen (${runner.maxModelLen}); ` +
          'raise it or enable chunked prefill',
      );
    }
    this.profileBlocks = opts.profileBlocks ?? false;
    this.asyncScheduling = opts.asyncScheduling ?? false;
    this.capacitySchedulerPolicy = opts.capacitySchedulerPolicy ?? 'max-utilization';
    if (!(CAPACITY_SCHEDULER_POLICIES as readonly string[]).includes(this.capacitySchedulerPolicy)) {
      throw new SchedulerError(
        'BAD_CONFIG',
        `capacitySchedulerPolicy must be one of ${CAPACITY_SCHEDULER_POLICIES.join(', ')}, got ${String(opts.capacitySchedulerPolicy)}`,
      );
    }
    if (this.asyncScheduling && (!runner.submit || !runner.finish)) {
      throw new SchedulerError('BAD_CONFIG', 'asyncScheduling needs a model runner with submit() and finish()');
    }
    if (this.asyncScheduling && this.profileBlocks) {
      throw new SchedulerError('BAD_CONFIG', 'asyncScheduling and profileBlocks exclude each other (block timings need one step at a time)');
    }
    this.runner = runner;
    this.maxNumSeqs = maxNumSeqs;
    this.maxNumBatchedTokens = maxNumBatchedTokens;
    this.kv = new KvCacheManager(runner.numKvBlocks, runner.blockSize);
    this.eos = new Set(runner.eosTokenIds);
  }

  addRequest(args: AddRequestArgs): void {
    const { id, promptIds, params } = args;
    if (this.requests.has(id)) {
      throw new SchedulerError('DUPLICATE_REQUEST', `request id "${id}" is already in the engine; use unique ids`);
    }
    if (!Number.isInteger(params.maxTokens) || params.maxTokens < 1) {
      throw new SchedulerError('BAD_REQUEST', `request "${id}": maxTokens must be an integer >= 1, got ${params.maxTokens}`);
    }
    if (promptIds.length === 0) {
      throw new SchedulerError('BAD_REQUEST', `request "${id}": empty prompt`);
    }
    const req = new SchedRequest(id, promptIds, params, args.arrivalTime ?? performance.now(), params.seed ?? seedFromId(id), this.runner.maxModelLen);
    this.requests.set(id, req);
    const reject = this.neverFits(req);
    if (reject) {
      this.finish(req, 'error', reject);
      this.finishedPending.push(req);
      return;
    }
    this.waiting.pushBack(req);
  }

  /** Why the request can never run, or null. A request that fits alone in the cache always completes. */
  private neverFits(req: SchedRequest): string | null {
    const maxLen = this.runner.maxModelLen;
    if (req.promptLen >= maxLen) {
      return `prompt of ${req.promptLen} tokens leaves no room under maxModelLen ${maxLen}`;
    }
    const peakTokens = this.peakTokens(req);
    const need = this.kv.blocksFor(peakTokens);
    if (need > this.runner.numKvBlocks) {
      return (
        `needs ${need} KV blocks (${peakTokens} tokens) but the cache holds ${this.runner.numKvBlocks}; ` +
        'lower maxTokens / the prompt, or allocate more KV blocks'
      );
    }
    return null;
  }

  /** The most KV entries the request can hold: the last sampled token never enters the cache. */
  private peakTokens(req: SchedRequest): number {
    return Math.min(req.promptLen + req.params.maxTokens - 1, this.runner.maxModelLen);
  }

  abortRequest(id: string): void {
    const req = this.requests.get(id);
    if (!req || req.status === 'finished') return;
    if (req.status === 'waiting') this.waiting.removeWhere((r) => r === req);
    else this.running = this.running.filter((r) => r !== req);
    this.freeKv(req);
    this.finish(req, 'abort');
    this.finishedPending.push(req);
  }

  hasUnfinished(): boolean {
    return this.waiting.length > 0 || this.running.length > 0 || this.finishedPending.length > 0 || this.inflight !== null;
  }

  /**
   * Async scheduling: waits for a step still in flight and drops its results, so the model holds none (call it when a
   * loop over step() ends early, e.g. on an error). The engine core's requests are left as they are.
   */
  drain(): void {
    if (!this.inflight) return;
    this.inflight = null;
    this.runner.finish!();
  }

  /** Async scheduling: a step is submitted and its results not read yet. */
  get hasInflight(): boolean {
    return this.inflight !== null;
  }

  /**
   * Async scheduling: waits for the step in flight and applies its results like step() does, without submitting
   * another, so the model is idle when it returns (the server runs a prompt-scoring forward then). Outputs as step()'s;
   * an empty result when nothing is in flight.
   */
  settle(): StepResult {
    const t0 = performance.now();
    const cur = this.inflight;
    if (!cur) return this.stepResult([], { numPrefillTokens: 0, numDecodeTokens: 0, sumContextLens: 0 }, 0, 0, t0, 0);
    const tf = performance.now();
    const result = this.runner.finish!();
    const waitMs = performance.now() - tf;
    this.inflight = null;
    const outputs = this.applyResult(cur.slices, result, true);
    return this.stepResult(outputs, cur, cur.slices.length, 0, t0, waitMs);
  }

  get numWaiting(): number {
    return this.waiting.length;
  }

  get numRunning(): number {
    return this.running.length;
  }

  private finish(req: SchedRequest, reason: SchedFinishReason, error?: string): void {
    req.status = 'finished';
    req.finishReason = reason;
    req.error = error;
  }

  /** Sweeps requests that left the running state (preempted, finished) out of `running`: one O(n) pass. */
  private sweepRunning(): void {
    this.running = this.running.filter((r) => r.status === 'running');
  }

  /** Every block of the request back to the cache; its block-table reference and its commitment go with them. */
  private freeKv(req: SchedRequest): void {
    this.kv.free(req.id);
    req.kvTable = null;
    this.committedBlocks -= req.committedBlocks;
    req.committedBlocks = 0;
  }

  /** The victim stays in `running` (status 'waiting') until schedule() sweeps it out. */
  private preempt(victim: SchedRequest): void {
    this.freeKv(victim);
    victim.numComputed = 0;
    victim.status = 'waiting';
    victim.numPreemptions++;
    this.waiting.pushFront(victim);
  }

  /** The running request to preempt so that `req` can grow: the latest admitted one not scheduled yet, else req. */
  private pickVictim(req: SchedRequest): SchedRequest {
    const seq = this.scheduleSeq;
    // Tail entries that can no longer be victims this step (preempted already, or scheduled) are skipped for good,
    // so repeated preemptions in one step walk the running list once, not once per victim.
    while (this.victimCursor >= 0) {
      const r = this.running[this.victimCursor];
      if (r.status === 'running' && r.scheduledIn !== seq && !r.finishing) break;
      this.victimCursor--;
    }
    for (let i = this.victimCursor; i >= 0; i--) {
      const r = this.running[i];
      if (r !== req && r.status === 'running' && r.scheduledIn !== seq && !r.finishing) return r;
    }
    return req;
  }

  private schedule(): { slices: ScheduledSlice[]; preempted: number } {
    let budget = this.maxNumBatchedTokens;
    const slices: ScheduledSlice[] = [];
    const seq = ++this.scheduleSeq;
    let preempted = 0;
    const maxLen = this.runner.maxModelLen;
    const blockSize = this.kv.blockSize;
    this.victimCursor = this.running.length - 1;

    const tryRunning = (req: SchedRequest): void => {
      let numNew = Math.min(req.numUncomputed, budget);
      numNew = Math.min(numNew, maxLen - req.numComputed);
      if (numNew <= 0) return;
      const tokens = req.numComputed + numNew;
      let table = req.kvTable;
      // A decode step mostly fits the blocks the request holds: no manager lookup then.
      if (!table || table.length * blockSize < tokens) {
        for (;;) {
          table = this.kv.grow(req.id, tokens);
          if (table) break;
          const victim = this.pickVictim(req);
          this.preempt(victim);
          preempted++;
          if (victim === req) return;
        }
        req.kvTable = table;
      }
      slices.push({ req, numNew, samples: req.numComputed + numNew === req.numTokens });
      req.scheduledIn = seq;
      budget -= numNew;
    };

    // 1. Running decodes, then running requests part-way through their prefill.
    // Preempted requests stay in `running` (status 'waiting') until the sweep below, so these loops skip them.
    const running = this.running;
    for (let i = 0; i < running.length && budget > 0; i++) {
      const req = running[i];
      if (req.status === 'running' && req.numUncomputed === 1 && !req.finishing) tryRunning(req);
    }
    for (let i = 0; i < running.length && budget > 0; i++) {
      const req = running[i];
      if (req.status === 'running' && req.scheduledIn !== seq && req.numUncomputed > 1 && !req.finishing) tryRunning(req);
    }
    if (preempted > 0) this.sweepRunning();

    // 2. Waiting requests (FCFS, preempted ones at the front), unless this step had to preempt.
    if (preempted === 0) {
      while (this.waiting.length > 0 && budget > 0 && this.running.length < this.maxNumSeqs) {
        const req = this.waiting.peekFront()!;
        let numNew = req.numUncomputed;
        if (!this.enableChunkedPrefill && numNew > budget) break;
        numNew = Math.min(numNew, budget);
        // 'guaranteed-no-evict': it starts only when its whole length fits beside the running ones' whole lengths, so
        // no allocation can fail later; FCFS: the requests behind it wait too.
        const commit = this.capacitySchedulerPolicy === 'guaranteed-no-evict' ? this.kv.blocksFor(this.peakTokens(req)) : 0;
        if (commit > 0 && this.committedBlocks + commit > this.runner.numKvBlocks) break;
        // Its blocks for the whole expected length in one run where the cache has room (kv_cache_manager.ts).
        const table = this.kv.grow(req.id, numNew, this.peakTokens(req));
        if (!table) break;
        this.committedBlocks += commit;
        req.committedBlocks = commit;
        req.kvTable = table;
        this.waiting.popFront();
        req.status = 'running';
        this.running.push(req);
        slices.push({ req, numNew, samples: numNew === req.numTokens });
        req.scheduledIn = seq;
        budget -= numNew;
      }
    }

    // Nothing runnable while work remains cannot happen for requests that passed neverFits(); guard against a hang.
    if (slices.length === 0 && this.running.length === 0 && this.waiting.length > 0 && this.inflight === null) {
      const req = this.waiting.popFront()!;
      this.finish(req, 'error', 'could not be scheduled with an empty engine (KV cache or token budget too small)');
      this.finishedPending.push(req);
    }
    return { slices, preempted };
  }

  step(): StepResult {
    return this.asyncScheduling ? this.stepAsync() : this.stepSync();
  }

  private stepSync(): StepResult {
    const t0 = performance.now();
    this.totalSteps++;
    const { slices, preempted } = this.schedule();
    this.totalPreemptions += preempted;
    let outputs: RequestOutput[] = [];
    let counts = { numPrefillTokens: 0, numDecodeTokens: 0, sumContextLens: 0 };
    let forwardMs = 0;
    let blockMs: BlockTimings | undefined;

    if (slices.length > 0) {
      const batch = buildBatch(slices, this.kv, this.profileBlocks, this.batchArrays);
      const tf = performance.now();
      const result = this.runner.forward(batch);
      forwardMs = performance.now() - tf;
      if (this.profileBlocks && result.blockMs) blockMs = { ...result.blockMs };
      counts = this.advance(slices, batch);
      outputs = this.applyResult(slices, result, false);
    }
    return this.stepResult(outputs, counts, slices.length, preempted, t0, forwardMs, blockMs);
  }

  /**
   * Async scheduling: with step n in flight, schedule and submit step n + 1, then wait for step n and read its
   * samples. Step n + 1 was scheduled as if every request of step n continued: its decode inputs are step n's samples
   * (NativeBatch.tokenSources, read on the device); requests that step n ends by length were left out of it
   * (SchedRequest.finishing); a request that step n ends by EOS or a stop token keeps its row in step n + 1, whose
   * sample is then dropped, and its KV blocks are freed now — later steps run after step n + 1 on the device.
   */
  private stepAsync(): StepResult {
    const t0 = performance.now();
    let runnerMs = 0;
    let preempted = 0;
    const submit = (): InFlightStep | null => {
      const plan = this.schedule();
      preempted += plan.preempted;
      if (plan.slices.length === 0) return null;
      this.totalSteps++;
      const step = this.submitStep(plan.slices);
      runnerMs += step.submitMs;
      return step;
    };
    if (!this.inflight) this.inflight = submit();
    const cur = this.inflight;
    let outputs: RequestOutput[] = [];
    if (cur) {
      const next = submit();
      const tf = performance.now();
      const result = this.runner.finish!();
      runnerMs += performance.now() - tf;
      this.inflight = next;
      outputs = this.applyResult(cur.slices, result, true);
    }
    this.totalPreemptions += preempted;
    const counts = cur ?? { numPrefillTokens: 0, numDecodeTokens: 0, sumContextLens: 0 };
    return this.stepResult(outputs, counts, cur?.slices.length ?? 0, preempted, t0, runnerMs);
  }

  /** Builds and submits one step (async scheduling): its requests advance now, their samples are placeholders. */
  private submitStep(slices: ScheduledSlice[]): InFlightStep {
    const batch = buildBatch(slices, this.kv, false, this.batchArrays);
    const counts = this.advance(slices, batch);
    let k = 0;
    for (const s of slices) {
      if (!s.samples) continue;
      const req = s.req;
      req.addPlaceholder(k++);
      if (req.numOutput >= req.params.maxTokens || req.numTokens >= this.runner.maxModelLen) req.finishing = true;
    }
    const tf = performance.now();
    this.runner.submit!(batch);
    return { slices, ...counts, submitMs: performance.now() - tf };
  }

  /** Counts the step's prefill and decode tokens and moves each request's computed mark past its slice. */
  private advance(slices: readonly ScheduledSlice[], batch: NativeBatch): StepCounts {
    let numPrefillTokens = 0;
    let numDecodeTokens = 0;
    let sumContextLens = 0;
    for (let i = 0; i < batch.contextLens.length; i++) sumContextLens += batch.contextLens[i];
    for (const { req, numNew } of slices) {
      const isDecode = numNew === 1 && req.numComputed === req.numTokens - 1 && req.numOutput > 0;
      if (isDecode) numDecodeTokens += numNew;
      else numPrefillTokens += numNew;
      req.numComputed += numNew;
    }
    return { numPrefillTokens, numDecodeTokens, sumContextLens };
  }

  /**
   * A finished step's samples into its requests: stop checks, KV freed for the ones that end. With async scheduling
   * the samples replace the placeholders, and requests that ended (or were aborted) before these results came back
   * are skipped. Returns the step's outputs.
   */
  private applyResult(slices: readonly ScheduledSlice[], result: NativeStepResult, placeholders: boolean): RequestOutput[] {
    // One pass: a request has one slice per step, and only slices that sample produce an output.
    const outputs: RequestOutput[] = [];
    let k = 0;
    let anyFinished = false;
    for (const s of slices) {
      if (!s.samples) continue;
      const j = k++;
      const req = s.req;
      if (placeholders && req.status === 'finished') continue;  // ended (or aborted) before these results came back
      const token = result.sampled[j];
      if (placeholders) req.resolvePlaceholder(token);
      else req.appendToken(token);
      const reason = this.stopReason(req, token, placeholders ? req.numPlaceholders : 0);
      if (reason) {
        if (req.status === 'waiting') this.waiting.removeWhere((r) => r === req);  // preempted while its step ran
        this.finish(req, reason);
        anyFinished = true;
        this.freeKv(req);
      }
      outputs.push(this.output(req, [token], req.params.logprobs ? [result.sampledLogprob[j]] : NO_LOGPROBS));
    }
    if (anyFinished) this.sweepRunning();
    return outputs;
  }

  private stepResult(
    outputs: RequestOutput[],
    counts: StepCounts,
    numSeqs: number,
    preempted: number,
    t0: number,
    forwardMs: number,
    blockMs?: BlockTimings,
  ): StepResult {
    for (const req of this.finishedPending) outputs.push(this.output(req, [], NO_LOGPROBS));
    this.finishedPending = [];
    for (const o of outputs) if (o.finished) this.requests.delete(o.id);
    const hostMs = performance.now() - t0 - forwardMs;
    return {
      outputs,
      stats: {
        numPrefillTokens: counts.numPrefillTokens,
        numDecodeTokens: counts.numDecodeTokens,
        numRunning: this.running.length,
        numWaiting: this.waiting.length,
        hostMs,
        forwardMs,
        preempted,
        kvBlocksUsed: this.kv.numUsedBlocks,
        numSeqs,
        sumContextLens: counts.sumContextLens,
        ...(blockMs ? { blockMs } : {}),
      },
    };
  }

  /** Why `token` ends the request, or null; `ahead`: tokens after it already in the request (async placeholders). */
  private stopReason(req: SchedRequest, token: number, ahead = 0): SchedFinishReason | null {
    if (!req.params.ignoreEos && this.eos.has(token)) return 'eos';
    if (req.stopIds.has(token)) return 'stop';
    if (req.numOutput - ahead >= req.params.maxTokens) return 'length';
    if (req.numTokens - ahead >= this.runner.maxModelLen) return 'length';
    return null;
  }

  /** A step's output for req: the tokens it produced in the step (one, or none when it ended outside a step). */
  private output(req: SchedRequest, newTokenIds: number[], newLogprobs: number[]): RequestOutput {
    const out: RequestOutput = { id: req.id, newTokenIds, newLogprobs, finished: req.status === 'finished' };
    if (req.finishReason) out.finishReason = req.finishReason;
    if (req.error) out.error = req.error;
    return out;
  }
}
