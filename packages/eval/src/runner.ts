/**
 * Runs task plans against an LM: collects every request, skips those already in the cache, batches the rest
 * longest-first with all requests of one context adjacent (so an engine call sees a document's choices together and
 * can share their prefix), appends each batch's answers to the cache, then scores every document.
 */
import type { DocResponse, GenerateRequest, LM, LoglikelihoodRequest, TaskPlan } from '@quantbench/lm-eval-ts-shim';
import { genKey, llKey, type RequestCache } from './cache.ts';
import { EvalError } from './errors.ts';
import type { Progress } from './progress.ts';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

export interface ScoredDoc {
  docId: number;
  target: number | string;
  choices?: { logprob: number; isGreedy: boolean; numChars: number }[];
  generation?: string;
  metrics: Record<string, number>;
}

export interface ScoredTask {
  plan: TaskPlan;
  docs: ScoredDoc[];
}

export interface RunOptions {
  batchSize: number;
  progress: Progress;
  /** Polled between batches; true stops the run with INTERRUPTED (everything answered so far is cached). */
  shouldStop?: () => boolean;
  label?: string;
}

export interface RunStats {
  requests: number;
  fromCache: number;
  computed: number;
}

/**
 * Longest-first order that keeps requests with the same context together: contexts ordered by their longest request
 * (context + extra), ties by context; inside a context, longest first, then by extra.
 */
export function groupedLengthOrder<T extends { context: string }>(items: T[], extra: (r: T) => string): T[] {
  const len = (r: T) => r.context.length + extra(r).length;
  const longest = new Map<string, number>();
  for (const r of items) longest.set(r.context, Math.max(longest.get(r.context) ?? 0, len(r)));
  return [...items].sort((a, b) => {
    if (a.context !== b.context) {
      const d = longest.get(b.context)! - longest.get(a.context)!;
      if (d !== 0) return d;
      return a.context < b.context ? -1 : 1;
    }
    const d = len(b) - len(a);
    if (d !== 0) return d;
    const ea = extra(a), eb = extra(b);
    return ea < eb ? -1 : ea > eb ? 1 : 0;
  });
}

export async function runPlans(plans: TaskPlan[], lm: LM, cache: RequestCache, opts: RunOptions): Promise<{ tasks: ScoredTask[]; stats: RunStats }> {
  const ll = new Map<string, LoglikelihoodRequest>();
  const gen = new Map<string, GenerateRequest>();
  let total = 0;
  for (const p of plans) {
    for (const d of p.docs) {
      for (const r of d.requests) {
        total++;
        ll.set(llKey(r), r);
      }
      if (d.generate) {
        total++;
        gen.set(genKey(d.generate), d.generate);
      }
    }
  }
  const keyed = <R extends { context: string }>(m: Map<string, R>) => [...m].filter(([k]) => !cache.has(k)).map(([key, r]) => ({ key, r, context: r.context }));
  const llTodo = groupedLengthOrder(keyed(ll), (x) => x.r.continuation).map((x) => [x.key, x.r] as const);
  const genTodo = groupedLengthOrder(keyed(gen), () => '').map((x) => [x.key, x.r] as const);
  const computed = llTodo.length + genTodo.length;

  const bs = Math.max(1, opts.batchSize);
  opts.progress.start(computed, opts.label ?? 'eval');
  try {
    for (let i = 0; i < llTodo.length; ) {
      // Let signal handlers run: every await below resolves without a trip through the event loop, so without this
      // a Ctrl-C is only seen when the whole run has finished.
      await yieldToEventLoop();
      if (opts.shouldStop?.()) throw interrupted(cache);
      // a batch does not split the requests of one context (it may grow to twice the batch size for that)
      let end = Math.min(llTodo.length, i + bs);
      while (end < llTodo.length && end - i < 2 * bs && llTodo[end]![1].context === llTodo[end - 1]![1].context) end++;
      const batch = llTodo.slice(i, end);
      i = end;
      const res = await lm.loglikelihood(batch.map(([, r]) => r));
      cache.put(batch.map(([k], j) => [k, { ll: { logprob: res[j].logprob, isGreedy: res[j].isGreedy } }]));
      opts.progress.increment(batch.length);
    }
    for (let i = 0; i < genTodo.length; i += bs) {
      await yieldToEventLoop();
      if (opts.shouldStop?.()) throw interrupted(cache);
      const batch = genTodo.slice(i, i + bs);
      const res = await lm.generateUntil(batch.map(([, r]) => r));
      cache.put(batch.map(([k], j) => [k, { gen: res[j] }]));
      opts.progress.increment(batch.length);
    }
  } finally {
    opts.progress.stop();
  }

  const tasks = plans.map((plan) => ({ plan, docs: plan.docs.map((d) => scoreDoc(d, cache)) }));
  return { tasks, stats: { requests: total, fromCache: ll.size + gen.size - computed, computed } };
}

function interrupted(cache: RequestCache): EvalError {
  return new EvalError('INTERRUPTED', `interrupted; ${cache.size} answers are saved in ${cache.file}; rerun the same command to resume`);
}

function scoreDoc(d: TaskPlan['docs'][number], cache: RequestCache): ScoredDoc {
  if (d.generate) {
    const v = cache.get(genKey(d.generate));
    if (!v || !('gen' in v)) throw new EvalError('MISMATCH', `no generation cached for doc ${d.docId}`);
    const r: DocResponse = { kind: 'generate_until', text: v.gen };
    return { docId: d.docId, target: d.target, generation: v.gen, metrics: d.score(r) };
  }
  const results = d.requests.map((q) => {
    const v = cache.get(llKey(q));
    if (!v || !('ll' in v)) throw new EvalError('MISMATCH', `no log-likelihood cached for doc ${d.docId}`);
    return v.ll;
  });
  return {
    docId: d.docId,
    target: d.target,
    choices: results.map((r, i) => ({ logprob: r.logprob, isGreedy: r.isGreedy, numChars: d.choiceTexts[i].length })),
    metrics: d.score({ kind: 'loglikelihood', results }),
  };
}
