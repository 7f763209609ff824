/**
 * Documents -> requests, as lm-eval's ConfigurableTask does it:
 *   context = description + few-shot examples + doc_to_text(doc)
 *   few-shot example = doc_to_text(shot) + target_delimiter + answer(shot) + fewshot_delimiter
 *   multiple choice: one loglikelihood request per choice, (context, target_delimiter + choice)
 *   multiple input (WinoGrande): one request per context, (prefix + context_i, target_delimiter + continuation)
 *   generate_until: (context, until, max_gen_toks)
 * Few-shot docs: 'first_n' takes the first k; 'default' draws Python random.sample(docs, k) from one
 * random.Random(seed) per task, called once per evaluated doc in doc order (lm-eval's fewshot_random_seed=1234).
 * When the few-shot split is the eval split, k+1 are drawn and the evaluated doc is dropped.
 * With `chat` (lm-eval's --apply_chat_template) the context is a rendered chat and multiple-choice continuations
 * carry no target delimiter: see chat.ts.
 */
import { maybeDelimit, qaTurn, renderChat, type ChatOptions, type Turn } from './chat.ts';
import { ShimError } from './errors.ts';
import { applyPipeline, exactMatch } from './filters.ts';
import type { GenerateRequest, LoglikelihoodRequest } from './lm.ts';
import { multipleChoiceScores } from './metrics.ts';
import { PyRandom } from './python_random.ts';
import { loadSplit, type LoadedSplit } from './data/resolve.ts';
import type { ChoiceResult, OutputType, TaskDef } from './task.ts';

export const DEFAULT_FEWSHOT_SEED = 1234;

export type FewshotFallback = 'zero-shot' | 'eval-split';

export interface PlanOptions {
  /** Override the task's num_fewshot. */
  numFewshot?: number;
  /** Evaluate only the first N docs (lm-eval --limit; below 1, that fraction of the docs rounded up). */
  limit?: number | null;
  /** Few-shot sampler seed (lm-eval fewshot_random_seed). */
  seed?: number;
  /** When the few-shot split is absent: run 0-shot (default) or draw shots from the eval split minus the doc. */
  fewshotFallback?: FewshotFallback;
  /** lm-eval's --system_instruction: the system message (chat) or text before the description (plain). */
  systemInstruction?: string;
  /** lm-eval's --apply_chat_template (with fewshot_as_multiturn); null/absent: plain-text prompts. */
  chat?: ChatOptions | null;
}

export type DocResponse = { kind: 'loglikelihood'; results: ChoiceResult[] } | { kind: 'generate_until'; text: string };

export interface PlannedDoc {
  docId: number;
  /** Gold choice index (multiple choice) or reference answer (generation). */
  target: number | string;
  kind: 'loglikelihood' | 'generate_until';
  /** Loglikelihood requests, one per choice (multiple choice tasks). */
  requests: LoglikelihoodRequest[];
  /** The choice strings lm-eval measures for acc_norm (multiple choice tasks). */
  choiceTexts: string[];
  generate?: GenerateRequest;
  /** Per-doc metrics from the model's responses. */
  score(r: DocResponse): Record<string, number>;
}

export interface TaskPlan {
  task: string;
  version: string;
  outputType: OutputType;
  numFewshot: number;
  fewshotSource: string;
  evalSource: string;
  deviations: string[];
  metrics: string[];
  primaryMetric: string;
  /** Docs in the eval split before --limit. */
  numDocsTotal: number;
  docs: PlannedDoc[];
}

export interface FewshotPool<D> {
  docs: D[];
  /** Label recorded as fewshotSource. */
  source: string;
  /** True when the pool is the eval split itself (draw k+1 and drop the evaluated doc). */
  sameAsEval: boolean;
}

function fewshotAnswer<D>(def: TaskDef<D>, shot: D): { q: string; a: string } {
  if (def.outputType === 'generate_until') return { q: def.docToText(shot), a: def.docToTarget(shot) };
  if (def.multipleInput) return { q: def.docToContexts(shot)[def.gold(shot)], a: def.docToContinuation(shot) };
  return { q: def.docToText(shot), a: def.docToChoice(shot)[def.gold(shot)] };
}

/** description + labeled few-shot examples (the part of the context before the evaluated doc). */
export function fewshotPrefix<D>(def: TaskDef<D>, shots: readonly D[], systemInstruction?: string): string {
  // lm-eval: the system message maybe_delimit(system_instruction, description, fewshot_delimiter), as plain text
  let s = maybeDelimit(systemInstruction, def.description, def.fewshotDelimiter);
  for (const shot of shots) {
    const { q, a } = fewshotAnswer(def, shot);
    s += q;
    if (a !== '') s += def.targetDelimiter + a + def.fewshotDelimiter;
  }
  return s;
}

/**
 * The context builder of one evaluated doc: plain text (prefix + q) or, under a chat template, lm-eval's messages
 * (system, few-shot user/assistant turns, user(q)) rendered by the template (ConfigurableTask.fewshot_context).
 */
export function contextBuilder<D>(def: TaskDef<D>, shots: readonly D[], opts: Pick<PlanOptions, 'systemInstruction' | 'chat'> = {}): (q: string) => string {
  if (!opts.chat) {
    const prefix = fewshotPrefix(def, shots, opts.systemInstruction);
    return (q) => prefix + q;
  }
  const chat = opts.chat;
  const turns: Turn[] = [];
  const system = maybeDelimit(opts.systemInstruction, def.description, def.fewshotDelimiter);
  if (system) turns.push({ role: 'system', content: system, delim: '' });
  for (const shot of shots) {
    const { q, a } = fewshotAnswer(def, shot);
    turns.push(...qaTurn(q, a, def.targetDelimiter, def.fewshotDelimiter));
  }
  return (q) => renderChat([...turns, ...qaTurn(q, null, def.targetDelimiter, '')], chat);
}

/** Draws the few-shot docs for each evaluated doc in order (stateful: one generator per task). */
export class FewshotSampler<D> {
  private rnd: PyRandom;
  constructor(
    private readonly kind: 'first_n' | 'default',
    private readonly pool: FewshotPool<D>,
    seed: number,
  ) {
    this.rnd = new PyRandom(seed);
  }

  sample(doc: D, k: number): D[] {
    if (k === 0) return [];
    const n = this.pool.sameAsEval ? k + 1 : k;
    if (n > this.pool.docs.length) {
      throw new ShimError(
        'FEWSHOT_UNAVAILABLE',
        `asked for ${k} few-shot examples but ${this.pool.source} holds ${this.pool.docs.length}; lower --num-fewshot`,
      );
    }
    const drawn = this.kind === 'first_n' ? this.pool.docs.slice(0, n) : this.rnd.sample(this.pool.docs, n);
    return drawn.filter((x) => x !== doc).slice(0, k);
  }
}

function planDoc<D>(def: TaskDef<D>, doc: D, docId: number, context: (q: string) => string, chat: boolean): PlannedDoc {
  if (def.outputType === 'generate_until') {
    const target = def.docToTarget(doc);
    const generate: GenerateRequest = {
      context: context(def.docToText(doc)),
      until: def.generation.until.slice(),
      maxGenToks: def.generation.maxGenToks,
    };
    return {
      docId,
      target,
      kind: 'generate_until',
      requests: [],
      choiceTexts: [],
      generate,
      score(r) {
        if (r.kind !== 'generate_until') throw new ShimError('BAD_RESPONSE', `${def.name}: expected a generation`);
        const out: Record<string, number> = {};
        for (const p of def.filters) out[`exact_match,${p.name}`] = exactMatch(applyPipeline(p, [r.text]), target, def.exactMatch);
        return out;
      },
    };
  }
  const gold = def.gold(doc);
  let requests: LoglikelihoodRequest[];
  let choices: string[];
  // lm-eval ConfigurableTask.construct_requests: target_delimiter "" under apply_chat_template (no gen_prefix)
  const delim = chat ? '' : def.targetDelimiter;
  if (def.multipleInput) {
    choices = def.docToContexts(doc);
    const cont = delim + def.docToContinuation(doc);
    requests = choices.map((c) => ({ context: context(c), continuation: cont }));
  } else {
    choices = def.docToChoice(doc);
    const ctx = context(def.docToText(doc));
    requests = choices.map((c) => ({ context: ctx, continuation: delim + c }));
  }
  const process = def.processResults;
  return {
    docId,
    target: gold,
    kind: 'loglikelihood',
    requests,
    choiceTexts: choices,
    score(r) {
      if (r.kind !== 'loglikelihood' || r.results.length !== choices.length) {
        throw new ShimError('BAD_RESPONSE', `${def.name} doc ${docId}: expected ${choices.length} log-likelihoods`);
      }
      const all = process ? process(doc, r.results, choices) : multipleChoiceScores(r.results, choices, gold);
      const out: Record<string, number> = {};
      for (const m of def.metrics) if (m in all) out[m] = all[m];
      return out;
    },
  };
}

/** Build a plan from documents already in memory (golden tests use this directly). */
export function planFromDocs<D>(
  def: TaskDef<D>,
  evalDocs: D[],
  pool: FewshotPool<D> | null,
  opts: PlanOptions & { evalSource?: string; deviations?: string[]; fewshotNote?: string } = {},
): TaskPlan {
  const k = pool ? (opts.numFewshot ?? def.numFewshot) : 0;
  const limit = opts.limit ?? null;
  // lm-eval: a limit below 1 is a fraction of the documents (rounded up), else a count.
  const docs = limit === null ? evalDocs : evalDocs.slice(0, limit < 1 ? Math.ceil(evalDocs.length * limit) : Math.floor(limit));
  const sampler = pool ? new FewshotSampler(def.sampler, pool, opts.seed ?? DEFAULT_FEWSHOT_SEED) : null;
  const planned = docs.map((doc, i) => planDoc(def, doc, i, contextBuilder(def, sampler ? sampler.sample(doc, k) : [], opts), !!opts.chat));
  const fewshotSource = opts.fewshotNote ?? (k === 0 ? 'none (0-shot)' : (pool?.source ?? 'none (0-shot)'));
  return {
    task: def.name,
    version: def.version,
    outputType: def.outputType,
    numFewshot: k,
    fewshotSource,
    evalSource: opts.evalSource ?? 'in-memory documents',
    deviations: opts.deviations ?? [],
    metrics: def.outputType === 'generate_until' ? def.filters.map((p) => `exact_match,${p.name}`) : def.metrics.slice(),
    primaryMetric: def.primaryMetric,
    numDocsTotal: evalDocs.length,
    docs: planned,
  };
}

/** Load the task's data from the data dir and plan it, choosing the few-shot pool honestly. */
export async function prepareTask<D>(def: TaskDef<D>, dataDir: string, opts: PlanOptions = {}): Promise<TaskPlan> {
  const evalSplit: LoadedSplit<D> | null = await loadSplit(dataDir, def.data.eval);
  if (!evalSplit) {
    const tried = def.data.eval.map((s) => s.path).join(', ');
    throw new ShimError('DATA_MISSING', `${def.name}: no ${def.evalSplit} data under ${dataDir} (looked for ${tried}); pass --data-dir`);
  }
  const k = opts.numFewshot ?? def.numFewshot;
  const deviations = [...evalSplit.deviations];
  if (k === 0) {
    return planFromDocs(def, evalSplit.docs, null, { ...opts, evalSource: evalSplit.source, deviations });
  }
  const fs = await loadSplit(dataDir, def.data.fewshot);
  if (fs) {
    deviations.push(...fs.deviations);
    const sameAsEval = fs.files.join('\n') === evalSplit.files.join('\n');
    const pool: FewshotPool<D> = { docs: sameAsEval ? evalSplit.docs : fs.docs, source: fs.source, sameAsEval };
    return planFromDocs(def, evalSplit.docs, pool, { ...opts, evalSource: evalSplit.source, deviations });
  }
  const missing = `${def.fewshotSplit ?? 'few-shot'} split absent (${k}-shot requested from ${def.fewshotSplit ?? 'a few-shot split'})`;
  if ((opts.fewshotFallback ?? 'zero-shot') === 'eval-split') {
    const pool: FewshotPool<D> = { docs: evalSplit.docs, source: `${evalSplit.source} minus the evaluated doc: ${missing}`, sameAsEval: true };
    return planFromDocs(def, evalSplit.docs, pool, { ...opts, evalSource: evalSplit.source, deviations });
  }
  return planFromDocs(def, evalSplit.docs, null, {
    ...opts,
    evalSource: evalSplit.source,
    deviations,
    fewshotNote: `none (0-shot): ${missing}`,
  });
}
