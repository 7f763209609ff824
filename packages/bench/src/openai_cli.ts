/**
 * The `--backend openai` branch of `pnpm bench`: resolves the workload flags as the in-process sweep does (the
 * --quick profile only when asked for: the server decides the hardware), then runs the sweep against every
 * --base-url and writes the same points.jsonl / summary files. Ctrl-C drops the unfinished point (exit 130).
 */
import path from 'node:path';
import { OptionError, resolveBench, type RawBenchFlags } from './options.ts';
import { parseTargets, runOpenAISweep } from './openai_sweep.ts';
import type { OpenAIEndpoint } from './openai_client.ts';
import { terminalProgress } from './progress.ts';
import { defaultRunName } from './run_dir.ts';
import { renderTable, writeSummary } from './summary.ts';

export interface OpenAICliArgs {
  resultsDir: string;
  run?: string;
  resume: boolean;
  saveRequests: boolean;
  baseUrl?: string;
  endpoint: OpenAIEndpoint;
  label?: string;
  tokenizer?: string;
  /** --gpu-telemetry (default off here: the server may not run on this machine's GPU). */
  gpuTelemetry?: boolean;
  argv: string[];
  log: (m: string) => void;
}

export async function runOpenAIBenchCli(flags: RawBenchFlags, a: OpenAICliArgs): Promise<number> {
  if (!a.baseUrl) throw new OptionError('--backend openai needs --base-url URL (e.g. http://127.0.0.1:8000)');
  if (flags.profileBlocks) throw new OptionError('--profile-blocks times our engine in-process; drop it with --backend openai');
  if (flags.batch) throw new OptionError("--batch sets our engine's max batch; with --backend openai the server's own setting applies (use --max-concurrency for the client side)");
  const targets = parseTargets(a.baseUrl, a.label);
  const r = resolveBench({ ...flags, model: flags.model ?? 'remote', device: 'cpu', quick: flags.quick ?? false }, false);
  if (a.resume && !a.run) throw new OptionError('--resume needs --run NAME (the run to continue)');
  const run = a.run ?? defaultRunName();
  const runDir = path.join(a.resultsDir, run);
  const ac = new AbortController();
  const onSig = () => {
    if (ac.signal.aborted) process.exit(130);
    a.log('\nCtrl-C: stopping; finished points are kept (Ctrl-C again to quit now)');
    ac.abort();
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  try {
    a.log(`run ${run}: ${targets.length} server(s) x rate ${r.rates.join(',')} (${r.workload.name} ${r.workload.inputLen}/${r.workload.outputLen}) -> ${runDir}`);
    const outcome = await runOpenAISweep(
      {
        runDir,
        targets,
        endpoint: a.endpoint,
        model: flags.model,
        tokenizer: a.tokenizer,
        apiKey: process.env.OPENAI_API_KEY,
        rates: r.rates,
        workload: r.workload,
        burstiness: r.burstiness,
        maxConcurrency: r.maxConcurrency,
        goodput: r.goodput,
        resume: a.resume,
        saveRequests: a.saveRequests,
        protocol: { name: r.protocol, numPromptsStated: r.numPromptsStated, ...(r.numPromptsNote ? { numPromptsNote: r.numPromptsNote } : {}) },
        gpuTelemetry: a.gpuTelemetry ?? false,
      },
      { signal: ac.signal, progress: terminalProgress(), log: a.log },
    );
    const files = writeSummary(runDir, run, ['pnpm bench', ...a.argv].join(' '), outcome.points);
    if (outcome.points.length > 0) process.stdout.write(renderTable(outcome.points) + '\n');
    a.log(`points: ${path.join(runDir, 'points.jsonl')}\nsummary: ${files.json}\n         ${files.csv}`);
    return outcome.interrupted ? 130 : 0;
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}
