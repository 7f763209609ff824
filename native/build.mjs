#!/usr/bin/env node
// Builds the native addon with CMake against the local Node headers (no header download).
// Env: NODE_INCLUDE_DIR (default: <node prefix>/include/node), QB_CUDA=0 to skip the CUDA backend,
// QB_BUILD_DIR (default native/build; a different dir is copied to native/build unless QB_BUILD_COPY=0), QB_JOBS.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const buildDir = process.env.QB_BUILD_DIR ?? path.join(here, 'build');
let nodeInc = process.env.NODE_INCLUDE_DIR ?? path.resolve(process.execPath, '../../include/node');
if (!fs.existsSync(path.join(nodeInc, 'node_api.h'))) nodeInc = '/usr/include/node';
if (!fs.existsSync(path.join(nodeInc, 'node_api.h'))) {
  console.error(`node headers not found (looked in ${nodeInc}); set NODE_INCLUDE_DIR to a folder holding node_api.h`);
  process.exit(1);
}
const addonApi = path.dirname(require.resolve('node-addon-api/package.json'));
const jobs = process.env.QB_JOBS ?? String(Math.max(1, os.cpus().length));
const args = [
  '-S', here, '-B', buildDir,
  `-DNODE_INCLUDE_DIR=${nodeInc}`,
  `-DNODE_ADDON_API_DIR=${addonApi}`,
  `-DQB_CUDA=${process.env.QB_CUDA === '0' ? 'OFF' : 'ON'}`,
  '-DCMAKE_BUILD_TYPE=Release',
];
const run = (cmd, a) => execFileSync(cmd, a, { stdio: 'inherit' });
try {
  run('cmake', args);
  run('cmake', ['--build', buildDir, '-j', jobs]);
} catch {
  console.error('native build failed (see the compiler output above)');
  process.exit(1);
}
const out = path.join(buildDir, 'quantbench_native.node');
// QB_BUILD_COPY=0: leave native/build alone (a private build for a long run, used through QB_NATIVE_ADDON).
if (buildDir !== path.join(here, 'build') && process.env.QB_BUILD_COPY !== '0') {
  fs.mkdirSync(path.join(here, 'build'), { recursive: true });
  // Copy then rename: a process that has the old addon loaded keeps its (unlinked) file; copying over it in place
  // would change the mapped library under that process (SIGBUS).
  const dst = path.join(here, 'build', 'quantbench_native.node');
  fs.copyFileSync(out, dst + '.tmp');
  fs.renameSync(dst + '.tmp', dst);
}
console.log(`built ${out}`);
