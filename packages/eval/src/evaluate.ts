/**
 * `pnpm eval <task|group>`: plan the tasks once, then for each precision (fp16 first) load the model, answer the
 * requests (cached), score, write results + samples, and compare every quantized run with the fp16 run of the same
 * model in the same directory (recovery %, fidelity).
 */
import { attentionDtypeOf, kvCacheDtypeOf, type ActDtype, type AttentionDtype, type DeviceKind, type KvCacheDtype, type Precision } from '@quantbench/engine';
import {
  DEFAULT_FEWSHOT_SEED,
  expand,
  SHIM_VERSION,
  TASKS,
  type FewshotFallback,
  type TaskPlan,
} from '@quantbench/lm-eval-ts-shim';
import fs from 'node:fs';
import path from 'node:path';
import type { EvalChat } from './chat.ts';
import { writeLmEvalOutput } from './lm_eval_output.ts';
import { RequestCache } from './cache.ts';
import type { EvalModel, LoadOptions } from './engine_lm.ts';
import { EvalError } from './errors.ts';
import { compareSamples, FLIP_RULE } from './fidelity.ts';
import { makeProgress } from './progress.ts';
import { aggregateGroups, applyRecovery, summarizeTask, toSamples } from './results.ts';
import { evalFile, fidelityFile, readEvalResult, readFidelity, readSamples, samplesFile, writeJson, writeSamples } from './run_files.ts';
import { runPlans } from './runner.ts';
import { EVAL_SCHEMA_VERSION, type EvalResult, type FidelityResult, type TaskResult } from './schema.ts';

export const EVAL_VERSION = '0.1.0';

export interface EvalArgs {
  tasks: string;
  model: string;
  precisions: Precision[];
  numFewshot: number | null;
  limit: number | null;
  batchSize: number;
  dataDir: string;
  out: string;
  cacheDir: string;
  device?: DeviceKind;
  dtype?: ActDtype;
  /** vLLM's --kv-cache-dtype (default auto); a run directory holds one. */
  kvCacheDtype?: KvCacheDtype;
  /** The engine's attention dtype (default auto; fp8 needs kvCacheDtype fp8); a run directory holds one. */
  attentionDtype?: AttentionDtype;
  calib?: string;
  seed?: number;
  fewshotFallback?: FewshotFallback;
  /** lm-eval's own output files (results_<date>.json, samples_<task>_<date>.jsonl); see lm_eval_output.ts. */
  lmEval?: { outputPath?: string; logSamples?: boolean };
  /** lm-eval's add_bos_token (default false, as lm-eval's): BOS before every scored context; recorded in results. */
  addBosToken?: boolean;
  /** lm-eval's --apply_chat_template (+ fewshot_as_multiturn): prompts rendered by the model's chat template. */
  chat?: EvalChat | null;
  /** lm-eval's --system_instruction. */
  systemInstruction?: string;
  progress?: boolean;
}

export interface EvalDeps {
  loadModel(opts: LoadOptions): Promise<EvalModel>;
  shouldStop?: () => boolean;
  log?: (msg: string) => void;
}

export interface EvalOutcome {
  results: EvalResult[];
  files: string[];
  stats: Record<string, { total: number; computed: number; fromCache: number }>;
}

/** fp16 first so every quantized run can be compared as soon as it finishes. */
export function orderPrecisions(ps: Precision[]): Precision[] {
  const uniq = [...new Set(ps)];
  return [...uniq.filter((p) => p === 'fp16'), ...uniq.filter((p) => p !== 'fp16')];
}

export async function planTasks(args: EvalArgs): Promise<{ plans: TaskPlan[]; groups: ReturnType<typeof expand>['groups'] }> {
  const { tasks, groups } = expand(args.tasks);
  const plans: TaskPlan[] = [];
  for (const t of tasks) {
    const reg = TASKS.get(t.name);
    if (!reg) throw new EvalError('BAD_ARGS', `unknown task ${t.name}`);
    plans.push(
      await reg.prepare(args.dataDir, {
        numFewshot: args.numFewshot ?? t.numFewshot,
        limit: args.limit,
        seed: args.seed ?? DEFAULT_FEWSHOT_SEED,
        fewshotFallback: args.fewshotFallback ?? 'zero-shot',
        chat: args.chat ?? null,
        ...(args.systemInstruction !== undefined ? { systemInstruction: args.systemInstruction } : {}),
      }),
    );
  }
  return { plans, groups };
}

export async function runEval(args: EvalArgs, deps: EvalDeps): Promise<EvalOutcome> {
  const log = deps.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const { plans, groups } = await planTasks(args);
  const nDocs = plans.reduce((a, p) => a + p.docs.length, 0);
  log(`eval: ${plans.length} task(s), ${nDocs} documents, precisions ${orderPrecisions(args.precisions).join(', ')}`);
  for (const p of plans) if (p.fewshotSource.startsWith('none (0-shot):')) log(`  ${p.task}: ${p.fewshotSource}`);

  const outcome: EvalOutcome = { results: [], files: [], stats: {} };
  checkRunDtypes(args.out, args.kvCacheDtype ?? 'auto', args.attentionDtype ?? 'auto');
  fs.mkdirSync(args.out, { recursive: true });
  for (const precision of orderPrecisions(args.precisions)) {
    const started = Date.now();
    const addBosToken = args.addBosToken ?? false;
    const model = await deps.loadModel({ model: args.model, precision, dtype: args.dtype, ...(args.kvCacheDtype ? { kvCacheDtype: args.kvCacheDtype } : {}), ...(args.attentionDtype && args.attentionDtype !== 'auto' ? { attentionDtype: args.attentionDtype } : {}), device: args.device, calib: args.calib, addBosToken, chatBosText: args.chat?.bosText ?? null });
    try {
      const cache = new RequestCache(args.cacheDir, {
        model: args.model,
        precision,
        dtype: args.dtype,
        device: model.cacheTag ?? model.info.device,
        calib: args.calib,
        addBosToken,
        kvCacheDtype: args.kvCacheDtype ?? 'auto',
        attentionDtype: args.attentionDtype ?? 'auto',
        chat: args.chat ?? null,
        ...(args.systemInstruction !== undefined ? { systemInstruction: args.systemInstruction } : {}),
      });
      const { tasks, stats } = await runPlans(plans, model, cache, {
        batchSize: args.batchSize,
        progress: makeProgress(args.progress),
        shouldStop: deps.shouldStop,
        label: precision,
      });
      outcome.stats[precision] = { total: stats.requests, computed: stats.computed, fromCache: stats.fromCache };
      const results: Record<string, TaskResult> = {};
      const nShot: Record<string, number> = {};
      const versions: Record<string, string> = { 'quantbench-eval': EVAL_VERSION, 'lm-eval-ts-shim': SHIM_VERSION };
      for (const t of tasks) {
        results[t.plan.task] = summarizeTask(t);
        nShot[t.plan.task] = t.plan.numFewshot;
        versions[t.plan.task] = t.plan.version;
        const sf = samplesFile(args.out, t.plan.task, precision);
        writeSamples(sf, toSamples(t));
        outcome.files.push(sf);
      }
      const result: EvalResult = {
        schema: 'quantbench.eval.result',
        version: EVAL_SCHEMA_VERSION,
        provenance: model.provenance(),
        precision,
        results,
        groups: aggregateGroups(results, groups),
        'n-shot': nShot,
        config: {
          limit: args.limit,
          batchSize: args.batchSize,
          dataDir: args.dataDir,
          seed: args.seed ?? DEFAULT_FEWSHOT_SEED,
          numFewshot: args.numFewshot,
          fewshotFallback: args.fewshotFallback ?? 'zero-shot',
          addBosToken,
          ...(args.chat ? { applyChatTemplate: true, fewshotAsMultiturn: args.chat.fewshotAsMultiturn, chatTemplateSha: args.chat.templateSha } : {}),
          ...(args.systemInstruction !== undefined ? { systemInstruction: args.systemInstruction } : {}),
          requests: outcome.stats[precision],
        },
        versions,
        durationS: (Date.now() - started) / 1000,
      };
      const ef = evalFile(args.out, args.model, precision);
      writeJson(ef, result);
      outcome.files.push(ef);
      outcome.results.push(result);
      // lm-eval's own files beside ours (default <out>/lm-eval; --output_path moves them)
      outcome.files.push(
        ...writeLmEvalOutput({
          outputPath: args.lmEval?.outputPath ?? path.join(args.out, 'lm-eval'),
          model: args.model,
          result,
          tasks,
          groups,
          batchSize: args.batchSize,
          limit: args.limit,
          seed: args.seed ?? DEFAULT_FEWSHOT_SEED,
          addBosToken,
          chat: args.chat ?? null,
          ...(args.systemInstruction !== undefined ? { systemInstruction: args.systemInstruction } : {}),
          logSamples: args.lmEval?.logSamples ?? false,
        }),
      );
      log(`  ${precision}: ${stats.computed} requests computed, ${stats.fromCache} from cache -> ${ef}`);
    } finally {
      await model.close();
    }
  }
  outcome.files.push(...compareWithReference(args.out, args.model, args.precisions, log));
  return outcome;
}

/**
 * A run directory holds results of one KV-cache dtype and one attention dtype (recovery and fidelity compare files in
 * it): refuse to add results of another (an EvalError BAD_ARGS, exit 2) before any model loads.
 */
export function checkRunDtypes(out: string, kv: KvCacheDtype, attn: AttentionDtype): void {
  if (!fs.existsSync(out)) return;
  for (const f of fs.readdirSync(out)) {
    if (!/^eval_.*\.json$/.test(f)) continue;
    let was: KvCacheDtype;
    let wasAttn: AttentionDtype;
    try {
      const prov = (JSON.parse(fs.readFileSync(path.join(out, f), 'utf8')) as EvalResult).provenance;
      was = kvCacheDtypeOf(prov);
      wasAttn = attentionDtypeOf(prov);
    } catch {
      continue;
    }
    if (was !== kv) {
      throw new EvalError('BAD_ARGS', `--kv-cache-dtype ${kv}: ${path.join(out, f)} holds results with KV-cache dtype ${was}; recovery and fidelity would compare the two: use another --out (the default directory differs per KV-cache dtype)`);
    }
    if (wasAttn !== attn) {
      throw new EvalError('BAD_ARGS', `--attention-dtype ${attn}: ${path.join(out, f)} holds results with attention dtype ${wasAttn}; recovery and fidelity would compare the two: use another --out (the default directory differs per attention dtype)`);
    }
  }
}

/**
 * For each quantized precision with a result in `out`, fill recovery % from the fp16 result and write the fidelity
 * file from the per-sample files. Returns the files written.
 */
export function compareWithReference(out: string, model: string, precisions: Precision[], log: (m: string) => void = () => {}): string[] {
  const ref = readEvalResult(evalFile(out, model, 'fp16'));
  if (!ref) return [];
  const written: string[] = [];
  for (const p of precisions) {
    if (p === 'fp16') continue;
    const ef = evalFile(out, model, p);
    const q = readEvalResult(ef);
    if (!q) continue;
    applyRecovery(q, ref);
    writeJson(ef, q);
    const perTask: FidelityResult['perTask'] = {};
    const missing: string[] = [];
    for (const [task, tr] of Object.entries(q.results)) {
      const rs = readSamples(samplesFile(out, task, 'fp16'));
      const qs = readSamples(samplesFile(out, task, p));
      if (rs && qs) perTask[task] = compareSamples(rs, qs, tr.primaryMetric);
      else missing.push(task);
    }
    if (missing.length) {
      log(`  ${p}: no fidelity for ${missing.length} task(s) without both per-sample files (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}): run them at fp16 and ${p} into ${out}`);
    }
    const ff = fidelityFile(out, model, p);
    const prev = readFidelity(ff);
    const fid: FidelityResult = {
      schema: 'quantbench.eval.fidelity',
      version: EVAL_SCHEMA_VERSION,
      provenance: q.provenance,
      precision: p,
      reference: 'fp16',
      perTask: { ...(prev?.perTask ?? {}), ...perTask },
      ...(prev?.text ? { text: prev.text } : {}),
      flipRule: FLIP_RULE,
    };
    writeJson(ff, fid);
    written.push(ff);
    log(`  ${p}: recovery and fidelity vs fp16 -> ${ff}`);
  }
  return written;
}
