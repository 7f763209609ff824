/**
 * Run-directory safety (issue 20, item 3):
 *   - `--run` is a plain name: the run directory is always <results-dir>/<run>, never outside it;
 *   - a run directory is locked (run.lock holds the writer's pid) while a process writes it; a lock whose process
 *     is gone is taken over;
 *   - run.json records the setup of the run (protocol, model, lengths, prompts, seed, engine settings) with the commit
 *     that started it and whether its weights are synthetic or real (each point records its own too); `--resume`
 *     with another setup is refused naming the first field that differs (a run recorded before --protocol existed
 *     ran the study protocol);
 *   - the resume hint printed after an interrupt is a command that works (the original flags, --run and --resume once).
 */
import fs from 'node:fs';
import path from 'node:path';
import { gitCommit, lockDir, UsageError, weightsKindOf, type RunLock } from '@quantbench/engine';
import { RunDirError } from './run_dir.ts';
import type { ResolvedBench } from './options.ts';
import type { BenchPoint } from './schema.ts';

export const LOCK_FILE = 'run.lock';
export const SETUP_FILE = 'run.json';

const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** <resultsDir>/<run> for a plain run name; anything with a path separator or "." / ".." is refused. */
export function runDirFor(resultsDir: string, run: string): string {
  if (!RUN_NAME.test(run) || run === '.' || run === '..') {
    throw new UsageError(`--run "${run}" must be a plain name (letters, digits, . _ -; no path): runs live inside --results-dir`);
  }
  const dir = path.join(path.resolve(resultsDir), run);
  if (path.dirname(dir) !== path.resolve(resultsDir)) throw new UsageError(`--run "${run}" would leave --results-dir`);
  return dir;
}

/** Takes run.lock in runDir (creating the directory); refuses when another live process holds it. */
export const lockRunDir = (runDir: string): RunLock => lockDir(runDir, LOCK_FILE);

/**
 * What must match for points to share one run (precisions, batches, max batched tokens and rates may differ: those
 * are the sweep's axes, which resume adds to).
 */
export interface RunSetup {
  protocol: string;
  model: string;
  device: string;
  workload: string;
  inputLen: number;
  outputLen: number;
  rangeRatio: number;
  numPrompts: number | null;
  promptsPerBatch: number | null;
  seed: number;
  burstiness: number;
  maxConcurrency: number | null;
  enableChunkedPrefill: boolean;
  /** --async-scheduling (runs recorded before the flag ran without it). */
  asyncScheduling: boolean;
  /** --capacity-scheduler-policy (runs recorded before the flag ran max-utilization; not compared for them). */
  capacitySchedulerPolicy: string;
  /** --ncu-steps as A:B, or null (runs recorded before the flag ran without it). */
  ncuSteps: string | null;
  numKvBlocks: number | null;
  gpuMemoryUtilization: number;
  goodput: string | null;
  /**
   * --kv-cache-dtype as given (a comma list); without the flag "auto" under the study protocol and "protocol" under
   * peer (fp8 for the FP8 precisions). Runs recorded before the flag existed ran without it.
   */
  kvCacheDtype: string;
}

const FLAG_OF: Record<keyof RunSetup, string> = {
  protocol: '--protocol',
  model: '--model',
  device: '--device',
  workload: '--workload',
  inputLen: '--input-len',
  outputLen: '--output-len',
  rangeRatio: '--range-ratio',
  numPrompts: '--num-prompts',
  promptsPerBatch: '--prompts-per-batch',
  seed: '--seed',
  burstiness: '--burstiness',
  maxConcurrency: '--max-concurrency',
  enableChunkedPrefill: '--chunked-prefill',
  asyncScheduling: '--async-scheduling',
  capacitySchedulerPolicy: '--capacity-scheduler-policy',
  ncuSteps: '--ncu-steps',
  numKvBlocks: '--kv-blocks',
  gpuMemoryUtilization: '--gpu-memory-utilization',
  goodput: '--goodput',
  kvCacheDtype: '--kv-cache-dtype',
};

/** The KV-cache dtype setup of a run recorded without the field (before --kv-cache-dtype existed: no flag). */
const kvCacheDtypeDefault = (protocol: string | undefined): string => (protocol === 'peer' ? 'protocol' : 'auto');

/** The fields of a setup that differ from the recorded one (in field order). */
export function setupDiff(recorded: Partial<RunSetup>, now: RunSetup): { field: keyof RunSetup; flag: string; was: unknown; now: unknown }[] {
  const out: { field: keyof RunSetup; flag: string; was: unknown; now: unknown }[] = [];
  for (const k of Object.keys(FLAG_OF) as (keyof RunSetup)[]) {
    if (!(k in recorded)) continue;
    if (JSON.stringify(recorded[k] ?? null) !== JSON.stringify(now[k] ?? null)) out.push({ field: k, flag: FLAG_OF[k], was: recorded[k], now: now[k] });
  }
  return out;
}

/** The setup fields an older run (no run.json) shows in its points. */
export function setupFromPoints(points: BenchPoint[]): Partial<RunSetup> {
  const p = points[0];
  if (!p) return {};
  return {
    inputLen: p.workload.inputLen,
    outputLen: p.workload.outputLen,
    rangeRatio: p.workload.rangeRatio,
    seed: p.workload.seed,
    burstiness: p.burstiness,
    maxConcurrency: p.maxConcurrency,
    protocol: p.protocol?.name ?? 'study',
    kvCacheDtype: kvCacheDtypeDefault(p.protocol?.name),
  };
}

/**
 * Records the setup in a new run, or checks it against the recorded one (run.json, else the points of an older run).
 * Throws a RunDirError naming the first differing field.
 */
export function checkOrRecordSetup(runDir: string, setup: RunSetup, existing: BenchPoint[], resume = true): void {
  const file = path.join(runDir, SETUP_FILE);
  // A run directory without points (a run stopped before its first point) starts over with this setup.
  if (existing.length === 0 && !resume) fs.rmSync(file, { force: true });
  const fromFile = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { setup: Partial<RunSetup> }).setup : null;
  const recorded: Partial<RunSetup> | null = fromFile
    ? { protocol: 'study', kvCacheDtype: kvCacheDtypeDefault(fromFile.protocol), ...fromFile }
    : existing.length > 0
      ? setupFromPoints(existing)
      : null;
  if (recorded) {
    const d = setupDiff(recorded, setup);
    if (d.length > 0) {
      const first = d[0];
      const more = d.length > 1 ? ` (also ${d.slice(1).map((x) => x.field).join(', ')})` : '';
      throw new RunDirError(
        'SETUP_MISMATCH',
        `--resume: ${first.field} (${first.flag}) was ${JSON.stringify(first.was)} in ${runDir}, now ${JSON.stringify(first.now)}${more}; points of different setups would mix in one table — use the run's setup or another --run`,
      );
    }
  }
  if (!fs.existsSync(file)) {
    const run = { schema: 'quantbench.bench.run', version: 1, commit: gitCommit(), weights: weightsKindOf(setup.model), setup };
    fs.writeFileSync(file, JSON.stringify(run, null, 2) + '\n');
  }
}

const shellQuote = (s: string) => (/^[A-Za-z0-9_./:=,@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** `pnpm bench <the original flags without --run/--resume> --run RUN --resume`, quoted for a POSIX shell. */
export function resumeCommand(argv: readonly string[], run: string): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--resume' || a === '--no-resume' || a.startsWith('--resume=')) continue;
    if (a === '--run') {
      i++;
      continue;
    }
    if (a.startsWith('--run=')) continue;
    kept.push(a);
  }
  return ['pnpm bench', ...kept.map(shellQuote), '--run', shellQuote(run), '--resume'].join(' ');
}

/** The setup of a resolved bench invocation. */
export function runSetupOf(r: ResolvedBench): RunSetup {
  return {
    protocol: r.protocol,
    model: r.model,
    device: r.device,
    workload: r.workload.name,
    inputLen: r.workload.inputLen,
    outputLen: r.workload.outputLen,
    rangeRatio: r.workload.rangeRatio,
    numPrompts: r.workload.numPrompts,
    promptsPerBatch: r.workload.promptsPerBatch,
    seed: r.workload.seed,
    burstiness: r.burstiness,
    maxConcurrency: r.maxConcurrency,
    enableChunkedPrefill: r.enableChunkedPrefill,
    asyncScheduling: r.asyncScheduling,
    capacitySchedulerPolicy: r.capacitySchedulerPolicy,
    ncuSteps: r.ncuSteps ? r.ncuSteps.join(':') : null,
    numKvBlocks: r.numKvBlocks ?? null,
    gpuMemoryUtilization: r.gpuMemoryUtilization,
    goodput: r.goodput ? JSON.stringify(r.goodput) : null,
    kvCacheDtype: r.kvCacheDtypes ? r.kvCacheDtypes.join(',') : kvCacheDtypeDefault(r.protocol),
  };
}
