/**
 * `pnpm bench` — serving sweeps (workload x precision x max batch x max batched tokens x request rate) under a
 * protocol (--protocol study|peer, protocol.ts), `--profile-blocks` decode-step
 * breakdowns, `pnpm bench kernels` op microbenchmarks and `pnpm bench latency` raw step latency (latency/).
 * Results go to results/<run>/ (see schema.ts).
 * Ctrl-C stops after the current step: finished points are already on disk, the summary is written from them, and the
 * exit code is 130; `--run NAME --resume` continues the run.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import yargs from 'yargs';
import { applyContract, checkModelPath, gitCommit, UsageError, REPO_ROOT, runCliMain } from '@quantbench/engine';
import { BENCH_CONTRACT } from './contract.ts';
import { cudaAvailable, loadBenchEngine, loaderFromModule, type EngineLoader } from './engine_driver.ts';
import { runKernelBench } from './kernels.ts';
import { LATENCY_DESCRIPTION, latencyBuilder, latencyHandler } from './latency/command.ts';
import { resolveBench, parseIntList, type RawBenchFlags } from './options.ts';
import { profileBlocks } from './profile_blocks.ts';
import { terminalProgress } from './progress.ts';
import { defaultRunName, openRunDir } from './run_dir.ts';
import { checkOrRecordSetup, lockRunDir, resumeCommand, runDirFor, runSetupOf } from './run_safety.ts';
import { readCeilingsFile } from './ceilings.ts';
import { renderTable, writeSummary } from './summary.ts';
import { kvCacheDtypesFor, runSweep } from './sweep.ts';
import { runOpenAIBenchCli } from './openai_cli.ts';
import { PEER_MAX_NUM_BATCHED_TOKENS, PEER_MAX_NUM_SEQS, PEER_SOURCE } from './protocol.ts';

/** --help epilogue: the two protocols and the peer numbers. */
export const PROTOCOL_HELP = [
  'Protocols (--protocol; one command each; recorded in every point and in run.json; --resume refuses another):',
  "study (default): the study's sweep: max batch 256 (--batch), 256 prompts (1024 at batch 256), any --rate, lengths varied by --range-ratio, 8192 batched tokens per step.",
  `peer: what ${PEER_SOURCE.engine}'s perf overview runs (${PEER_SOURCE.doc}), so our numbers sit beside theirs: fixed lengths ` +
    '(decode-heavy = 128/2048, prefill-heavy = 2048/128, 128/128), every output run to its full length (EOS ignored), all requests ' +
    'at once (rate inf), their request count per ISL/OSL (3000 for 128/2048 and 2048/128, 30000 for 128/128; --num-prompts N ' +
    `runs another count and every point says so), max batch ${PEER_MAX_NUM_SEQS} and ${PEER_MAX_NUM_BATCHED_TOKENS} batched tokens per step ` +
    "(trtllm-bench's defaults; --batch and --max-num-batched-tokens override), the KV cache sized from --gpu-memory-utilization " +
    'of GPU memory and in FP8 for FP8 precisions, a request started only when its whole length fits (TensorRT-LLM\'s default ' +
    'GUARANTEED_NO_EVICT: --capacity-scheduler-policy guaranteed-no-evict, nothing preempted), host scheduling overlapped ' +
    '(--async-scheduling).',
  'Peer numbers: the summary table\'s "peer" column shows the published output tok/s for the same card, precision and lengths ' +
    '(packages/bench/data/peers.json, each with its source: TensorRT-LLM 1.0, H200, Llama-3.1-8B FP8, TP1: 26,221 at 128/2048, ' +
    '3,538 at 2048/128, 27,911 at 128/128; v0.14 on H100 FP16), and summary.json lists where our protocol differs from theirs.',
  'Host overhead: every point records host_overhead_fraction (the share of step time outside forward()); the table prints it.',
].join('\n\n');
import { vllmOptionsOf } from './vllm_flags.ts';

export const EXIT_INTERRUPTED = 130;
/** Some point had failed requests (their reasons are in the point's `errors`). */
export const EXIT_POINT_FAILED = 1;

function installSigint(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) {
      process.stderr.write('\nsecond Ctrl-C: exiting now (finished points are already in points.jsonl)\n');
      process.exit(EXIT_INTERRUPTED);
    }
    process.stderr.write('\nCtrl-C: stopping; finished points are kept and the summary is written (Ctrl-C again to quit now)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    },
  };
}

const log = (m: string) => process.stderr.write(m + '\n');

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  await applyContract(yargs(argv).scriptName('pnpm bench'), argv, BENCH_CONTRACT)
    .option('results-dir', { type: 'string', default: path.join(REPO_ROOT, 'results'), describe: 'where run directories go' })
    .option('run', { type: 'string', describe: 'run name (results/<run>/); default: a timestamp' })
    .option('engine-module', { type: 'string', hidden: true, describe: 'module exporting loadEngine (another engine or a test double)' })
    .command(
      'kernels',
      'time native ops: CUDA kernels with device events on a GPU, the CPU reference ops with tinybench otherwise',
      (y) =>
        y
          .option('dim', { type: 'number', describe: 'GEMM N = K (default 1024; --quick 256)' })
          .option('tokens', { type: 'string', describe: 'GEMM M values (default 1,16,64; --quick 1,16)' })
          .option('time-ms', { type: 'number', default: 200, describe: 'tinybench time per case' })
          .option('quick', { type: 'boolean', default: false })
          .option('seed', { type: 'number', default: 0 })
          .option('cpu', { type: 'boolean', default: false, describe: 'time the CPU reference ops even when a CUDA GPU is visible' }),
      async (a) => {
        const run = a.run ?? defaultRunName();
        const runDir = runDirFor(a.resultsDir, run);
        const lock = lockRunDir(runDir);
        try {
          openRunDir(runDir, true);
          if (cudaAvailable() && !a.cpu) {
            // GPU: the CUDA kernel harness (native/tools: CUDA events, graph replay, rotating weights) times every
            // kernel; its rows are imported into this run with provenance (scripts/device/import_kernels.ts).
            const out = path.join(runDir, 'harness');
            log(`CUDA device visible: timing the CUDA kernels with device events (scripts/device/kernels.sh) -> ${out}`);
            const env = { ...process.env, OUT: out, QB_RESULTS_DIR: a.resultsDir };
            const h = spawnSync('bash', [path.join(REPO_ROOT, 'scripts/device/kernels.sh'), '--bench-only', ...(a.quick ? ['--quick'] : [])], { stdio: 'inherit', env });
            if (h.status !== 0) throw new Error(`the CUDA kernel harness failed (exit ${h.status}); its log is in ${out}`);
            const imp = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'scripts/device/import_kernels.ts'), out, gitCommit(), run], { stdio: 'inherit', env, cwd: REPO_ROOT });
            if (imp.status !== 0) throw new Error(`importing the harness timings failed (exit ${imp.status})`);
            log(`kernel timings: ${path.join(runDir, 'kernels.jsonl')} (device events; the roofline column is the harness's, against the card's ceilings in native/device_ceilings.json)`);
            return;
          }
          const res = await runKernelBench(
            {
              runDir,
              dim: a.dim ?? (a.quick ? 256 : 1024),
              tokens: a.tokens ? parseIntList(a.tokens, 'tokens') : a.quick ? [1, 16] : [1, 16, 64],
              attention: a.quick ? { batch: 4, context: 128, heads: 8, kvHeads: 2, headDim: 64 } : { batch: 16, context: 512, heads: 32, kvHeads: 8, headDim: 128 },
              timeMs: a.timeMs,
              seed: a.seed,
            },
            log,
          );
          for (const k of res) {
            log(`${k.op.padEnd(16)} ${k.precision.padEnd(12)} ${JSON.stringify(k.shape).padEnd(44)} ${k.medianUs.toFixed(1).padStart(10)} us` +
              (k.achievedTflops !== undefined ? `  ${(k.achievedTflops * 1000).toFixed(2)} GFLOP/s` : ''));
          }
          log(`kernel timings: ${path.join(runDir, 'kernels.jsonl')} (CPU: no roofline ceiling measured)`);
        } finally {
          lock.release();
        }
      },
    )
    .command('latency', LATENCY_DESCRIPTION, latencyBuilder, latencyHandler)
    .command(
      '$0',
      'serving sweep: workload x precision x max batch size x request rate',
      (y) =>
        y
          .option('model', { type: 'string', describe: 'synthetic:NAME or a model directory (default synthetic:llama-3.1-8b on CUDA, synthetic:tiny on CPU); with --backend openai: the served model name to request (default: the server\'s first)' })
          .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
          .option('precision', { type: 'string', describe: 'comma list (default: fp16,int8-w8a8,fp8-dynamic,fp8-static)' })
          .option('kv-cache-dtype', {
            type: 'string',
            describe:
              "KV-cache dtype, vLLM's flag: auto (the activation dtype) or fp8 (FP8 E4M3; per-layer k_scale/v_scale from the checkpoint, else 1.0); " +
              'a comma list (auto,fp8) sweeps it inside each precision; every point records it (engine.kvCacheDtype, provenance.kv_cache_dtype). ' +
              'Default: the protocol\'s (study: auto; peer: fp8 for the FP8 precisions)',
          })
          .option('protocol', { choices: ['study', 'peer'] as const, default: 'study' as const, describe: "study: the study's sweep; peer: TensorRT-LLM's perf-overview protocol (see below)" })
          .option('workload', { type: 'string', default: 'prefill-heavy', describe: 'prefill-heavy (2048/128) | decode-heavy (128/2048) | 128/128 | custom' })
          .option('input-len', { type: 'number' })
          .option('output-len', { type: 'number' })
          .option('range-ratio', { type: 'number', default: 0, describe: 'lengths uniform in [L(1-r), L(1+r)] (vLLM random dataset)' })
          .option('num-prompts', { type: 'number', describe: 'default 256 (1024 at max batch 256); --protocol peer: the peer\'s count (3000 / 30000); --quick 8' })
          .option('prompts-per-batch', { type: 'number', describe: 'instead of --num-prompts: max(2, N x max batch) prompts per point (short GPU runs: N waves of a full batch)' })
          .option('seed', { type: 'number', default: 0 })
          .option('batch', { type: 'string', describe: `max batch sizes (maxNumSeqs), comma list, up to ${PEER_MAX_NUM_SEQS} and beyond (default 256; --protocol peer ${PEER_MAX_NUM_SEQS}; --quick 1,4)` })
          .option('rate', { type: 'string', alias: 'request-rate', default: 'inf', describe: 'request rates in req/s or inf, comma list' })
          .option('burstiness', { type: 'number', default: 1, describe: 'gamma shape of inter-arrival times (1 = Poisson)' })
          .option('max-concurrency', { type: 'number' })
          .option('max-num-batched-tokens', { type: 'string', describe: 'token budget per step, comma list swept as an axis, e.g. 2048,8192,16384 (default 8192; --quick 512)' })
          .option('kv-blocks', { type: 'number', describe: 'KV cache size in 16-token blocks (default: on CUDA what fits in --gpu-memory-utilization, on the CPU 2048)' })
          .option('gpu-memory-utilization', { type: 'number', default: 0.9, describe: 'CUDA: fraction of GPU memory for weights + KV cache + workspace; the KV cache gets the rest (vLLM\'s flag)' })
          .option('chunked-prefill', { type: 'boolean', default: true })
          .option('async-scheduling', {
            type: 'boolean',
            describe:
              "schedule and submit step n+1 while step n runs on the device (vLLM's --async-scheduling); default off, on with --protocol peer (TensorRT-LLM's overlap scheduler is on by default; --no-async-scheduling turns it off); recorded in each point",
          })
          .option('capacity-scheduler-policy', {
            type: 'string',
            describe:
              "when a request may start: max-utilization (when its prompt fits; running requests that outgrow the KV cache are preempted and recomputed, vLLM's way) or guaranteed-no-evict (only when its whole length, prompt + output, fits beside the running ones': nothing is ever preempted, TensorRT-LLM's default); default max-utilization, guaranteed-no-evict with --protocol peer; recorded in each point",
          })
          .option('ncu-steps', {
            type: 'string',
            describe:
              "A:B — bracket engine steps A..B-1 of every point (0-based) with cudaProfilerStart / Stop, for `ncu --profile-from-start off` (CUDA only; with --async-scheduling, the steps submitted in that window). Those points' timings include the profiler's replays: each records engine.ncuSteps",
          })
          .option('gpu-telemetry', {
            type: 'boolean',
            describe:
              "sample the GPU's SM clock, power and temperature with nvidia-smi while each point runs, recorded as gpuTelemetry (a power-capped run's clock explains its numbers); default on with --device cuda, off with --backend openai (turn it on when the server runs on this machine's GPU)",
          })
          .option('goodput', { type: 'string', array: true, describe: 'SLOs, e.g. ttft:500 tpot:50 e2el:10000 (ms)' })
          .option('quick', { type: 'boolean', describe: 'short profile (default on a CPU-only machine)' })
          .option('profile-blocks', { type: 'boolean', default: false, describe: 'time decode steps by block vs batch and context instead of serving' })
          .option('contexts', { type: 'string', describe: '--profile-blocks contexts (default 128,...,2048; --quick 16,...,128)' })
          .option('decode-steps', { type: 'number', describe: '--profile-blocks decode steps averaged per point' })
          .option('threads', { type: 'number', describe: 'CPU threads for the CPU backend' })
          .option('resume', { type: 'boolean', default: false, describe: 'skip points already in results/<run>/points.jsonl' })
          .option('save-requests', { type: 'boolean', default: false, describe: 'keep per-request timings in each point' })
          .option('backend', { choices: ['in-process', 'openai'] as const, default: 'in-process' as const, describe: 'in-process: our engine; openai: any OpenAI-compatible server at --base-url (vLLM, trtllm-serve, SGLang, pnpm serve)' })
          .option('base-url', { type: 'string', describe: '--backend openai: server URL(s), comma list for several side by side (e.g. http://127.0.0.1:8000)' })
          .option('endpoint', { choices: ['/v1/completions', '/v1/chat/completions'] as const, default: '/v1/completions' as const, describe: '--backend openai: API endpoint' })
          .option('label', { type: 'string', describe: "--backend openai: one label per --base-url (e.g. vllm-fp16,vllm-fp8); default: the server's precision or model name" })
          .option('tokenizer', { type: 'string', describe: '--backend openai: tokenizer directory of the served model (needed for servers other than pnpm serve)' })
          .option('percentile-metrics', { type: 'string', default: 'ttft,tpot,itl', describe: "vLLM bench serve: metrics whose percentiles go into the --save-result file (ttft,tpot,itl,e2el)" })
          .option('metric-percentiles', { type: 'string', default: '99', describe: 'vLLM bench serve: percentiles of those metrics, comma list, e.g. 25,50,99' })
          .option('save-result', { type: 'boolean', default: false, describe: "vLLM bench serve: also write vLLM's flat result JSON per point" })
          .option('save-detailed', { type: 'boolean', default: false, describe: 'vLLM bench serve: add per-request input_lens, output_lens, ttfts, itls, start_times, errors' })
          .option('result-dir', { type: 'string', describe: 'vLLM bench serve: directory of the --save-result files (default: the run directory)' })
          .option('result-filename', { type: 'string', describe: 'vLLM bench serve: file name of the --save-result file (a sweep of one point only)' })
          .option('ceilings', {
            type: 'string',
            describe:
              'roofline ceilings JSON from scripts/device/ceilings.py (measured on this GPU); default: the known card by name (native/device_ceilings.json), else no roofline ratio',
          })
          .epilogue(PROTOCOL_HELP),
      async (a) => {
        const flags: RawBenchFlags = {
          model: a.model,
          device: a.device,
          precision: a.precision,
          kvCacheDtype: a.kvCacheDtype,
          workload: a.workload,
          inputLen: a.inputLen,
          outputLen: a.outputLen,
          rangeRatio: a.rangeRatio,
          numPrompts: a.numPrompts,
          promptsPerBatch: a.promptsPerBatch,
          seed: a.seed,
          batch: a.batch,
          rate: a.rate,
          burstiness: a.burstiness,
          maxConcurrency: a.maxConcurrency,
          maxNumBatchedTokens: a.maxNumBatchedTokens,
          kvBlocks: a.kvBlocks,
          protocol: a.protocol,
          gpuMemoryUtilization: a.gpuMemoryUtilization,
          chunkedPrefill: a.chunkedPrefill,
          asyncScheduling: a.asyncScheduling,
          capacitySchedulerPolicy: a.capacitySchedulerPolicy,
          ncuSteps: a.ncuSteps,
          goodput: a.goodput?.map(String),
          quick: a.quick,
          profileBlocks: a.profileBlocks,
          contexts: a.contexts,
          decodeSteps: a.decodeSteps,
          threads: a.threads,
        };
        if (a.backend === 'openai') {
          if (a.ncuSteps !== undefined) throw new UsageError("--ncu-steps brackets our engine's steps for ncu; with --backend openai, profile the server itself");
          if (a.asyncScheduling !== undefined) {
            throw new UsageError("--async-scheduling is our engine's scheduling; with --backend openai it is the server's flag (vllm serve --async-scheduling); give it there");
          }
          if (a.capacitySchedulerPolicy !== undefined) {
            throw new UsageError("--capacity-scheduler-policy is our engine's scheduling; with --backend openai it is the server's setting (TensorRT-LLM's scheduler_config.capacity_scheduler_policy); give it there");
          }
          if (a.kvCacheDtype !== undefined && a.kvCacheDtype !== 'auto') {
            throw new UsageError("--kv-cache-dtype with --backend openai: the KV-cache dtype is the server's flag (vllm serve --kv-cache-dtype fp8, pnpm serve --kv-cache-dtype fp8); give it there");
          }
          code = await runOpenAIBenchCli(flags, { ...a, argv, log });
          return;
        }
        if (a.model) checkModelPath(a.model);
        const loader: EngineLoader = a.engineModule ? await loaderFromModule(a.engineModule) : loadBenchEngine;
        const r = resolveBench(flags, a.engineModule ? false : cudaAvailable());
        for (const n of r.notices) log(n);
        if (a.gpuTelemetry && r.device !== 'cuda') throw new UsageError('--gpu-telemetry samples the GPU the engine runs on: it needs --device cuda');
        if (a.resume && !a.run) throw new UsageError('--resume needs --run NAME (the run to continue)');
        const kvCount = r.precisions.reduce((n, p) => n + kvCacheDtypesFor({ kvCacheDtypes: r.kvCacheDtypes, protocol: { name: r.protocol } }, p).length, 0);
        const vllm = vllmOptionsOf(a, kvCount * r.batches.length * r.maxNumBatchedTokens.length * r.rates.length);
        if (a.ceilings) readCeilingsFile(a.ceilings);  // a bad file fails here, before any model loads
        if (a.profileBlocks && r.maxNumBatchedTokens.length > 1) throw new UsageError('--profile-blocks takes one --max-num-batched-tokens value');
        const run = a.run ?? defaultRunName();
        const runDir = runDirFor(a.resultsDir, run);
        const command = ['pnpm bench', ...argv].join(' ');
        const lock = lockRunDir(runDir);
        try {
          if (!a.profileBlocks) checkOrRecordSetup(runDir, runSetupOf(r), openRunDir(runDir, a.resume), a.resume);
        } catch (e) {
          lock.release();
          throw e;
        }
        const sig = installSigint();
        try {
          if (a.profileBlocks) {
            openRunDir(runDir, true);
            for (const precision of r.precisions) for (const kv of kvCacheDtypesFor({ kvCacheDtypes: r.kvCacheDtypes, protocol: { name: r.protocol } }, precision)) {
              if (sig.signal.aborted) break;
              const engine = await loader({
                model: r.model,
                precision,
                device: r.device,
                numKvBlocks: r.numKvBlocks,
                threads: r.threads,
                gpuMemoryUtilization: r.gpuMemoryUtilization,
                maxNumBatchedTokens: r.maxNumBatchedTokens[0],
                ...(kv !== 'auto' ? { kvCacheDtype: kv } : {}),
              });
              try {
                const pts = profileBlocks(engine, precision, {
                  runDir,
                  batches: r.batches,
                  contexts: r.contexts,
                  decodeSteps: r.decodeSteps,
                  maxNumBatchedTokens: r.maxNumBatchedTokens[0]!,
                  seed: r.workload.seed,
                }, sig.signal);
                for (const p of pts) {
                  const b = p.blocksMs;
                  log(`${precision} batch ${p.batchSize} ctx ${p.contextLen}: step ${p.stepMs.toFixed(2)} ms = attention ${b.attention.toFixed(2)} + mlp ${b.mlp.toFixed(2)} + quant ${b.quantization.toFixed(2)} + other ${b.other.toFixed(2)}`);
                }
              } finally {
                engine.close();
              }
            }
            log(`block breakdown: ${path.join(runDir, 'breakdown.jsonl')}`);
            if (sig.signal.aborted) code = EXIT_INTERRUPTED;
            return;
          }
          log(
            `run ${run} (${r.protocol} protocol): ${r.precisions.length} precision(s)${r.kvCacheDtypes ? ` x kv ${r.kvCacheDtypes.join(',')}` : ''} x batch ${r.batches.join(',')} x max batched tokens ${r.maxNumBatchedTokens.join(',')} ` +
              `x rate ${r.rates.join(',')}, ${r.workload.name}${r.workload.name === `${r.workload.inputLen}/${r.workload.outputLen}` ? '' : ` ${r.workload.inputLen}/${r.workload.outputLen}`}` +
              (r.workload.numPrompts !== null ? `, ${r.workload.numPrompts} prompts` : '') +
              ` on ${r.model} (${r.device}) -> ${runDir}`,
          );
          if (r.numPromptsNote) log(`note: ${r.numPromptsNote}`);
          const outcome = await runSweep(
            {
              runDir,
              model: r.model,
              device: r.device,
              threads: r.threads,
              precisions: r.precisions,
              kvCacheDtypes: r.kvCacheDtypes,
              batches: r.batches,
              rates: r.rates,
              workload: r.workload,
              burstiness: r.burstiness,
              maxConcurrency: r.maxConcurrency,
              maxNumBatchedTokens: r.maxNumBatchedTokens,
              enableChunkedPrefill: r.enableChunkedPrefill,
              asyncScheduling: r.asyncScheduling,
              capacitySchedulerPolicy: r.capacitySchedulerPolicy,
              gpuTelemetry: a.gpuTelemetry ?? r.device === 'cuda',
              ncuSteps: r.ncuSteps,
              numKvBlocks: r.numKvBlocks,
              protocol: { name: r.protocol, numPromptsStated: r.numPromptsStated, ...(r.numPromptsNote ? { numPromptsNote: r.numPromptsNote } : {}) },
              gpuMemoryUtilization: r.gpuMemoryUtilization,
              goodput: r.goodput,
              resume: a.resume,
              saveRequests: a.saveRequests,
              ceilingsFile: a.ceilings,
              vllm,
            },
            { loader, signal: sig.signal, progress: terminalProgress(), log },
          );
          if (outcome.skipped > 0) log(`resumed: ${outcome.skipped} point(s) already done`);
          const files = writeSummary(runDir, run, command, outcome.points, !outcome.interrupted);
          if (outcome.points.length > 0) process.stdout.write(renderTable(outcome.points) + '\n');
          log(`points: ${path.join(runDir, 'points.jsonl')}\nsummary: ${files.json}\n         ${files.csv}`);
          const failed = outcome.newPoints.filter((p) => p.errors);
          for (const p of failed) log(`FAILED ${p.key}: ${p.metrics.failed}/${p.metrics.completed + p.metrics.failed} requests: ${p.errors!.map((e) => e.message).join('; ')}`);
          if (failed.length > 0) code = EXIT_POINT_FAILED;
          if (outcome.interrupted) {
            log(`interrupted (summary marked "complete": false): continue with \`${resumeCommand(argv, run)}\``);
            code = EXIT_INTERRUPTED;
          }
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
