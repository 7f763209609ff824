/**
 * Runs task plans against an LM: collects every request, skips those already in the cache, batches the rest
 * sorted longest-first (requests with the same context stay adjacent, so an engine can share the prefix), appends
 * each batch's answers to the cache, then scores every document.
 */
import type { DocResponse, GenerateRequest, LM, LoglikelihoodRequest, TaskPlan } from '@quantbench/lm-eval-ts-shim';
import { genKey, llKey, type RequestCache } from './cache.ts';
import { EvalError } from './errors.ts';
import type { Progress } from './progress.ts';

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

function lengthOrder<T extends { context: string }>(extra: (r: T) => string) {
  return (a: T, b: T) => {
    const la = a.context.length + extra(a).length;
    const lb = b.context.length + extra(b).length;
    if (la !== lb) return lb - la;
    if (a.context !== b.context) return a.context < b.context ? -1 : 1;
    return 0;
  };
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
  const llTodo = [...ll].filter(([k]) => !cache.has(k));
  const genTodo = [...gen].filter(([k]) => !cache.has(k));
  llTodo.sort((a, b) => lengthOrder<LoglikelihoodRequest>((r) => r.continuation)(a[1], b[1]));
  genTodo.sort((a, b) => lengthOrder<GenerateRequest>(() => '')(a[1], b[1]));
  const computed = llTodo.length + genTodo.length;

  const bs = Math.max(1, opts.batchSize);
  opts.progress.start(computed, opts.label ?? 'eval');
  try {
    for (let i = 0; i < llTodo.length; i += bs) {
      if (opts.shouldStop?.()) throw interrupted(cache);
      const batch = llTodo.slice(i, i + bs);
      const res = await lm.loglikelihood(batch.map(([, r]) => r));
      cache.put(batch.map(([k], j) => [k, { ll: { logprob: res[j].logprob, isGreedy: res[j].isGreedy } }]));
      opts.progress.increment(batch.length);
    }
    for (let i = 0; i < genTodo.length; i += bs) {
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
