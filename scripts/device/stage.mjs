#!/usr/bin/env node
// Stages what the GPU machine needs into the git-ignored .device/ folder (carried by the device tool):
//   .device/bundle/*.mjs      esbuild bundles of the TS entry points (no node_modules there): gpu_check, bench
//                             (also `bench.mjs latency`), eval, serve, host_cost
//   .device/node-addon-api/   the addon API headers (the addon is built there with nvcc)
//   .device/data.tar.xz       the shared models / tokenizer / datasets the runs read (never committed)
// Node itself: bash ../shared/device/stage-node.sh (makes .device/node). Usage: node scripts/device/stage.mjs [--data]
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.join(root, '.device');
const require = createRequire(path.join(root, 'native/package.json'));
const entries = {
  gpu_check: 'scripts/device/gpu_check.ts',
  bench: 'packages/bench/src/cli.ts',
  eval: 'packages/eval/src/cli.ts',
  serve: 'packages/serve/src/cli.ts',
  // The engine thread of `serve` (loaded beside serve.mjs: packages/serve/src/worker_engine.ts).
  serve_worker: 'packages/serve/src/engine_worker.ts',
  // The serving loop's host work per step with the device taken out (packages/bench/README.md, "Max batch beyond 256").
  host_cost: 'packages/bench/dev/host_cost.ts',
};
fs.rmSync(path.join(out, 'bundle'), { recursive: true, force: true }); // no stale entry points
fs.mkdirSync(path.join(out, 'bundle'), { recursive: true });
for (const [name, src] of Object.entries(entries)) {
  await build({
    entryPoints: [path.join(root, src)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: path.join(out, 'bundle', `${name}.mjs`),
    // CommonJS dependencies inside an ES module bundle need a require().
    banner: { js: "import { createRequire as __qbCreateRequire } from 'node:module'; const require = __qbCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}
const api = path.dirname(require.resolve('node-addon-api/package.json'));
fs.rmSync(path.join(out, 'node-addon-api'), { recursive: true, force: true });
fs.cpSync(api, path.join(out, 'node-addon-api'), { recursive: true, dereference: true });
if (process.argv.includes('--data')) {
  const shared = path.resolve(root, '../shared');
  const parts = ['models/stories260K', 'tokenizers/llama-3.1', 'datasets'].filter((p) => fs.existsSync(path.join(shared, p)));
  execFileSync('tar', ['-cJf', path.join(out, 'data.tar.xz'), '-C', shared, ...parts]);
}
// The commit the bundles were built from (provenance on the GPU machine, whose copy has no usable .git).
const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }).toString().trim() !== '';
fs.writeFileSync(path.join(out, 'commit'), `${head}${dirty ? '+dirty' : ''}\n`);
const size = (p) => (fs.existsSync(p) ? (fs.statSync(p).size / 1e6).toFixed(1) + ' MB' : 'missing');
console.log(`staged .device/: bundles ${Object.keys(entries).join(', ')}; node ${size(path.join(out, 'node/node.xz'))}; data ${size(path.join(out, 'data.tar.xz'))}`);
