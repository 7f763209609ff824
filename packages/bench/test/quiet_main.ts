/** `pnpm bench`'s main with its progress and log lines (stderr) silenced, for tests that only read its results. */
import { main } from '../src/cli.ts';

export async function quietMain(args: string[]): Promise<number> {
  const w = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await main(args);
  } finally {
    process.stderr.write = w;
  }
}
