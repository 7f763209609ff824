/** Find a split's data under the data dir: the first present DataSource wins. */
import fs from 'node:fs';
import path from 'node:path';
import type { DataSource } from '../task.ts';
import { readRows } from './readers.ts';

export interface LoadedSplit<D> {
  docs: D[];
  source: string;
  files: string[];
  deviations: string[];
}

const SHARD_EXT = /\.(parquet|jsonl|json|csv)$/i;

/** Files under `dir` (recursive, sorted) whose basename names `split` as a shard: train.jsonl, test-00000-of-00001.parquet. */
export function findShards(dir: string, split: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`(^|[_-])${split.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([-_.])`, 'i');
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (SHARD_EXT.test(e.name) && re.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

export function locateSource<D>(dataDir: string, sources: DataSource<D>[]): { source: DataSource<D>; files: string[] } | null {
  for (const s of sources) {
    const p = path.join(dataDir, s.path);
    if (!fs.existsSync(p)) continue;
    if (fs.statSync(p).isDirectory()) {
      if (!s.shardsOf) continue;
      const files = findShards(p, s.shardsOf);
      if (files.length) return { source: s, files };
    } else {
      return { source: s, files: [p] };
    }
  }
  return null;
}

export async function loadSplit<D>(dataDir: string, sources: DataSource<D>[] | undefined): Promise<LoadedSplit<D> | null> {
  if (!sources?.length) return null;
  const found = locateSource(dataDir, sources);
  if (!found) return null;
  const docs: D[] = [];
  for (const f of found.files) {
    const rows = await readRows(f, found.source.format);
    for (const r of rows) docs.push(found.source.map(r, docs.length));
  }
  return { docs, source: found.source.label, files: found.files, deviations: found.source.deviations ?? [] };
}
