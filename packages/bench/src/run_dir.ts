/**
 * results/<run>/ files: points.jsonl is appended one finished point at a time (synchronously, so an interrupt
 * never loses a finished point); --resume reads it back and skips the keys it holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_SCHEMA_VERSION, type BenchPoint, type BlockBreakdownPoint, type KernelTiming } from './schema.ts';

export const POINTS_FILE = 'points.jsonl';
export const SUMMARY_JSON = 'summary.json';
export const SUMMARY_CSV = 'summary.csv';
export const BREAKDOWN_FILE = 'breakdown.jsonl';
export const KERNELS_FILE = 'kernels.jsonl';

export class RunDirError extends Error {
  readonly code: 'RUN_EXISTS' | 'BAD_POINTS_FILE' | 'RUN_LOCKED' | 'SETUP_MISMATCH';
  constructor(code: RunDirError['code'], message: string) {
    super(message);
    this.name = 'RunDirError';
    this.code = code;
  }
}

/** Default run name: UTC timestamp. */
export function defaultRunName(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Reads points.jsonl; a torn last line (killed mid-write) is ignored, any other bad line is an error. */
export function readPoints(runDir: string): BenchPoint[] {
  const file = path.join(runDir, POINTS_FILE);
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const points: BenchPoint[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const p = JSON.parse(line) as BenchPoint;
      if (p.schema !== 'quantbench.bench.point') throw new Error('not a bench point');
      points.push(p);
    } catch (e) {
      const isLast = lines.slice(i + 1).every((l) => l.trim() === '');
      if (!isLast) {
        throw new RunDirError('BAD_POINTS_FILE', `${file}:${i + 1}: ${(e as Error).message}; fix or remove the line`);
      }
    }
  });
  return points;
}

/** Prepares the run directory: refuses to mix a new sweep into a run with points unless resuming. */
export function openRunDir(runDir: string, resume: boolean): BenchPoint[] {
  fs.mkdirSync(runDir, { recursive: true });
  const existing = readPoints(runDir);
  if (existing.length > 0 && !resume) {
    throw new RunDirError(
      'RUN_EXISTS',
      `${runDir} already holds ${existing.length} point(s); pass --resume to continue it or choose another --run`,
    );
  }
  // Drop a torn trailing line so appends start on a fresh line.
  const file = path.join(runDir, POINTS_FILE);
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) {
      fs.writeFileSync(file, existing.map((p) => JSON.stringify(p) + '\n').join(''));
    }
  }
  return existing;
}

function appendLine(file: string, obj: unknown): void {
  const fd = fs.openSync(file, 'a');
  try {
    fs.writeSync(fd, JSON.stringify(obj) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function appendPoint(runDir: string, p: BenchPoint): void {
  appendLine(path.join(runDir, POINTS_FILE), p);
}

export function appendBreakdown(runDir: string, p: BlockBreakdownPoint): void {
  appendLine(path.join(runDir, BREAKDOWN_FILE), p);
}

export function appendKernel(runDir: string, k: KernelTiming): void {
  appendLine(path.join(runDir, KERNELS_FILE), k);
}

export { BENCH_SCHEMA_VERSION };
