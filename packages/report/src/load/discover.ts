/**
 * Finds run directories: a directory holding at least one result file is a run; otherwise its
 * subdirectories are searched (a few levels deep) so `results/` or `results/h100/` both work.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ReportError } from '../errors.ts';
import { emptyResults, isResultFile, readRunDir, type LoadedResults } from './read-results.ts';

const MAX_DEPTH = 4;

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Run directories under `root` (root itself when it holds result files), with names relative to root. */
export function findRunDirs(root: string): { dir: string; name: string }[] {
  const out: { dir: string; name: string }[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.isFile() && isResultFile(e.name))) {
      const rel = path.relative(root, dir);
      out.push({ dir, name: rel || path.basename(path.resolve(dir)) });
      return;
    }
    if (depth >= MAX_DEPTH) return;
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name)))
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') walk(path.join(dir, e.name), depth + 1);
  };
  walk(root, 0);
  return out;
}

/**
 * Loads every run under the given directories. A directory argument that does not exist is an error
 * (the user typed it); content problems are collected in `skipped` instead.
 */
export function loadResults(dirs: string[]): LoadedResults {
  const into = emptyResults();
  for (const d of dirs) {
    if (!isDir(d))
      throw new ReportError('NO_RESULTS_DIR', `results directory not found: ${d} (pass run directories or a folder holding them)`);
    const runs = findRunDirs(d);
    if (runs.length === 0) into.skipped.push({ file: d, reason: 'no result files found in this directory or below' });
    const seen = new Set(into.runs.map((r) => path.resolve(r.dir)));
    for (const r of runs) if (!seen.has(path.resolve(r.dir))) readRunDir(r.dir, r.name, into);
  }
  return into;
}
