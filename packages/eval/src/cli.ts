/**
 * `pnpm eval` — lm-eval-compatible accuracy for each precision, recovery vs fp16, and precision-fidelity metrics.
 *   pnpm eval mmlu --model DIR --precision fp8-static [--num-fewshot 5] [--limit 20]
 *   pnpm eval leaderboard-v1 --model DIR --precision all
 *   pnpm eval perplexity --text FILE --model DIR --precision fp16,int8-w8a8
 * Every answered request is appended to a cache (.cache/eval/) as it is computed: Ctrl-C loses nothing, and the
 * same command resumes. Results go to --out (default results/eval-<model>/), see schema.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import yargs from 'yargs';
import { applyContract, KV_CACHE_DTYPE_OPTION, type KvCacheDtype, ATTENTION_DTYPES, type AttentionDtype, BENCH_PRECISIONS, checkModelPath, lockDir, UsageError, didYouMean, isPrecision, missingDataMessage, REPO_ROOT, resolveDataDir, runCliMain, type ActDtype, type DeviceKind, type Precision, loadTokenizer, type TextTokenizer } from '@quantbench/engine';
import { GROUPS, listTasks, TASKS, type FewshotFallback } from '@quantbench/lm-eval-ts-shim';
import { loadEngineLM, type EvalModel, type LoadOptions } from './engine_lm.ts';
import { checkLimit, EVAL_CONTRACT, fewshotSeed, parseBatchSize, resolveTaskArg } from './contract.ts';
import { EvalError } from './errors.ts';
import { runEval } from './evaluate.ts';
import { limitWarning, renderEvalTable } from './summary_table.ts';
import { runPerplexity } from './perplexity_cmd.ts';
import { PERPLEXITY_REFERENCES } from './schema.ts';
import { evalFile, modelLabel, readEvalResult } from './run_files.ts';
import { connectRemote, LOCAL_COMPLETIONS } from './openai_setup.ts';
import { chatSetup, resolveMultiturn, type EvalChat } from './chat.ts';

/** The tokenizer of a local checkpoint (null for synthetic models and directories without tokenizer.json). */
function localTokenizer(model: string): TextTokenizer | null {
  if (model.startsWith('synthetic:') || !fs.existsSync(path.join(model, 'tokenizer.json'))) return null;
  return loadTokenizer(model);
}

export const EXIT_INTERRUPTED = 130;

export interface CliDeps {
  loadModel(opts: LoadOptions): Promise<EvalModel>;
  log(msg: string): void;
}

const defaultDeps: CliDeps = { loadModel: loadEngineLM, log: (m) => process.stderr.write(`${m}\n`) };

export function parsePrecisions(spec: string): Precision[] {
  if (spec.trim() === 'all') return [...BENCH_PRECISIONS];
  const ps = spec.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of ps) {
    if (!isPrecision(p)) {
      throw new EvalError('BAD_ARGS', `--precision: unknown precision "${p}"${didYouMean(p, [...BENCH_PRECISIONS, 'fp32', 'bf16', 'all'])} (use one of ${BENCH_PRECISIONS.join(', ')}, fp32, bf16, a comma list, or all)`);
    }
  }
  if (!ps.length) throw new EvalError('BAD_ARGS', '--precision is empty');
  return ps as Precision[];
}

function dataDirOrThrow(flag: string | undefined): string {
  const d = resolveDataDir(flag);
  if (!d) throw new EvalError('NO_DATA', missingDataMessage('datasets/').replace(/^skipped: /, 'no data dir: '));
  return d;
}

function installSigint(): { stopped: () => boolean; dispose: () => void } {
  let stop = false;
  const on = () => {
    if (stop) {
      process.stderr.write('\nsecond Ctrl-C: exiting now (answers so far are in the request cache)\n');
      process.exit(EXIT_INTERRUPTED);
    }
    stop = true;
    process.stderr.write('\nCtrl-C: stopping after the current batch; answers so far are cached (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    stopped: () => stop,
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

const modelOptions = {
  model: { type: 'string', demandOption: true, describe: 'HF model directory (or synthetic:NAME), or local-completions with --base-url (an OpenAI-compatible server)' },
  precision: { type: 'string', default: 'fp16', describe: `one precision, a comma list, or "all" (${BENCH_PRECISIONS.join(', ')})` },
  device: { choices: ['cpu', 'cuda'] as const, describe: 'engine device (default: the engine chooses)' },
  dtype: { choices: ['fp32', 'fp16', 'bf16'] as const, describe: 'activation dtype of the 16-bit parts' },
  'kv-cache-dtype': { ...KV_CACHE_DTYPE_OPTION, describe: `${KV_CACHE_DTYPE_OPTION.describe}; recorded as provenance.kv_cache_dtype, and fp8 results go to their own default --out (results/eval-<model>-kv-fp8)` },
  'attention-dtype': {
    choices: ATTENTION_DTYPES,
    default: 'auto' as const,
    describe:
      "auto: attention in fp32 on the cache's values; fp8 (with --kv-cache-dtype fp8): FlashAttention-3's FP8 path, as vLLM's FA3 backend runs it with an FP8 cache (Q and P in e4m3, every row); recorded as recipe.attentionDtype, results in their own default --out. CPU reference only for now (--device cpu)",
  },
  calib: { type: 'string', describe: 'calibration text for fp8-static / int8 SmoothQuant (engine default otherwise)' },
  'data-dir': { type: 'string', describe: 'shared data dir holding datasets/ (default: $QB_DATA_DIR, then ../shared)' },
  out: { type: 'string', describe: 'run directory (default results/eval-<model>, or results/eval-<model>-kv-fp8 with --kv-cache-dtype fp8, -kv-fp8-attn-fp8 with --attention-dtype fp8 too); it holds one KV-cache dtype and one attention dtype' },
  progress: { type: 'boolean', default: true, describe: 'progress bar with ETA on stderr (--no-progress to hide)' },
} as const;

export async function main(argv: string[], deps: CliDeps = defaultDeps): Promise<number> {
  let code = 0;
  const outDir = (out: string | undefined, model: string, kv: KvCacheDtype = 'auto', attn: AttentionDtype = 'auto') =>
    out ?? path.join(REPO_ROOT, 'results', `eval-${modelLabel(model)}${kv === 'auto' ? '' : `-kv-${kv}`}${attn === 'auto' ? '' : `-attn-${attn}`}`);
  await applyContract(yargs(argv).scriptName('pnpm eval'), argv, EVAL_CONTRACT)
    .usage('$0 <task|group> --model DIR [--precision fp16|...|all] [--kv-cache-dtype auto|fp8 [--attention-dtype auto|fp8]]\n$0 --tasks T1,T2 --model DIR [lm-eval flags: --num_fewshot --batch_size --limit --output_path --log_samples --seed]\n$0 perplexity --text FILE --model DIR [--precision ...] [--kv-cache-dtype fp8 [--attention-dtype fp8] --reference kv-auto|attention-auto]')
    .command(
      'list',
      'list tasks and groups',
      (y) => y,
      () => {
        for (const g of GROUPS.values()) deps.log(`group ${g.name.padEnd(22)} ${g.aggregation.padEnd(6)} ${g.members.length} members`);
        for (const t of TASKS.values()) deps.log(`task  ${t.name.padEnd(40)} ${t.outputType.padEnd(16)} ${t.numFewshot}-shot default`);
      },
    )
    .command(
      'perplexity',
      'perplexity of a text per precision, and next-token KL / top-1 agreement vs fp16',
      (y) =>
        y
          .options(modelOptions)
          .option('text', { type: 'string', demandOption: true, describe: 'text file to score' })
          .option('chunk-chars', { type: 'number', default: 4000, describe: 'score the text in chunks of at most this many characters' })
          .option('max-chunks', { type: 'number', describe: 'score only the first N chunks' })
          .option('reference', {
            choices: PERPLEXITY_REFERENCES,
            default: 'fp16' as const,
            describe:
              'fp16: KL / top-1 agreement of each precision vs fp16; kv-auto (with --kv-cache-dtype fp8): each precision with an FP8 KV cache vs the same precision with a 16-bit one (and auto attention); attention-auto (with --attention-dtype fp8): vs the same precision and KV cache with auto attention',
          }),
      async (a) => {
        checkModelPath(a.model);
        if (!fs.existsSync(a.text) || !fs.statSync(a.text).isFile()) throw new UsageError(`--text: ${a.text} is not a file`);
        const kv = a.kvCacheDtype as KvCacheDtype;
        const attn = a.attentionDtype as AttentionDtype;
        if (a.reference === 'kv-auto' && kv === 'auto') throw new UsageError('--reference kv-auto compares an FP8 KV cache with a 16-bit one: add --kv-cache-dtype fp8');
        if (attn === 'fp8' && kv !== 'fp8') throw new UsageError('--attention-dtype fp8 computes on the FP8 cache: add --kv-cache-dtype fp8');
        if (a.reference === 'attention-auto' && attn === 'auto') throw new UsageError('--reference attention-auto compares FP8 attention with the default: add --kv-cache-dtype fp8 --attention-dtype fp8');
        const out = outDir(a.out, a.model, kv, attn);
        const { files } = await runPerplexity(
          {
            text: a.text,
            model: a.model,
            precisions: parsePrecisions(a.precision),
            out,
            chunkChars: a.chunkChars,
            maxChunks: a.maxChunks ?? null,
            device: a.device as DeviceKind | undefined,
            dtype: a.dtype as ActDtype | undefined,
            calib: a.calib,
            progress: a.progress,
            kvCacheDtype: kv,
            attentionDtype: attn,
            reference: a.reference,
          },
          { loadModel: (o) => deps.loadModel({ ...o, dataDir: resolveDataDir(a.dataDir) ?? undefined }), log: deps.log },
        );
        for (const f of files) deps.log(`wrote ${f}`);
      },
    )
    .command(
      '$0 [task]',
      'evaluate a task, a group (mmlu, leaderboard-v1, ...) or a comma list',
      (y) =>
        y
          .positional('task', { type: 'string', describe: `task or group: ${listTasks().filter((n) => !n.startsWith('mmlu_')).join(', ')}, mmlu_<subject>` })
          .option('tasks', { type: 'string', describe: "lm-eval's --tasks: the same as the positional (a comma list)" })
          .options(modelOptions)
          .option('num-fewshot', { type: 'number', alias: 'num_fewshot', describe: "override every task's few-shot count (default: the task's / group's protocol)" })
          .option('limit', { type: 'number', describe: 'evaluate only the first N documents of each task (below 1: that fraction, as lm-eval); numbers are then not comparable with full runs' })
          .option('batch-size', { type: 'string', alias: 'batch_size', default: '64', describe: 'requests per engine call (auto = 64)' })
          .option('cache-dir', { type: 'string', describe: 'request cache directory (default .cache/eval)' })
          .option('seed', { type: 'string', default: '1234', describe: "few-shot sampler seed (lm-eval's fewshot_random_seed); lm-eval's four-value form 0,1234,1234,1234 uses the last" })
          .option('output-path', { type: 'string', alias: 'output_path', describe: "where lm-eval's results_<date>.json (and samples with --log_samples) go, under <model>__<precision>/ (default: <out>/lm-eval)" })
          .option('log-samples', { type: 'boolean', alias: 'log_samples', default: false, describe: "also write lm-eval's samples_<task>_<date>.jsonl (ours, samples_<task>_<precision>.jsonl.gz, are always written)" })
          .option('add-bos-token', { type: 'boolean', alias: 'add_bos_token', default: false, describe: "lm-eval's add_bos_token model arg: BOS before every scored context (lm-eval's default false; recorded in results)" })
          .option('apply-chat-template', { type: 'boolean', alias: 'apply_chat_template', default: false, describe: "lm-eval's --apply_chat_template: render every prompt with the model tokenizer's chat template (recorded in results)" })
          .option('fewshot-as-multiturn', { type: 'boolean', alias: 'fewshot_as_multiturn', describe: "lm-eval's --fewshot_as_multiturn: few-shot examples as user/assistant turns (default true with --apply_chat_template; false: one user message)" })
          .option('system-instruction', { type: 'string', alias: 'system_instruction', describe: "lm-eval's --system_instruction: system message (chat) or text before the task description" })
          .option('base-url', { type: 'string', describe: `--model ${LOCAL_COMPLETIONS}: OpenAI-compatible server URL(s), one per --precision label (e.g. http://127.0.0.1:8000/v1/completions)` })
          .option('tokenizer', { type: 'string', describe: `--model ${LOCAL_COMPLETIONS}: tokenizer directory of the served model (default: the served name, when it is a local directory)` })
          .option('served-model', { type: 'string', describe: `--model ${LOCAL_COMPLETIONS}: model name to request (default: the server's first)` })
          .option('num-concurrent', { type: 'number', default: 8, describe: `--model ${LOCAL_COMPLETIONS}: requests in flight per server` })
          .option('max-retries', { type: 'number', default: 5, describe: `--model ${LOCAL_COMPLETIONS}: retries (exponential backoff) on 429, 5xx and connection errors` })
          .option('fewshot-fallback', {
            choices: ['zero-shot', 'eval-split'] as const,
            default: 'zero-shot' as const,
            describe: 'when a few-shot split is absent: run 0-shot, or draw shots from the eval split minus the doc (recorded in fewshotSource)',
          }),
      async (a) => {
        const tasks = resolveTaskArg(a.task, a.tasks);
        if (a.model !== LOCAL_COMPLETIONS) checkModelPath(a.model);
        const precisions = parsePrecisions(a.precision);
        const limit = checkLimit(a.limit);
        const batchSize = parseBatchSize(a.batchSize);
        const seed = fewshotSeed(a.seed);
        const multiturn = resolveMultiturn(a.applyChatTemplate, a.fewshotAsMultiturn);
        const kv = a.kvCacheDtype as KvCacheDtype;
        const attn = a.attentionDtype as AttentionDtype;
        if (a.model === LOCAL_COMPLETIONS && kv !== 'auto') {
          throw new UsageError("--kv-cache-dtype with --model local-completions: the KV-cache dtype is the server's flag (vllm serve / pnpm serve --kv-cache-dtype fp8)");
        }
        if (a.model === LOCAL_COMPLETIONS && attn !== 'auto') {
          throw new UsageError("--attention-dtype with --model local-completions: the server decides its attention math (vLLM's FA3 backend runs FP8 attention with --kv-cache-dtype fp8)");
        }
        if (attn === 'fp8' && kv !== 'fp8') throw new UsageError('--attention-dtype fp8 computes on the FP8 cache: add --kv-cache-dtype fp8');
        // a local checkpoint's template is checked here, before any work; a served model's once its tokenizer is known
        let chat: EvalChat | null = null;
        if (a.applyChatTemplate && a.model !== LOCAL_COMPLETIONS) chat = chatSetup(localTokenizer(a.model), a.model, multiturn);
        const dataDir = dataDirOrThrow(a.dataDir);
        const remote = a.model === LOCAL_COMPLETIONS
          ? await connectRemote({ baseUrl: a.baseUrl, precisions, servedModel: a.servedModel, tokenizer: a.tokenizer, numConcurrent: a.numConcurrent, maxRetries: a.maxRetries, seed, log: deps.log })
          : null;
        if (a.applyChatTemplate && remote) chat = chatSetup(remote.tokenizer, remote.model, multiturn);
        const model = remote?.model ?? a.model;
        const out = outDir(a.out, model, kv, attn);
        const lock = lockDir(out); // one writer per run directory
        const sig = installSigint();
        try {
          const res = await runEval(
            {
              tasks,
              model,
              precisions,
              numFewshot: a.numFewshot ?? null,
              limit,
              batchSize,
              dataDir,
              out,
              cacheDir: a.cacheDir ?? path.join(REPO_ROOT, '.cache', 'eval'),
              device: a.device as DeviceKind | undefined,
              dtype: a.dtype as ActDtype | undefined,
              ...(kv !== 'auto' ? { kvCacheDtype: kv } : {}),
              ...(attn !== 'auto' ? { attentionDtype: attn } : {}),
              calib: a.calib,
              seed,
              lmEval: { outputPath: a.outputPath, logSamples: a.logSamples },
              addBosToken: a.addBosToken,
              chat,
              ...(a.systemInstruction !== undefined ? { systemInstruction: a.systemInstruction } : {}),
              fewshotFallback: a.fewshotFallback as FewshotFallback,
              progress: a.progress && process.stderr.isTTY === true,
            },
            { loadModel: (o) => (remote ? remote.loadModel(o) : deps.loadModel({ ...o, dataDir })), shouldStop: sig.stopped, log: deps.log },
          );
          // re-read: recovery vs fp16 is filled into the files after every precision ran
          deps.log(renderEvalTable(res.results.map((r) => readEvalResult(evalFile(out, model, r.precision)) ?? r)));
          const warn = limitWarning(limit);
          if (warn) deps.log(warn);
        } catch (e) {
          if (e instanceof EvalError && e.code === 'INTERRUPTED') {
            deps.log(e.message);
            code = EXIT_INTERRUPTED;
            return;
          }
          throw e;
        } finally {
          sig.dispose();
          lock.release();
        }
      },
    )
    .help()
    .parseAsync();
  return code;
}

runCliMain(import.meta.url, main);
