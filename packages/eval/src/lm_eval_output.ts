/**
 * lm-eval-harness's own output files, written beside ours so lm-eval users' tooling reads a quantbench run
 * (issue 20). Layout and names as lm-eval's EvaluationTracker writes them:
 *   <output_path>/<model_name_sanitized>/results_<date_id>.json
 *   <output_path>/<model_name_sanitized>/samples_<task>_<date_id>.jsonl     (with --log_samples)
 * where date_id = datetime.now().isoformat() with ":" -> "-". One model directory per precision
 * (<model label>__<precision>, e.g. stories260K_hf__fp16): lm-eval evaluates one model configuration per run.
 * results_*.json keys: results (task -> {"alias", "<metric>,<filter>", "<metric>_stderr,<filter>"}), groups,
 * group_subtasks, configs, versions, n-shot, higher_is_better, n-samples, config, plus model_name, date and ours
 * under "quantbench" (provenance: device, commit, precision, weights).
 * Our own result files (eval_<model>_<precision>.json, schema.ts) are unchanged.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { GroupDef } from '@quantbench/lm-eval-ts-shim';
import { modelLabel } from './run_files.ts';
import type { ScoredTask } from './runner.ts';
import type { EvalResult, MetricValue } from './schema.ts';

/** "acc" -> "acc,none"; generation metrics already carry their filter ("exact_match,strict-match"). */
export function lmEvalKey(metric: string): { value: string; stderr: string; name: string; filter: string } {
  const [name, filter = 'none'] = metric.split(',');
  return { value: `${name},${filter}`, stderr: `${name}_stderr,${filter}`, name, filter };
}

function metricEntries(metrics: Record<string, MetricValue>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [m, v] of Object.entries(metrics)) {
    const k = lmEvalKey(m);
    out[k.value] = v.value;
    // lm-eval writes "N/A" where a stderr cannot be computed
    out[k.stderr] = v.stderr === null || !Number.isFinite(v.stderr) ? 'N/A' : v.stderr;
  }
  return out;
}

/** lm-eval's sanitization of a model name into a directory name. */
export const sanitizeModelName = (name: string): string => name.replace(/["<>:/|\\?*[\]]+/g, '__');

export const lmEvalDateId = (d = new Date()): string => {
  // Python's datetime.now().isoformat(): local time with microseconds, no zone
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const iso = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
  return iso.replace(/:/g, '-');
};

export interface LmEvalOutputArgs {
  /** lm-eval's --output_path (a directory, or a .json file name as lm-eval allows). */
  outputPath: string;
  model: string;
  result: EvalResult;
  tasks: ScoredTask[];
  groups: GroupDef[];
  batchSize: number;
  limit: number | null;
  seed: number;
  addBosToken: boolean;
  /** --apply_chat_template etc., recorded as lm-eval's EvaluationTracker does (top level) and in config. */
  chat?: { template: string; templateSha: string; fewshotAsMultiturn: boolean } | null;
  systemInstruction?: string;
  logSamples: boolean;
  date?: Date;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function lmEvalResults(a: LmEvalOutputArgs): Record<string, unknown> {
  const r = a.result;
  const results: Record<string, Record<string, number | string>> = {};
  const groups: Record<string, Record<string, number | string>> = {};
  const groupSubtasks: Record<string, string[]> = {};
  const configs: Record<string, unknown> = {};
  const versions: Record<string, number | string> = {};
  const nShot: Record<string, number> = {};
  const higher: Record<string, Record<string, boolean>> = {};
  const nSamples: Record<string, { original: number; effective: number }> = {};
  for (const t of a.tasks) {
    const name = t.plan.task;
    const tr = r.results[name];
    if (!tr) continue;
    results[name] = { alias: name, ...metricEntries(tr.metrics) };
    const v = Number(t.plan.version);
    versions[name] = Number.isFinite(v) ? v : t.plan.version;
    nShot[name] = t.plan.numFewshot;
    higher[name] = Object.fromEntries(Object.keys(tr.metrics).map((m) => [lmEvalKey(m).name, true]));
    nSamples[name] = { original: t.plan.numDocsTotal, effective: t.docs.length };
    configs[name] = {
      task: name,
      dataset_path: t.plan.evalSource,
      output_type: t.plan.outputType,
      num_fewshot: t.plan.numFewshot,
      fewshot_config: { sampler: 'see fewshot_source', source: t.plan.fewshotSource },
      metric_list: Object.keys(tr.metrics).map((m) => ({ metric: lmEvalKey(m).name, aggregation: 'mean', higher_is_better: true })),
      metadata: { version: versions[name] },
      ...(t.plan.deviations.length ? { quantbench_deviations: t.plan.deviations } : {}),
    };
  }
  for (const g of a.groups) {
    const gr = r.groups[g.name];
    if (!gr) continue;
    const entry = { alias: g.name, ...metricEntries(gr.metrics) };
    groups[g.name] = entry;
    results[g.name] = entry;
    groupSubtasks[g.name] = gr.subtasks.slice();
    higher[g.name] = Object.fromEntries(Object.keys(gr.metrics).map((m) => [lmEvalKey(m).name, true]));
    versions[g.name] = 'N/A';
  }
  for (const name of Object.keys(nShot)) if (!Object.values(groupSubtasks).some((s) => s.includes(name))) groupSubtasks[name] = [];
  const modelName = `${a.model}@${r.precision}`;
  const date = a.date ?? new Date();
  // one directory per model and precision, named like our files (no local path in committed results)
  return {
    results,
    groups,
    group_subtasks: groupSubtasks,
    configs,
    versions,
    'n-shot': nShot,
    higher_is_better: higher,
    'n-samples': nSamples,
    config: {
      model: 'quantbench',
      // kv_cache_dtype as lm-eval's vllm backend passes it (model_args=...,kv_cache_dtype=fp8); absent for auto
      // and the engine's attention dtype after it when fp8 (vLLM has no such argument: its FA3 backend implies it)
      model_args: `pretrained=${a.model},precision=${r.precision},add_bos_token=${a.addBosToken}${(r.provenance.kv_cache_dtype ?? 'auto') !== 'auto' ? `,kv_cache_dtype=${r.provenance.kv_cache_dtype}` : ''}${r.provenance.recipe.attentionDtype ? `,attention_dtype=${r.provenance.recipe.attentionDtype}` : ''}`,
      batch_size: a.batchSize,
      batch_sizes: [],
      device: r.provenance.device,
      limit: a.limit,
      bootstrap_iters: 0,
      gen_kwargs: null,
      random_seed: 0,
      numpy_seed: a.seed,
      torch_seed: a.seed,
      fewshot_seed: a.seed,
      apply_chat_template: !!a.chat,
      fewshot_as_multiturn: a.chat?.fewshotAsMultiturn ?? false,
    },
    // lm-eval's GeneralConfigTracker fields (loggers/evaluation_tracker.py)
    system_instruction: a.systemInstruction ?? null,
    system_instruction_sha: a.systemInstruction ? sha256(a.systemInstruction) : null,
    fewshot_as_multiturn: a.chat?.fewshotAsMultiturn ?? false,
    chat_template: a.chat?.template ?? null,
    chat_template_sha: a.chat?.templateSha ?? null,
    git_hash: r.provenance.commit,
    date: date.getTime() / 1000,
    model_name: modelName,
    model_name_sanitized: sanitizeModelName(`${modelLabel(a.model)}__${r.precision}`),
    quantbench: { provenance: r.provenance, precision: r.precision, weights: r.provenance.weights, note: 'bootstrap_iters 0: stderr is the standard error of the mean over documents' },
  };
}

/** lm-eval's per-sample lines for one task. */
export function lmEvalSamples(t: ScoredTask): Record<string, unknown>[] {
  return t.plan.docs.map((pd, i) => {
    const d = t.docs[i]!;
    const args = pd.kind === 'generate_until' && pd.generate
      ? [[pd.generate.context, { until: pd.generate.until, max_gen_toks: pd.generate.maxGenToks }]]
      : pd.requests.map((q) => [q.context, q.continuation]);
    const resps = d.choices ? d.choices.map((c) => [[c.logprob, c.isGreedy]]) : [[d.generation ?? '']];
    const filtered = d.choices ? d.choices.map((c) => [c.logprob, c.isGreedy]) : [d.generation ?? ''];
    const target = typeof d.target === 'number' ? d.target : d.target;
    const arguments_: Record<string, Record<string, unknown>> = {};
    args.forEach((arg, k) => {
      arguments_[`gen_args_${k}`] = Object.fromEntries(arg.map((x, j) => [`arg_${j}`, x]));
    });
    const metrics = Object.keys(d.metrics);
    return {
      doc_id: d.docId,
      doc: { choices: pd.choiceTexts },
      target: String(target),
      arguments: arguments_,
      resps,
      filtered_resps: filtered,
      filter: 'none',
      metrics: metrics.map((m) => lmEvalKey(m).name),
      doc_hash: sha256(JSON.stringify({ doc_id: d.docId, choices: pd.choiceTexts })),
      prompt_hash: sha256(String(args[0]?.[0] ?? '')),
      target_hash: sha256(String(target)),
      ...Object.fromEntries(Object.entries(d.metrics).map(([m, v]) => [lmEvalKey(m).name, v])),
    };
  });
}

/** Writes results_<date>.json (and samples_<task>_<date>.jsonl with logSamples); returns the files. */
export function writeLmEvalOutput(a: LmEvalOutputArgs): string[] {
  const date = a.date ?? new Date();
  const dateId = lmEvalDateId(date);
  const res = lmEvalResults({ ...a, date });
  let dir: string;
  let resultsFile: string;
  if (a.outputPath.endsWith('.json')) {
    dir = path.dirname(a.outputPath);
    resultsFile = path.join(dir, `${path.basename(a.outputPath, '.json')}_${dateId}.json`);
  } else {
    dir = path.join(a.outputPath, res.model_name_sanitized as string);
    resultsFile = path.join(dir, `results_${dateId}.json`);
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(resultsFile, JSON.stringify(res, null, 2) + '\n');
  const files = [resultsFile];
  if (a.logSamples) {
    for (const t of a.tasks) {
      const f = path.join(dir, `samples_${t.plan.task}_${dateId}.jsonl`);
      fs.writeFileSync(f, lmEvalSamples(t).map((s) => JSON.stringify(s)).join('\n') + '\n');
      files.push(f);
    }
  }
  return files;
}
