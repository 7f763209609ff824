/** Shared CLI plumbing: typed errors become one clear line and a non-zero exit. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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

/**
 * Run a CLI's `main(args) -> exit code` when `moduleUrl` is the script node was started with: exit with its code,
 * or print `error [CODE]: message` and exit 1 when it throws. Shared by the bench and eval CLIs.
 */
export function runCliMain(moduleUrl: string, main: (args: string[]) => Promise<number>): void {
  const entry = process.argv[1];
  if (!entry || path.resolve(entry) !== path.resolve(fileURLToPath(moduleUrl))) return;
  main(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e: unknown) => {
      const err = e as Error & { code?: string };
      process.stderr.write(`error${err.code ? ` [${err.code}]` : ''}: ${err.message}\n`);
      process.exit(1);
    },
  );
}
