/**
 * Reads result run directories (see bench/src/schema.ts and eval/src/schema.ts for the file layout) into
 * validated records. Never throws on bad content: every file, line or record it cannot use is listed in
 * `skipped` with the reason, and the rest is kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import type {
  BenchPoint,
  BlockBreakdownPoint,
  EvalResult,
  FidelityResult,
  KernelTiming,
  PerplexityResult,
} from '../results-types.ts';
import {
  checkBenchPoint,
  checkBreakdown,
  checkEvalResult,
  checkFidelity,
  checkKernel,
  checkPerplexity,
  checkSummary,
} from './validate.ts';

export interface Skipped {
  /** Path as given/discovered (relative to the cwd when possible). */
  file: string;
  /** 1-based line for JSONL files, or the index inside summary.json's points. */
  line?: number;
  reason: string;
}

export interface Tagged<T> {
  /** Run name: the run directory relative to the results root it was found under. */
  run: string;
  file: string;
  record: T;
}

export interface RunInfo {
  name: string;
  dir: string;
  /** Result files read (basenames). */
  files: string[];
  /** From summary.json when present. */
  command?: string;
}

export interface LoadedResults {
  runs: RunInfo[];
  points: Tagged<BenchPoint>[];
  breakdown: Tagged<BlockBreakdownPoint>[];
  kernels: Tagged<KernelTiming>[];
  evals: Tagged<EvalResult>[];
  fidelity: Tagged<FidelityResult>[];
  /** Perplexity files carry provenance per precision, not at the top. */
  perplexity: { run: string; file: string; record: PerplexityResult }[];
  skipped: Skipped[];
}

export function emptyResults(): LoadedResults {
  return { runs: [], points: [], breakdown: [], kernels: [], evals: [], fidelity: [], perplexity: [], skipped: [] };
}

type Guard<T> = (v: unknown) => { ok: true; value: T } | { ok: false; reason: string };

const EVAL_RE = /^eval_.+\.json$/;
const FIDELITY_RE = /^fidelity_.+\.json$/;
const PERPLEXITY_RE = /^perplexity_.+\.json$/;
/** Files that belong to a run but are not read by the report (kept quiet). */
const KNOWN_UNREAD = [/^summary\.csv$/, /^samples_.+\.jsonl(\.gz)?$/];

export function isResultFile(name: string): boolean {
  return (
    name === 'points.jsonl' ||
    name === 'summary.json' ||
    name === 'breakdown.jsonl' ||
    name === 'kernels.jsonl' ||
    EVAL_RE.test(name) ||
    FIDELITY_RE.test(name) ||
    PERPLEXITY_RE.test(name)
  );
}

function display(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function readText(file: string, skipped: Skipped[]): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    skipped.push({ file: display(file), reason: `unreadable: ${errMessage(e)}` });
    return null;
  }
}

function readJsonl<T>(file: string, guard: Guard<T>, skipped: Skipped[]): { line: number; value: T }[] {
  const text = readText(file, skipped);
  if (text === null) return [];
  const out: { line: number; value: T }[] = [];
  const lines = text.split('\n');
  let nonEmpty = 0;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    nonEmpty++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (e) {
      const last = lines.slice(i + 1).every((l) => !l.trim());
      skipped.push({
        file: display(file),
        line: i + 1,
        reason: `invalid JSON (${errMessage(e)})${last ? '; last line, probably a write cut short' : ''}`,
      });
      return;
    }
    const r = guard(parsed);
    if (r.ok) out.push({ line: i + 1, value: r.value });
    else skipped.push({ file: display(file), line: i + 1, reason: r.reason });
  });
  if (nonEmpty === 0) skipped.push({ file: display(file), reason: 'empty file' });
  return out;
}

function readJson<T>(file: string, guard: Guard<T>, skipped: Skipped[]): T | null {
  const text = readText(file, skipped);
  if (text === null) return null;
  if (!text.trim()) {
    skipped.push({ file: display(file), reason: 'empty file' });
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    skipped.push({ file: display(file), reason: `invalid JSON (${errMessage(e)})` });
    return null;
  }
  const r = guard(parsed);
  if (r.ok) return r.value;
  skipped.push({ file: display(file), reason: r.reason });
  return null;
}

/** Reads one run directory into `into`. */
export function readRunDir(dir: string, runName: string, into: LoadedResults): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch (e) {
    into.skipped.push({ file: display(dir), reason: `unreadable directory: ${errMessage(e)}` });
    return;
  }
  const run: RunInfo = { name: runName, dir, files: [] };
  const f = (n: string) => path.join(dir, n);
  const tag = <T>(file: string, record: T): Tagged<T> => ({ run: runName, file: display(file), record });

  // Bench points: points.jsonl is the primary source (appended live); summary.json adds points it lacks.
  const byKey = new Map<string, Tagged<BenchPoint>>();
  if (names.includes('points.jsonl')) {
    run.files.push('points.jsonl');
    for (const { line, value } of readJsonl(f('points.jsonl'), checkBenchPoint, into.skipped)) {
      if (byKey.has(value.key))
        into.skipped.push({
          file: display(f('points.jsonl')),
          line,
          reason: `duplicate point key "${value.key}": the later line (${line}) replaces the earlier one`,
        });
      byKey.set(value.key, tag(f('points.jsonl'), value));
    }
  }
  if (names.includes('summary.json')) {
    run.files.push('summary.json');
    const summary = readJson(f('summary.json'), checkSummary, into.skipped);
    if (summary) {
      run.command = summary.command;
      summary.points.forEach((p, i) => {
        const r = checkBenchPoint(p);
        if (!r.ok) {
          into.skipped.push({ file: display(f('summary.json')), line: i, reason: `points[${i}]: ${r.reason}` });
          return;
        }
        if (!byKey.has(r.value.key)) byKey.set(r.value.key, tag(f('summary.json'), r.value));
      });
    }
  }
  into.points.push(...byKey.values());

  if (names.includes('breakdown.jsonl')) {
    run.files.push('breakdown.jsonl');
    for (const { value } of readJsonl(f('breakdown.jsonl'), checkBreakdown, into.skipped))
      into.breakdown.push(tag(f('breakdown.jsonl'), value));
  }
  if (names.includes('kernels.jsonl')) {
    run.files.push('kernels.jsonl');
    for (const { value } of readJsonl(f('kernels.jsonl'), checkKernel, into.skipped))
      into.kernels.push(tag(f('kernels.jsonl'), value));
  }
  for (const n of names) {
    if (EVAL_RE.test(n)) {
      run.files.push(n);
      const r = readJson(f(n), checkEvalResult, into.skipped);
      if (r) into.evals.push(tag(f(n), r));
    } else if (FIDELITY_RE.test(n)) {
      run.files.push(n);
      const r = readJson(f(n), checkFidelity, into.skipped);
      if (r) into.fidelity.push(tag(f(n), r));
    } else if (PERPLEXITY_RE.test(n)) {
      run.files.push(n);
      const r = readJson(f(n), checkPerplexity, into.skipped);
      if (r) into.perplexity.push(tag(f(n), r));
    } else if (
      /\.jsonl?$/.test(n) &&
      !isResultFile(n) &&
      !KNOWN_UNREAD.some((re) => re.test(n))
    ) {
      into.skipped.push({ file: display(f(n)), reason: 'not a known result file name (ignored)' });
    }
  }
  into.runs.push(run);
}
