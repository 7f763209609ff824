/**
 * `pnpm serve --model M --precision P` — our engine behind vLLM's OpenAI-compatible HTTP API (flag names as vLLM's).
 *   pnpm serve --model ../shared/models/stories260K/hf --precision fp8-static --port 8000
 * `--port 0` takes any free port; the bound address is printed on stdout as `listening on http://HOST:PORT`.
 * SIGINT / SIGTERM: stop taking requests (503), finish those in flight (up to --drain-timeout s), exit 0; a second
 * signal exits at once (130).
 */
import yargs from 'yargs';
import { applyContract, CAPACITY_SCHEDULER_POLICIES, KV_CACHE_DTYPE_OPTION, checkModelPath, LLM, PRECISIONS, runCliMain, UsageError, type Contract, type LoadOptions, type Precision } from '@quantbench/engine';
import { AsyncEngine, type EngineHandle } from './async_engine.ts';
import type { ServeMetrics } from './metrics.ts';
import { createServer, type ServedModel } from './server.ts';
import { WorkerEngine } from './worker_engine.ts';

const log = (m: string) => process.stderr.write(`${m}\n`);

/** pnpm serve's value rules beyond yargs' types (the CLI contract every quantbench CLI follows). */
const SERVE_CONTRACT: Contract = {
  positiveInts: ['max-num-seqs', 'max-num-batched-tokens', 'max-model-len', 'kv-blocks', 'max-waiting', 'threads'],
  nonNegativeNumbers: ['drain-timeout'],
};

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  await applyContract(yargs(argv).scriptName('pnpm serve'), argv, SERVE_CONTRACT)
    .usage(
      '$0 --model DIR|synthetic:NAME [--precision P] [--host 127.0.0.1] [--port 8000]\n\n' +
        'Serves the quantbench engine with the OpenAI API as vLLM does: GET /v1/models, POST /v1/completions, ' +
        'POST /v1/chat/completions, GET /health, GET /metrics (Prometheus, vLLM metric names). Concurrent requests ' +
        'share one continuously batched engine. Point `pnpm bench --backend openai`, `pnpm eval --model ' +
        "local-completions`, vLLM's `vllm bench serve` or lm-eval's local-completions at it.",
    )
    .option('model', { type: 'string', demandOption: true, describe: 'HF Llama directory (plain or compressed-tensors) or synthetic:tiny / synthetic:llama-3.1-8b' })
    .option('precision', { choices: PRECISIONS, describe: "default fp16, or the checkpoint's scheme" })
    .option('dtype', { choices: ['fp16', 'bf16', 'fp32'] as const, describe: 'activation dtype of the 16-bit parts' })
    .option('kv-cache-dtype', { ...KV_CACHE_DTYPE_OPTION, describe: `${KV_CACHE_DTYPE_OPTION.describe}; reported in /v1/models (quantbench.kv_cache_dtype and its provenance)` })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (0.0.0.0: every interface)' })
    .option('port', { type: 'number', default: 8000, describe: 'port (0: any free port, printed on stdout)' })
    .option('api-key', { type: 'string', describe: 'require `Authorization: Bearer KEY` on /v1/* (default: $VLLM_API_KEY, else none)' })
    .option('served-model-name', { type: 'string', describe: 'the name clients put in "model" (default: the --model argument)' })
    .option('max-num-seqs', { type: 'number', default: 256, describe: 'most requests running at once (max batch size)' })
    .option('max-num-batched-tokens', { type: 'number', default: 8192, describe: 'token budget of one engine step' })
    .option('async-scheduling', {
      type: 'boolean',
      default: false,
      describe:
        "schedule and submit step n+1 while step n runs on the device (vLLM's --async-scheduling): the host's batch work overlaps the GPU; prompt scoring (echo + logprobs) first lets the step in flight finish; reported in /v1/models",
    })
    .option('capacity-scheduler-policy', {
      choices: CAPACITY_SCHEDULER_POLICIES,
      default: 'max-utilization' as const,
      describe:
        "when a request may start: max-utilization (when its prompt fits; running requests that outgrow the KV cache are preempted and recomputed, vLLM's way) or guaranteed-no-evict (only when its whole length fits: nothing preempted, TensorRT-LLM's default); reported in /v1/models",
    })
    .option('max-model-len', { type: 'number', describe: "longest prompt + completion (default: the engine's)" })
    .option('kv-blocks', { type: 'number', describe: 'KV cache size in 16-token blocks (default: the engine decides)' })
    .option('gpu-memory-utilization', { type: 'number', describe: 'CUDA: fraction of GPU memory for weights + KV cache (default 0.9)' })
    .option('max-waiting', { type: 'number', describe: 'requests that may wait for a batch slot; beyond, new ones get 429 (default 4 x max-num-seqs)' })
    .option('chat-template', { type: 'string', describe: 'Jinja chat template file (checkpoints without one)' })
    .option('calib', { type: 'string', describe: 'calibration text (.txt/.jsonl) for fp8-static and int8 SmoothQuant' })
    .option('threads', { type: 'number', describe: 'CPU threads for the CPU backend' })
    .option('engine-thread', {
      choices: ['worker', 'main'] as const,
      default: 'worker' as const,
      describe: 'where the batch runs: a worker thread (HTTP work overlaps the forward passes) or the main thread',
    })
    .option('drain-timeout', { type: 'number', default: 60, describe: 'seconds to let in-flight requests finish on SIGINT/SIGTERM before aborting them' })
    .check((a) => {
      if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw new UsageError(`--port must be an integer in 0..65535, got ${a.port}`);
      const util = a['gpu-memory-utilization'];
      if (util !== undefined && !(util > 0 && util <= 1)) throw new UsageError(`--gpu-memory-utilization must be in (0, 1], got ${util}`);
      checkModelPath(a.model);
      return true;
    })
    .help()
    .command(
      '$0',
      'start the server',
      (y) => y,
      async (a) => {
        log(`loading ${a.model}${a.precision ? ` (${a.precision})` : ''} ...`);
        const load: LoadOptions = {
          model: a.model,
          precision: a.precision as Precision | undefined,
          dtype: a.dtype,
          kvCacheDtype: a.kvCacheDtype,
          device: a.device,
          calib: a.calib,
          threads: a.threads,
          kvBlocks: a.kvBlocks,
          maxModelLen: a.maxModelLen,
          gpuMemoryUtilization: a.gpuMemoryUtilization,
          maxNumBatchedTokens: a.maxNumBatchedTokens,
        };
        const engineOptions = { maxNumSeqs: a.maxNumSeqs, maxNumBatchedTokens: a.maxNumBatchedTokens, capacitySchedulerPolicy: a.capacitySchedulerPolicy, asyncScheduling: a.asyncScheduling };
        let model: ServedModel;
        let engine: ((m: ServeMetrics) => EngineHandle) | undefined;
        let close: () => Promise<void>;
        let w: Awaited<ReturnType<typeof WorkerEngine.start>> | null = null;
        if (a.engineThread === 'worker') {
          try {
            w = await WorkerEngine.start(load, engineOptions, log);
          } catch (e) {
            // A model that cannot load fails the same way on the main thread; anything else (an addon that will not
            // run on a worker thread) gets the main thread instead of no server.
            const code = (e as Error & { code?: string }).code;
            if (code && code !== 'ENGINE') throw e;
            log(`the engine thread failed (${(e as Error).message}); running the batch on the main thread`);
          }
        }
        if (w) {
          const started = w;
          model = started.model;
          engine = (m) => started.engine.bind(m);
          close = () => started.engine.close();
        } else {
          const llm = await LLM.load({ ...load, onProgress: (m) => log(m) });
          model = llm;
          close = async () => llm.close();
        }
        const srv = createServer({
          llm: model,
          engine,
          servedModelName: a.servedModelName ?? a.model,
          engineOptions,
          maxWaiting: a.maxWaiting,
          apiKey: a.apiKey ?? process.env.VLLM_API_KEY,
          chatTemplate: a.chatTemplate,
        });
        if (srv.engine instanceof AsyncEngine) srv.engine.warmUp();
        const address = await srv.app.listen({ host: a.host, port: a.port });
        const info = model.info;
        log(
          `serving "${srv.servedModelName}": ${info.precision}${info.recipe.kvCacheDtype === 'fp8' ? ' (KV cache fp8)' : ''} on ${info.deviceName} (weights ${info.weights}), max batch ${a.maxNumSeqs}, ` +
            `${model.numKvBlocks} KV blocks, context ${model.maxModelLen}, engine on the ${w ? 'worker' : 'main'} thread`,
        );
        process.stdout.write(`listening on ${address}\n`);
        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = (sig: string) => {
            if (stopping) {
              log(`\nsecond ${sig}: exiting now`);
              process.exit(130);
            }
            stopping = true;
            log(`\n${sig}: draining ${srv.engine.numInFlight} request(s) in flight (up to ${a.drainTimeout} s), then exiting (${sig} again to quit now)`);
            srv
              .drain(a.drainTimeout * 1000)
              .catch((e: unknown) => log(`error while draining: ${(e as Error).message}`))
              .then(() => close())
              .catch((e: unknown) => log(`error while closing: ${(e as Error).message}`))
              .finally(() => resolve());
          };
          process.on('SIGINT', () => stop('SIGINT'));
          process.on('SIGTERM', () => stop('SIGTERM'));
        });
        log('server stopped');
      },
    )
    .parseAsync();
  return code;
}

runCliMain(import.meta.url, main);
