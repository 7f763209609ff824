/** Shared CLI plumbing: typed errors become one clear line and a non-zero exit. */
import { EngineError } from '../errors.ts';
import { CheckpointError } from '../checkpoint/index.ts';

export function fail(e: unknown): never {
  if (e instanceof EngineError || e instanceof CheckpointError) {
    process.stderr.write(`error [${e.code}]: ${e.message}\n`);
    process.exit(2);
  }
  if (e instanceof Error && /Unknown argument|Not enough arguments|Invalid values|Missing required/.test(e.message)) {
    process.stderr.write(`error: ${e.message} (see --help)\n`);
    process.exit(2);
  }
  process.stderr.write(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}

export function progressLine(msg: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${msg}`);
  else process.stderr.write(`${msg}\n`);
}
export function progressDone(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}
