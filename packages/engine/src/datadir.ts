import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the quantbench checkout (three levels above this file). */
/** The repository root (QB_REPO_ROOT overrides it for bundled builds, which live elsewhere). */
export const REPO_ROOT = process.env.QB_REPO_ROOT ? path.resolve(process.env.QB_REPO_ROOT) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const DATA_DIR_ENV = 'QB_DATA_DIR';

/**
 * The shared data directory (holds datasets/, models/, tokenizers/): the flag if given, else $QB_DATA_DIR,
 * else a sibling `shared/` of the repository. Returns null when none exists.
 */
export function resolveDataDir(flag?: string | null): string | null {
  const candidates = [flag, process.env[DATA_DIR_ENV], path.resolve(REPO_ROOT, '../shared'), path.resolve(REPO_ROOT, 'shared')];
  for (const c of candidates) {
    if (c && fs.existsSync(c) && fs.statSync(c).isDirectory()) return path.resolve(c);
  }
  return null;
}

/** A path inside the data dir, or null when the data dir or the path is absent. */
export function dataPath(rel: string, flag?: string | null): string | null {
  const d = resolveDataDir(flag);
  if (!d) return null;
  const p = path.join(d, rel);
  return fs.existsSync(p) ? p : null;
}

/** For tests: the reason a data-dependent test skips. */
export function missingDataMessage(rel: string): string {
  return `skipped: ${rel} not found in the data dir (set --data-dir or $${DATA_DIR_ENV}, or place shared/ beside the repo)`;
}
