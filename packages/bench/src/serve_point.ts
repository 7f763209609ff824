/**
 * One benchmark point as an online server sees it: requests enter the running engine at their arrival times on
 * the real clock (at most maxConcurrency in flight), the engine steps continuously, and every token gets the time
 * its step returned. A request's send time is its scheduled arrival (queueing inside the server counts, as it does
 * for `vllm bench serve`), or, when it waited for a --max-concurrency slot, the moment a slot freed.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { EngineCore, StepStats } from './engine_driver.ts';
import type { RequestRecord } from './metrics.ts';
import type { BenchRequest } from './workload.ts';

export interface ServePointOptions {
  requests: readonly BenchRequest[];
  /** ms after the start of the point, one per request, non-decreasing */
  arrivalsMs: readonly number[];
  maxConcurrency: number | null;
  signal?: AbortSignal;
  /** Called after every step (progress, roofline and block accounting). */
  onStep?: (stats: StepStats) => void;
  onRequestDone?: (completed: number) => void;
  /** Steps first..end-1 (0-based) bracketed by profiler(true) before and profiler(false) after (--ncu-steps). */
  profileSteps?: { first: number; end: number; profiler: (on: boolean) => void };
}

export interface ServePointResult {
  records: RequestRecord[];
  /** Start of the point to the last completion. */
  durationS: number;
  steps: number;
  preemptions: number;
  /** Inside core.step(), outside forward() (sum of StepStats.hostMs). */
  hostMs: number;
  forwardMs: number;
  /**
   * Wall time of the loop iterations that stepped: admitting arrivals, core.step(), token bookkeeping and the
   * event-loop turn after it (not the idle waits for the next arrival). host overhead = 1 - forwardMs / loopMs.
   */
  loopMs: number;
  /** True when the signal stopped the point before every request finished. */
  aborted: boolean;
}

export async function servePoint(core: EngineCore, o: ServePointOptions): Promise<ServePointResult> {
  const n = o.requests.length;
  if (o.arrivalsMs.length !== n) throw new RangeError('one arrival time per request');
  const records: RequestRecord[] = o.requests.map((r) => ({
    promptLen: r.promptIds.length,
    sendMs: Number.NaN,
    tokenTimesMs: [],
    success: false,
  }));
  // Tokens received per request: records[i].tokenTimesMs is allocated at its output length when the request is sent
  // and cut to this count when it ends (800 arrays growing one element a step were reallocated as they grew).
  const got = new Int32Array(n);
  let next = 0;
  let inFlight = 0;
  let done = 0;
  let steps = 0;
  let preemptions = 0;
  let hostMs = 0;
  let forwardMs = 0;
  let loopMs = 0;
  let lastFinish = 0;
  let blockedByConcurrency = false;
  const t0 = performance.now();
  let aborted = false;
  const prof = o.profileSteps;
  let profiling = false;

  try {
    while (done < n) {
      if (o.signal?.aborted) {
        aborted = true;
        break;
      }
      const now = performance.now();
      while (next < n && t0 + o.arrivalsMs[next] <= now) {
        if (o.maxConcurrency !== null && inFlight >= o.maxConcurrency) {
          blockedByConcurrency = true;
          break;
        }
        const due = t0 + o.arrivalsMs[next];
        const send = blockedByConcurrency ? now : due;
        blockedByConcurrency = false;
        const req = o.requests[next];
        records[next].sendMs = send;
        records[next].tokenTimesMs = new Array<number>(req.outputLen);
        core.addRequest({
          id: String(next),
          promptIds: req.promptIds,
          params: { maxTokens: req.outputLen, ignoreEos: true, temperature: 0 },
          arrivalTime: send,
        });
        next++;
        inFlight++;
      }
      if (core.hasUnfinished()) {
        if (prof && steps === prof.first) {
          prof.profiler(true);
          profiling = true;
        }
        const { outputs, stats } = core.step();
        const tEnd = performance.now();
        steps++;
        if (profiling && steps === prof!.end) {
          prof!.profiler(false);
          profiling = false;
        }
        preemptions += stats.preempted;
        hostMs += stats.hostMs;
        forwardMs += stats.forwardMs;
        o.onStep?.(stats);
        for (const out of outputs) {
          const i = Number(out.id);
          const rec = records[i];
          for (let k = 0; k < out.newTokenIds.length; k++) rec.tokenTimesMs[got[i]++] = tEnd;
          if (out.finished) {
            rec.tokenTimesMs.length = got[i];
            rec.success = out.finishReason !== 'error' && out.finishReason !== 'abort' && rec.tokenTimesMs.length > 0;
            if (out.error) rec.error = out.error;
            done++;
            inFlight--;
            lastFinish = tEnd;
            o.onRequestDone?.(done);
          }
        }
        // Let signals (Ctrl-C) and timers run between steps.
        await yieldToEventLoop();
        loopMs += performance.now() - now;
      } else if (next < n) {
        const wait = t0 + o.arrivalsMs[next] - performance.now();
        if (wait > 0) await sleep(Math.min(wait, 50));
      }
    }
    if (aborted) {
      for (let i = 0; i < next; i++) core.abortRequest(String(i));
      while (core.hasUnfinished()) core.step();
    }
  } finally {
    for (let i = 0; i < next; i++) records[i].tokenTimesMs.length = got[i];  // cut off by an abort or an error
    if (profiling) prof!.profiler(false);  // the point ended (or failed) inside the window
  }
  return {
    records,
    durationS: Math.max(lastFinish - t0, 1e-9) / 1000,
    steps,
    preemptions,
    hostMs,
    forwardMs,
    loopMs,
    aborted,
  };
}
