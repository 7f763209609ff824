/**
 * A run directory is locked while a process writes it (issue 20): `<dir>/run.lock` holds the writer's pid and host;
 * a second writer is refused with EngineError RUN_LOCKED; a lock whose process is gone is taken over. Used by
 * `pnpm bench` (results/<run>/) and `pnpm eval` (its --out directory).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EngineError } from './errors.ts';

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface RunLock {
  file: string;
  release(): void;
}

export function lockDir(runDir: string, name = 'run.lock'): RunLock {
  fs.mkdirSync(runDir, { recursive: true });
  const file = path.join(runDir, name);
  const mine = JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }) + '\n';
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, mine, { flag: 'wx' });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          const cur = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: number };
          if (cur.pid === process.pid) fs.rmSync(file, { force: true });
        } catch {
          // already gone
        }
        process.off('exit', release);
      };
      process.on('exit', release);
      return { file, release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder: { pid?: number; host?: string; since?: string } = {};
      try {
        holder = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch {
        // torn lock file: treat as stale
      }
      const sameHost = !holder.host || holder.host === os.hostname();
      if (holder.pid !== undefined && (!sameHost || alive(holder.pid))) {
        throw new EngineError(
          'RUN_LOCKED',
          `${runDir} is being written by process ${holder.pid}${sameHost ? '' : ` on ${holder.host}`} since ${holder.since ?? '?'}; wait for it or choose another --run (remove ${file} if that process is gone)`,
        );
      }
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new EngineError('RUN_LOCKED', `could not lock ${runDir}`);
}

