/**
 * pnpm serve follows the CLI contract: a mistyped or bad flag stops before any model loads, exit 2, one line naming
 * the flag (on eab799f-era code the serve CLI started loading `undefined` and crashed inside the engine).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli.ts');

function serve(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

const cases: [string[], RegExp][] = [
  [['--model', 'synthetic:tiny', '--modle', 'x'], /unknown option --modle; did you mean --model\?/],
  [['--model', 'synthetic:tiny', '--port', '99999'], /--port must be an integer in 0\.\.65535/],
  [['--model', 'synthetic:tiny', '--max-num-seqs', '0'], /--max-num-seqs must be a positive integer/],
  [['--model', 'synthetic:tiny', '--precision', 'fp9'], /--precision: "fp9" is not one of/],
  [['--model', 'synthetic:tiny', '--kv-cache-dtype', 'fp9'], /--kv-cache-dtype: "fp9" is not one of auto, fp8; did you mean fp8\?/],
  [['--model', 'synthetic:tiny', '--gpu-memory-utilization', '1.5'], /--gpu-memory-utilization must be in \(0, 1\]/],
  [['--model', '/nonexistent/model/dir'], /--model: \/nonexistent\/model\/dir does not exist/],
];

for (const [args, message] of cases) {
  test(`pnpm serve ${args.join(' ')}: exit 2 before loading, one line`, () => {
    const r = serve(args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /loading|at .*\.ts:\d+/, 'no model load, no stack trace');
  });
}
