/**
 * The acceptance path through the real CLIs: `pnpm serve` on stories260K on an ephemeral port (port 0, the bound
 * port read back from stdout), then `pnpm bench --backend openai --quick` and `pnpm eval … --model
 * local-completions --limit 2` through it, compared with the same commands in-process (bench token counts equal,
 * eval log-likelihoods within 1e-6), and SIGTERM draining the server to exit 0.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { dataPath, missingDataMessage, REPO_ROOT } from '@quantbench/engine';

const model = dataPath('models/stories260K/hf');
const datasets = dataPath('datasets/arc');
const skip = !model ? missingDataMessage('models/stories260K/hf') : !datasets ? missingDataMessage('datasets/arc') : false;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-serve-e2e-'));
const tsx = (script: string, args: string[]) => [process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script), ...args]] as const;

let server: ChildProcess;
let url = '';
let serverLog = '';

before(async () => {
  if (skip) return;
  const [cmd, args] = tsx('packages/serve/src/cli.ts', ['--model', model!, '--precision', 'fp16', '--port', '0', '--max-num-seqs', '16']);
  server = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr!.on('data', (d) => (serverLog += d));
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.on('exit', (c) => reject(new Error(`pnpm serve exited ${c}: ${serverLog}`)));
    setTimeout(() => reject(new Error(`pnpm serve did not start: ${serverLog}`)), 60_000).unref();
  });
});

after(() => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

function run(script: string, args: string[]): string {
  const [cmd, a] = tsx(script, args);
  const r = spawnSync(cmd, a, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${script} ${args.join(' ')}\n${r.stderr}`);
  return r.stderr;
}

const readPoints = (dir: string) => fs.readFileSync(path.join(dir, 'points.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('pnpm bench --backend openai --quick through pnpm serve: token counts equal in-process, provenance records the server', { skip }, () => {
  const common = ['--quick', '--workload', 'decode-heavy', '--results-dir', tmp, '--num-prompts', '6'];
  // Two servers side by side in one sweep (here the same one twice, under two labels).
  run('packages/bench/src/cli.ts', ['--backend', 'openai', '--base-url', `${url},${url}/v1`, '--label', 'served-fp16,again', '--run', 'remote', ...common]);
  run('packages/bench/src/cli.ts', ['--model', model!, '--precision', 'fp16', '--batch', '16', '--run', 'local', ...common]);
  const [remote, again] = readPoints(path.join(tmp, 'remote'));
  const [local] = readPoints(path.join(tmp, 'local'));
  assert.equal(again.provenance.label, 'again');
  assert.equal(again.metrics.totalOutputTokens, local.metrics.totalOutputTokens);
  assert.equal(remote.metrics.completed, 6);
  assert.equal(remote.metrics.totalInputTokens, local.metrics.totalInputTokens);
  assert.equal(remote.metrics.totalOutputTokens, local.metrics.totalOutputTokens);
  assert.equal(remote.provenance.backend, 'openai');
  assert.equal(remote.provenance.baseUrl, url);
  assert.equal(remote.provenance.servedModel, model);
  assert.equal(remote.provenance.label, 'served-fp16');
  assert.equal(remote.provenance.weights, 'real');
  assert.equal(remote.protocol.name, 'study');
  assert.equal(local.protocol.name, 'study');
  assert.ok(remote.metrics.ttftMs.median > 0 && remote.metrics.itlMs.median >= 0);
});

test('pnpm bench --backend openai --gpu-telemetry: this machine\'s GPU sampled beside the server (off unless asked)', { skip }, () => {
  // This machine has no GPU: a stand-in nvidia-smi on PATH prints what an H200's prints under the power cap.
  const bin = fs.mkdtempSync(path.join(tmp, 'smi-'));
  fs.writeFileSync(
    path.join(bin, 'nvidia-smi'),
    '#!/bin/sh\nwhile true; do echo "1575, 1980, 691.94, 700.00, 62, 0x0000000000000004"; sleep 0.05; done\n',
    { mode: 0o755 },
  );
  const common = ['--backend', 'openai', '--base-url', url, '--label', 'served', '--quick', '--workload', 'decode-heavy', '--results-dir', tmp, '--num-prompts', '4'];
  const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` };
  for (const [name, extra] of [['tel-on', ['--gpu-telemetry']], ['tel-off', []]] as const) {
    const [cmd, a] = tsx('packages/bench/src/cli.ts', [...common, '--run', name, ...extra]);
    const r = spawnSync(cmd, a, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000, env });
    assert.equal(r.status, 0, r.stderr);
  }
  const [on] = readPoints(path.join(tmp, 'tel-on'));
  const [off] = readPoints(path.join(tmp, 'tel-off'));
  assert.equal(on.gpuTelemetry?.smClockMHz.median, 1575, JSON.stringify(on.gpuTelemetryNote));
  assert.equal(on.gpuTelemetry.powerCappedFraction, 1);
  assert.equal(off.gpuTelemetry, undefined);
  assert.equal(off.gpuTelemetryNote, undefined);
});

test('pnpm eval arc_easy --model local-completions --limit 2: log-likelihoods equal in-process (|d| <= 1e-6)', { skip }, () => {
  const common = ['arc_easy', '--limit', '2', '--no-progress', '--cache-dir', path.join(tmp, 'cache')];
  // Two labels (the same server twice): results per label, recovery and fidelity of the second against fp16.
  run('packages/eval/src/cli.ts', [...common, '--model', 'local-completions', '--base-url', `${url}/v1/completions,${url}`, '--precision', 'fp16,fp8-static', '--out', path.join(tmp, 'ev-remote')]);
  run('packages/eval/src/cli.ts', [...common, '--model', model!, '--out', path.join(tmp, 'ev-local')]);
  const files = fs.readdirSync(path.join(tmp, 'cache'));
  assert.equal(files.length, 3, 'the remote labels and the in-process run have separate caches');
  const read = (f: string) => new Map(fs.readFileSync(path.join(tmp, 'cache', f), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((x) => [x.k, x.v.ll]));
  // The in-process run wrote its cache last.
  const byAge = files.sort((x, y) => fs.statSync(path.join(tmp, 'cache', x)).mtimeMs - fs.statSync(path.join(tmp, 'cache', y)).mtimeMs);
  const [a, b] = [read(byAge[0]!), read(byAge[2]!)] as [Map<string, any>, Map<string, any>];
  assert.ok(a.size >= 8);
  assert.equal(a.size, b.size);
  for (const [k, v] of a) {
    assert.ok(Math.abs(v.logprob - b.get(k).logprob) <= 1e-6, `${k}: ${v.logprob} vs ${b.get(k).logprob}`);
    assert.equal(v.isGreedy, b.get(k).isGreedy);
  }
  const outFiles = fs.readdirSync(path.join(tmp, 'ev-remote'));
  const res = JSON.parse(fs.readFileSync(path.join(tmp, 'ev-remote', outFiles.find((f) => f.startsWith('eval_') && f.endsWith('_fp16.json'))!), 'utf8'));
  assert.equal(res.provenance.backend, 'openai');
  assert.equal(res.provenance.servedModel, model);
  assert.equal(res.provenance.label, 'fp16');
  const q = JSON.parse(fs.readFileSync(path.join(tmp, 'ev-remote', outFiles.find((f) => f.startsWith('eval_') && f.endsWith('_fp8-static.json'))!), 'utf8'));
  assert.equal(q.provenance.label, 'fp8-static');
  const fid = JSON.parse(fs.readFileSync(path.join(tmp, 'ev-remote', outFiles.find((f) => f.startsWith('fidelity_') && f.endsWith('_fp8-static.json'))!), 'utf8'));
  assert.equal(fid.reference, 'fp16');
  assert.ok(fid.perTask.arc_easy, 'per-task fidelity of the second label vs fp16');
});

test('eval against a server that gives no prompt log-probs fails with a clear message', { skip }, async () => {
  // A minimal OpenAI-style server without echo support (as some servers are).
  const http = await import('node:http');
  const fake = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/v1/models') return res.end(JSON.stringify({ data: [{ id: model, max_model_len: 512 }] }));
    res.end(JSON.stringify({ choices: [{ index: 0, text: 'x', logprobs: null }] }));
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  try {
    const port = (fake.address() as { port: number }).port;
    const [cmd, a] = tsx('packages/eval/src/cli.ts', ['arc_easy', '--limit', '1', '--no-progress', '--model', 'local-completions', '--base-url', `http://127.0.0.1:${port}`, '--out', path.join(tmp, 'ev-fake'), '--cache-dir', path.join(tmp, 'cache-fake')]);
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const p = spawn(cmd, a, { cwd: REPO_ROOT });
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      p.on('exit', (status) => resolve({ status, stderr }));
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no prompt log-probs/);
  } finally {
    fake.close();
  }
});

test('SIGTERM drains pnpm serve and it exits 0', { skip }, async () => {
  const code = await new Promise<number | null>((resolve) => {
    server.on('exit', (c) => resolve(c));
    server.kill('SIGTERM');
  });
  assert.equal(code, 0, serverLog);
  assert.match(serverLog, /server stopped/);
});
