/** Shared CLI plumbing: typed errors become one clear line and a non-zero exit. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineError } from '../errors.ts';
import { CheckpointError } from '../checkpoint/index.ts';
import { isUsageError } from './contract.ts';

/** `--debug` anywhere on the command line (or QB_DEBUG=1): errors print their stack. */
export const debugRequested = (args: readonly string[] = process.argv): boolean => args.includes('--debug') || process.env.QB_DEBUG === '1';

/**
 * One line for an error and the exit code: 2 for bad command-line input and typed engine/checkpoint errors (what the
 * user can fix), 1 otherwise. A stack only with --debug.
 */
export function errorReport(e: unknown, args: readonly string[] = process.argv): { line: string; code: number } {
  const err: Error & { code?: unknown } = e instanceof Error ? e : new Error(String(e));
  const code = typeof err.code === 'string' ? err.code : undefined;
  const usage = isUsageError(err);
  const typed = usage || e instanceof EngineError || e instanceof CheckpointError;
  let line = usage ? `error: ${err.message} (see --help)` : `error${code ? ` [${code}]` : ''}: ${err.message}`;
  if (debugRequested(args)) line += `\n${err.stack ?? ''}`;
  else if (!typed && !code) line += ' (rerun with --debug for the stack)';
  return { line, code: typed ? 2 : 1 };
}

export function fail(e: unknown): never {
  const r = errorReport(e);
  process.stderr.write(`${r.line}\n`);
  process.exit(r.code);
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
 * or print `error [CODE]: message` and exit non-zero when it throws (2 for usage errors). Shared by the bench and eval CLIs.
 */
export function runCliMain(moduleUrl: string, main: (args: string[]) => Promise<number>): void {
  const entry = process.argv[1];
  if (!entry || path.resolve(entry) !== path.resolve(fileURLToPath(moduleUrl))) return;
  main(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e: unknown) => {
      const r = errorReport(e);
      process.stderr.write(`${r.line}\n`);
      process.exit(isUsageError(e) ? 2 : 1);
    },
  );
}
