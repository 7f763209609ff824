/**
 * Issue 17, items 2 and 4 (the TypeScript side of `pnpm bench`): --protocol study|peer, max batch beyond 256,
 * --gpu-memory-utilization, --max-num-batched-tokens as a sweep axis, host overhead per point, and the published
 * peer numbers beside ours (one copy of the data, in packages/bench/data/peers.json).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ADDON_PATH, isUsageError } from '@quantbench/engine';
import { loadBenchEngine, type EngineLoader, type LoadEngineOptions } from '../src/engine_driver.ts';
import { resolveBench, type RawBenchFlags } from '../src/options.ts';
import { comparePeers, DEFAULT_PEERS_FILE, protocolDifferences, readPeers } from '../src/peers.ts';
import { PEER_NUM_REQUESTS, peerKvCacheDtype } from '../src/protocol.ts';
import { readPoints } from '../src/run_dir.ts';
import { checkOrRecordSetup, runSetupOf, SETUP_FILE } from '../src/run_safety.ts';
import type { BenchSummary } from '../src/schema.ts';
import { renderTable, writeSummary } from '../src/summary.ts';
import { runSweep, type SweepConfig } from '../src/sweep.ts';
import { loadEngine as fakeLoader } from './fake_engine.ts';
import { quietMain } from './quiet_main.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const FAKE = path.join(here, 'fake_engine.ts');
const base: RawBenchFlags = { device: 'auto', workload: 'prefill-heavy', rangeRatio: 0, seed: 0, rate: 'inf', burstiness: 1, chunkedPrefill: true, profileBlocks: false };
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));

function withEnv<T>(vars: Record<string, string>, f: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return f().finally(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

test("--async-scheduling with --backend openai: the server's flag, refused before any request", async () => {
  const resultsDir = tmp('qb-async-openai-');
  for (const flag of ['--async-scheduling', '--no-async-scheduling']) {
    await assert.rejects(
      quietMain(['--backend', 'openai', '--base-url', 'http://127.0.0.1:9', '--protocol', 'peer', flag, '--results-dir', resultsDir]),
      (e: Error) => isUsageError(e) && /--async-scheduling is our engine's scheduling.*server's flag/.test(e.message),
      flag,
    );
  }
  assert.deepEqual(fs.readdirSync(resultsDir), [], 'nothing written');
});

test('--protocol peer: fixed lengths, rate inf, the perf overview request count per ISL/OSL, max batch 2048, 8192 tokens', () => {
  const d = resolveBench({ ...base, protocol: 'peer', workload: 'decode-heavy' }, true);
  assert.equal(d.protocol, 'peer');
  assert.deepEqual([d.workload.inputLen, d.workload.outputLen, d.workload.rangeRatio], [128, 2048, 0]);
  assert.equal(d.workload.numPrompts, 3000);
  assert.equal(d.numPromptsStated, 3000);
  assert.equal(d.numPromptsNote, undefined);
  assert.deepEqual(d.batches, [2048]);
  assert.deepEqual(d.maxNumBatchedTokens, [8192]);
  assert.deepEqual(d.rates, ['inf']);
  assert.equal(d.gpuMemoryUtilization, 0.9);
  // the peer's overlap scheduler: --async-scheduling unless --no-async-scheduling; the study protocol: off unless asked
  assert.equal(d.asyncScheduling, true);
  assert.equal(resolveBench({ ...base, protocol: 'peer', workload: 'decode-heavy', asyncScheduling: false }, true).asyncScheduling, false);
  assert.equal(resolveBench({ ...base, workload: 'decode-heavy' }, true).asyncScheduling, false);
  assert.equal(resolveBench({ ...base, workload: 'decode-heavy', asyncScheduling: true }, true).asyncScheduling, true);
  // block timings need one step at a time (the study protocol; the peer's refuses --profile-blocks)
  assert.equal(resolveBench({ ...base, workload: 'decode-heavy', profileBlocks: true }, true).asyncScheduling, false);
  assert.throws(
    () => resolveBench({ ...base, workload: 'decode-heavy', profileBlocks: true, asyncScheduling: true }, true),
    { code: 'BAD_OPTION', message: /--async-scheduling and --profile-blocks exclude each other/ },
  );
  assert.equal(resolveBench({ ...base, protocol: 'peer', workload: 'prefill-heavy' }, true).workload.numPrompts, 3000);
  const short = resolveBench({ ...base, protocol: 'peer', workload: '128/128' }, true);
  assert.deepEqual([short.workload.inputLen, short.workload.outputLen, short.workload.numPrompts], [128, 128, 30000]);
  // Their count is large: --num-prompts runs fewer, and the run says so.
  const fewer = resolveBench({ ...base, protocol: 'peer', workload: '128/128', numPrompts: 3000 }, true);
  assert.equal(fewer.workload.numPrompts, 3000);
  assert.match(fewer.numPromptsNote!, /ran 3000 requests, fewer than the 30000 .*TensorRT-LLM 1\.0.* 128\/128 \(--num-prompts\)/);
  // Their table's other lengths work as custom workloads; lengths it has no count for need --num-prompts.
  assert.equal(resolveBench({ ...base, protocol: 'peer', workload: 'custom', inputLen: 500, outputLen: 2000 }, true).workload.numPrompts, PEER_NUM_REQUESTS['500/2000']);
  assert.throws(() => resolveBench({ ...base, protocol: 'peer', workload: 'custom', inputLen: 100, outputLen: 100 }, true), { code: 'BAD_OPTION', message: /no request count for 100\/100; pass --num-prompts/ });
  // What would break the protocol is refused, naming the option.
  assert.throws(() => resolveBench({ ...base, protocol: 'peer', rate: 'inf,4' }, true), { code: 'BAD_OPTION', message: /rate inf; --rate inf,4/ });
  assert.throws(() => resolveBench({ ...base, protocol: 'peer', rangeRatio: 0.5 }, true), { code: 'BAD_OPTION', message: /--range-ratio/ });
  assert.throws(() => resolveBench({ ...base, protocol: 'peer', maxConcurrency: 8 }, true), { code: 'BAD_OPTION', message: /--max-concurrency/ });
  assert.throws(() => resolveBench({ ...base, protocol: 'peer', promptsPerBatch: 2 }, true), { code: 'BAD_OPTION', message: /--prompts-per-batch/ });
  assert.throws(() => resolveBench({ ...base, protocol: 'trtllm' }, true), { code: 'BAD_OPTION', message: /unknown --protocol "trtllm".*study or peer/ });
  // The KV cache dtype it wants: fp8 for the FP8 precisions.
  assert.deepEqual(['fp16', 'int8-w8a8', 'fp8-dynamic', 'fp8-static'].map(peerKvCacheDtype), ['auto', 'auto', 'fp8', 'fp8']);
});

test('--capacity-scheduler-policy: guaranteed-no-evict under --protocol peer (TensorRT-LLM\'s default), max-utilization otherwise; a typo is named', async () => {
  assert.equal(resolveBench({ ...base, protocol: 'peer', workload: 'decode-heavy' }, true).capacitySchedulerPolicy, 'guaranteed-no-evict');
  assert.equal(resolveBench({ ...base, workload: 'decode-heavy' }, true).capacitySchedulerPolicy, 'max-utilization');
  assert.equal(resolveBench({ ...base, protocol: 'peer', capacitySchedulerPolicy: 'max-utilization' }, true).capacitySchedulerPolicy, 'max-utilization');
  assert.equal(resolveBench({ ...base, capacitySchedulerPolicy: 'guaranteed-no-evict' }, true).capacitySchedulerPolicy, 'guaranteed-no-evict');
  assert.throws(() => resolveBench({ ...base, capacitySchedulerPolicy: 'guaranteed-no-evic' }, true), {
    code: 'BAD_OPTION',
    message: /unknown --capacity-scheduler-policy "guaranteed-no-evic".*max-utilization or guaranteed-no-evict.*guaranteed-no-evict/,
  });
  // A resumed run with the other policy is refused (the points would mix two schedulers).
  const runDir = tmp('qb-policy-');
  checkOrRecordSetup(runDir, runSetupOf(resolveBench({ ...base, protocol: 'peer', workload: 'decode-heavy', numPrompts: 8 }, true)), [], false);
  assert.throws(
    () => checkOrRecordSetup(runDir, runSetupOf(resolveBench({ ...base, protocol: 'peer', workload: 'decode-heavy', numPrompts: 8, capacitySchedulerPolicy: 'max-utilization' }, true)), [], true),
    { code: 'SETUP_MISMATCH', message: /capacitySchedulerPolicy \(--capacity-scheduler-policy\) was "guaranteed-no-evict"/ },
  );
  // With --backend openai it is the server's setting.
  const resultsDir = tmp('qb-policy-openai-');
  await assert.rejects(
    quietMain(['--backend', 'openai', '--base-url', 'http://127.0.0.1:9', '--capacity-scheduler-policy', 'guaranteed-no-evict', '--results-dir', resultsDir]),
    (e: Error) => isUsageError(e) && /--capacity-scheduler-policy is our engine's scheduling/.test(e.message),
  );
});

test('--protocol study (default) is the study: batch 256, 8192 tokens, prompts by batch; batches up to 2048 and token lists accepted', () => {
  const s = resolveBench(base, true);
  assert.equal(s.protocol, 'study');
  assert.deepEqual(s.batches, [256]);
  assert.deepEqual(s.maxNumBatchedTokens, [8192]);
  assert.equal(s.workload.numPrompts, null);
  assert.equal(s.numPromptsStated, null);
  const big = resolveBench({ ...base, batch: '256,512,1024,2048', maxNumBatchedTokens: '2048,8192,16384', gpuMemoryUtilization: 0.95 }, true);
  assert.deepEqual(big.batches, [256, 512, 1024, 2048]);
  assert.deepEqual(big.maxNumBatchedTokens, [2048, 8192, 16384]);
  assert.equal(big.gpuMemoryUtilization, 0.95);
  assert.deepEqual(resolveBench({ ...base, maxNumBatchedTokens: 4096 }, true).maxNumBatchedTokens, [4096]);
  assert.throws(() => resolveBench({ ...base, maxNumBatchedTokens: '2048,x' }, true), { code: 'BAD_OPTION', message: /--max-num-batched-tokens/ });
  assert.throws(() => resolveBench({ ...base, gpuMemoryUtilization: 1.5 }, true), { code: 'BAD_OPTION', message: /--gpu-memory-utilization/ });
  assert.deepEqual(resolveBench({ ...base, workload: '128/128' }, true).workload.inputLen, 128);
});

test('--resume refuses a different protocol (a run.json from before --protocol is the study)', () => {
  const runDir = tmp('qb-proto-');
  const study = runSetupOf(resolveBench({ ...base, workload: 'decode-heavy' }, true));
  const peer = runSetupOf(resolveBench({ ...base, workload: 'decode-heavy', protocol: 'peer', numPrompts: 256 }, true));
  checkOrRecordSetup(runDir, peer, [], false);
  assert.throws(() => checkOrRecordSetup(runDir, study, [], true), { code: 'SETUP_MISMATCH', message: /protocol \(--protocol\) was "peer".*now "study"/ });
  checkOrRecordSetup(runDir, peer, [], true);
  // An older run.json: no protocol field, so it ran the study protocol.
  const old = JSON.parse(fs.readFileSync(path.join(runDir, SETUP_FILE), 'utf8')) as { setup: Record<string, unknown> };
  const oldDir = tmp('qb-proto-old-');
  const { protocol: _p, gpuMemoryUtilization: _g, ...oldSetup } = { ...old.setup, ...study } as Record<string, unknown>;
  fs.writeFileSync(path.join(oldDir, SETUP_FILE), JSON.stringify({ schema: 'quantbench.bench.run', version: 1, setup: { ...oldSetup, maxNumBatchedTokens: 8192 } }));
  checkOrRecordSetup(oldDir, study, [], true);
  assert.throws(() => checkOrRecordSetup(oldDir, { ...study, protocol: 'peer' }, [], true), { code: 'SETUP_MISMATCH', message: /protocol/ });
});

test('the peers data is one file, in bench; its TensorRT-LLM 1.0 H200 FP8 numbers and request counts are the perf overview\'s', () => {
  assert.equal(fs.existsSync(path.join(here, '../../report/data/peers.json')), false, 'no second copy in the report');
  assert.equal(DEFAULT_PEERS_FILE, path.resolve(here, '../data/peers.json'));
  const peers = readPeers();
  const trt = (i: number, o: number) => peers.throughput.find((t) => t.engine === 'TensorRT-LLM 1.0' && t.device === 'H200' && t.inputLen === i && t.outputLen === o)!;
  assert.equal(trt(128, 2048).outTokS, 26221);
  assert.equal(trt(2048, 128).outTokS, 3538);
  assert.equal(trt(128, 128).outTokS, 27911);
  for (const [i, o] of [[128, 2048], [2048, 128], [128, 128]] as const) {
    assert.equal(trt(i, o).numRequests, PEER_NUM_REQUESTS[`${i}/${o}`]);
    assert.match(trt(i, o).source, /TensorRT-LLM\/blob\/v1\.0\.0\/docs\/source\/performance\/perf-overview\.md$/);
    assert.equal(trt(i, o).precision, 'fp8-static');
  }
  const v014 = peers.throughput.filter((t) => t.engine === 'TensorRT-LLM v0.14');
  assert.deepEqual(v014.map((t) => [t.device, t.precision, t.inputLen, t.outputLen, t.outTokS]), [['H100', 'fp16', 128, 2048, 9151], ['H100', 'fp16', 2048, 128, 1904]]);
});

/** The fake engine behind a loader that records what the sweep asked it for. */
function recordingLoader(seen: LoadEngineOptions[]): EngineLoader {
  return async (o) => {
    seen.push(o);
    return fakeLoader(o);
  };
}

function peerConfig(runDir: string): SweepConfig {
  return {
    runDir,
    model: 'fake:test',
    device: 'cuda',
    precisions: ['fp8-static'],
    batches: [2048],
    rates: ['inf'],
    workload: { name: '128/128', inputLen: 128, outputLen: 128, rangeRatio: 0, numPrompts: 6, seed: 1 },
    burstiness: 1,
    maxConcurrency: null,
    maxNumBatchedTokens: [512, 1024],
    enableChunkedPrefill: true,
    resume: false,
    saveRequests: true,
    protocol: { name: 'peer', numPromptsStated: 30000, numPromptsNote: 'ran 6 requests, fewer than the 30000 (test)' },
    gpuMemoryUtilization: 0.85,
  };
}

test('--kv-cache-dtype overrides the peer protocol\'s FP8 KV cache: what ran beside what the protocol wanted, named in the peer comparison', async () => {
  const runDir = tmp('qb-peer-kv-');
  const seen: LoadEngineOptions[] = [];
  await withEnv({ QB_FAKE_DEVICE_NAME: 'NVIDIA H200' }, () => runSweep({ ...peerConfig(runDir), maxNumBatchedTokens: [512], kvCacheDtypes: ['auto'] }, { loader: recordingLoader(seen) }));
  assert.equal(seen[0]!.kvCacheDtype, 'auto');
  const [p] = readPoints(runDir);
  assert.equal(p!.key, '128/128|fp8-static|2048|inf|512');
  assert.equal(p!.protocol!.kvCacheDtypeWanted, 'fp8');
  assert.equal(p!.engine.kvCacheDtype, 'auto');
  const files = writeSummary(runDir, 'peer', 'test', readPoints(runDir));
  const summary = JSON.parse(fs.readFileSync(files.json, 'utf8')) as BenchSummary;
  assert.match(summary.peers![0]!.protocolDifferences.join('\n'), /KV cache in the activation dtype \(the protocol wanted fp8; --kv-cache-dtype ran auto\), the peer's fp8/);
});

test('a peer-protocol sweep: tokens axis, protocol and KV dtype wanted per point, peer number beside ours in the table and summary.json', async () => {
  const runDir = tmp('qb-peer-');
  const seen: LoadEngineOptions[] = [];
  const out = await withEnv({ QB_FAKE_DEVICE_NAME: 'NVIDIA H200' }, () => runSweep(peerConfig(runDir), { loader: recordingLoader(seen) }));
  assert.equal(out.newPoints.length, 2);
  // One load per precision, sized for the largest token budget, asked for the protocol's KV dtype and memory share.
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.gpuMemoryUtilization, 0.85);
  assert.equal(seen[0]!.maxNumBatchedTokens, 1024);
  assert.equal(seen[0]!.kvCacheDtype, 'fp8');
  const points = readPoints(runDir);
  assert.deepEqual(points.map((p) => p.key).sort(), ['128/128|fp8-static+kv-fp8|2048|inf|1024', '128/128|fp8-static+kv-fp8|2048|inf|512']);
  for (const p of points) {
    assert.equal(p.protocol!.name, 'peer');
    assert.equal(p.protocol!.kvCacheDtypeWanted, 'fp8');
    assert.equal(p.protocol!.ignoreEos, true);
    assert.equal(p.protocol!.numPromptsStated, 30000);
    assert.match(p.protocol!.numPromptsNote!, /fewer than the 30000/);
    assert.match(p.protocol!.source!, /perf-overview\.md/);
    assert.equal(p.engine.kvCacheDtype, 'fp8', 'what ran: the FP8 KV cache the protocol wants');
    assert.equal(p.provenance.kv_cache_dtype, 'fp8');
    assert.equal(p.engine.gpuMemoryUtilization, 0.85);
    assert.equal(p.engine.maxNumSeqs, 2048);
    assert.equal(p.engine.maxNumBatchedTokens, Number(p.key.split('|')[4]));
    // Every output forced to full length.
    assert.equal(p.metrics.completed, 6);
    assert.ok(p.requests!.every((r) => r.outputLen === 128 && r.inputLen === 128));
  }
  const files = writeSummary(runDir, 'peer', 'test', points);
  const summary = JSON.parse(fs.readFileSync(files.json, 'utf8')) as BenchSummary;
  assert.deepEqual(summary.protocols, ['peer']);
  assert.equal(summary.peers!.length, 2);
  const c = summary.peers![0]!;
  assert.equal(c.peer.outTokS, 27911);
  assert.equal(c.peer.engine, 'TensorRT-LLM 1.0');
  assert.match(c.peer.source, /perf-overview\.md/);
  assert.ok(Math.abs(c.ratio - c.ours.outTokS / 27911) < 1e-12);
  const diffs = c.protocolDifferences.join('\n');
  assert.match(diffs, /ours ran 6 requests, the peer 30000/);
  assert.doesNotMatch(diffs, /KV cache/, 'ours ran the FP8 KV cache the peer runs');
  assert.match(diffs, /synthetic weights/);
  assert.doesNotMatch(diffs, /ours ran the .* protocol/);
  const table = renderTable(points);
  assert.match(table, /\bpeer\b/);
  assert.match(table, /27,911 \(\d+%\) \[1\]/);
  assert.match(table, /\[1\] TensorRT-LLM 1\.0, H200, .*128\/128: 27,911 out tok\/s \(https:\/\/github\.com\/NVIDIA\/TensorRT-LLM\/blob\/v1\.0\.0\/docs\/source\/performance\/perf-overview\.md\)\. Their protocol: .* Ours differs: ours ran 6 requests, the peer 30000/);
  assert.doesNotMatch(table, /\[2\]/, 'one note per published number');
  assert.match(table, /note: ran 6 requests, fewer than the 30000/);
  // The CSV carries the per-point settings.
  const [header, row] = fs.readFileSync(files.csv, 'utf8').trim().split('\n');
  const cols = header!.split(',');
  const cell = (name: string) => row!.split(',')[cols.indexOf(name)];
  assert.equal(cell('protocol'), 'peer');
  assert.equal(cell('kv_cache_dtype_wanted'), 'fp8');
  assert.ok(['512', '1024'].includes(cell('max_num_batched_tokens')!));
  assert.ok(cols.includes('host_overhead_fraction'));
});

test('no peer number for another card, precision or lengths; a study point beside a peer says which protocol it ran', async () => {
  const runDir = tmp('qb-peer-none-');
  const cfg = { ...peerConfig(runDir), protocol: undefined, precisions: ['fp16' as const, 'fp8-static' as const], maxNumBatchedTokens: 512 };
  const out = await withEnv({ QB_FAKE_DEVICE_NAME: 'NVIDIA H200' }, () => runSweep(cfg, { loader: fakeLoader }));
  const peers = readPeers();
  const cmp = comparePeers(out.points, peers);
  assert.deepEqual(cmp.map((c) => c.key), ['128/128|fp8-static|2048|inf|512'], 'no fp16 128/128 number is published');
  assert.match(cmp[0]!.protocolDifferences[0]!, /ours ran the study protocol, not the peer protocol/);
  const cpuRun = tmp('qb-peer-cpu-');
  const cpu = await runSweep({ ...cfg, runDir: cpuRun, device: 'cpu', precisions: ['fp8-static'] }, { loader: fakeLoader });
  assert.deepEqual(comparePeers(cpu.points, peers), []);
  assert.match(renderTable(cpu.points), /\bn\/a\b/);
});

/** Max batch 2048 over a KV cache too small for it: 2048 sequences of 8..19 tokens need 2048-4096 blocks at once. */
function smallCacheConfig(runDir: string): SweepConfig {
  return {
    ...peerConfig(runDir),
    device: 'cpu',
    precisions: ['fp16'],
    workload: { name: 'custom', inputLen: 8, outputLen: 12, rangeRatio: 0, numPrompts: 2100, seed: 2 },
    maxNumBatchedTokens: 16384,
    numKvBlocks: 1024,
  };
}

test('max batch 2048 with a KV cache too small for it: preempts, completes every request at full length, records the preemptions', async () => {
  const runDir = tmp('qb-big-batch-');
  const cfg: SweepConfig = { ...smallCacheConfig(runDir), saveRequests: true };
  const out = await runSweep(cfg, { loader: fakeLoader });
  const p = out.newPoints[0]!;
  assert.equal(p.engine.maxNumSeqs, 2048);
  assert.equal(p.engine.numKvBlocks, 1024);
  assert.ok(p.metrics.preemptions > 0, 'preempted');
  assert.equal(p.metrics.completed, 2100);
  assert.equal(p.metrics.failed, 0);
  assert.equal(p.metrics.totalOutputTokens, 2100 * 12);
  assert.ok(p.requests!.every((r) => r.outputLen === 12));
  const files = writeSummary(runDir, 'big', 'test', readPoints(runDir));
  const [header, row] = fs.readFileSync(files.csv, 'utf8').trim().split('\n');
  assert.equal(Number(row!.split(',')[header!.split(',').indexOf('preemptions')]), p.metrics.preemptions);
});

test('the same too-small cache under guaranteed-no-evict: no preemption, every request at full length, the policy recorded and named beside the peer', async () => {
  const runDir = tmp('qb-no-evict-');
  const cfg: SweepConfig = { ...smallCacheConfig(runDir), capacitySchedulerPolicy: 'guaranteed-no-evict' };
  const p = (await runSweep(cfg, { loader: fakeLoader })).newPoints[0]!;
  assert.equal(p.engine.capacitySchedulerPolicy, 'guaranteed-no-evict');
  assert.equal(p.metrics.preemptions, 0);
  assert.equal(p.metrics.completed, 2100);
  assert.equal(p.metrics.totalOutputTokens, 2100 * 12);
  // A point that preempted says so beside TensorRT-LLM's number; one that ran its policy does not.
  const peer = readPeers().throughput.find((t) => t.engine === 'TensorRT-LLM 1.0')!;
  const mu = { ...p, engine: { ...p.engine, capacitySchedulerPolicy: 'max-utilization' }, metrics: { ...p.metrics, preemptions: 7 } };
  assert.match(protocolDifferences(mu, peer).join('\n'), /max-utilization \(7 preemptions by recompute\).*GUARANTEED_NO_EVICT/);
  assert.doesNotMatch(protocolDifferences(p, peer).join('\n'), /GUARANTEED_NO_EVICT/);
});

test('host overhead per point: 1 - forward time / step-loop time, printed in the table', async () => {
  const runDir = tmp('qb-host-');
  const cfg: SweepConfig = { ...peerConfig(runDir), device: 'cpu', precisions: ['fp16'], maxNumBatchedTokens: 256, workload: { name: 'custom', inputLen: 16, outputLen: 8, rangeRatio: 0, numPrompts: 8, seed: 0 } };
  const out = await withEnv({ QB_FAKE_STEP_MS: '1' }, () => runSweep(cfg, { loader: fakeLoader }));
  const p = out.newPoints[0]!;
  const f = p.metrics.hostOverheadFraction!;
  assert.ok(f >= 0 && f < 1, `host overhead ${f}`);
  assert.ok(p.steps!.meanLoopMs! >= p.steps!.meanForwardMs + p.steps!.meanHostMs - 1e-9);
  assert.ok(Math.abs(f - (1 - p.steps!.meanForwardMs / p.steps!.meanLoopMs!)) < 1e-9);
  assert.match(renderTable(out.points), /host %/);
});

test('pnpm bench --protocol peer: one command; its points, summary and table carry the protocol; --resume under study is refused', async () => {
  const resultsDir = tmp('qb-peer-cli-');
  const args = ['--engine-module', FAKE, '--results-dir', resultsDir, '--run', 'p', '--device', 'cpu', '--precision', 'fp8-static', '--workload', '128/128', '--num-prompts', '4'];
  // Tee stdout (the test reporter writes there too): the table is what the run prints.
  const stdout = process.stdout.write;
  let printed = '';
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) => {
    printed += String(s);
    return (stdout as (...a: unknown[]) => boolean).call(process.stdout, s, ...rest);
  }) as typeof process.stdout.write;
  let code: number;
  try {
    code = await quietMain([...args, '--protocol', 'peer', '--max-num-batched-tokens', '256,512', '--gpu-memory-utilization', '0.8']);
  } finally {
    process.stdout.write = stdout;
  }
  assert.equal(code, 0);
  const points = readPoints(path.join(resultsDir, 'p'));
  assert.deepEqual(points.map((p) => [p.protocol!.name, p.engine.maxNumSeqs, p.engine.maxNumBatchedTokens]).sort(), [['peer', 2048, 256], ['peer', 2048, 512]]);
  assert.match(points[0]!.protocol!.numPromptsNote!, /ran 4 requests, fewer than the 30000/);
  const setup = JSON.parse(fs.readFileSync(path.join(resultsDir, 'p', SETUP_FILE), 'utf8')) as { setup: { protocol: string; gpuMemoryUtilization: number } };
  assert.equal(setup.setup.protocol, 'peer');
  assert.equal(setup.setup.gpuMemoryUtilization, 0.8);
  assert.match(printed, /peer/);
  assert.match(printed, /host %/);
  const summary = JSON.parse(fs.readFileSync(path.join(resultsDir, 'p', 'summary.json'), 'utf8')) as BenchSummary;
  assert.deepEqual(summary.protocols, ['peer']);
  await assert.rejects(quietMain([...args, '--resume', '--gpu-memory-utilization', '0.8']), { code: 'SETUP_MISMATCH', message: /--protocol/ });
});

test('pnpm bench --help explains the protocols, the peer numbers and the flags', () => {
  // yargs' --help exits the process: a child process.
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, '../src/cli.ts'), '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const re of [/--protocol/, /--gpu-memory-utilization/, /--max-num-batched-tokens/, /comma list\s+swept\s+as\s+an\s+axis/, /--capacity-scheduler-policy/, /perf overview/, /26,221/, /3,538/, /27,911/, /host_overhead_fraction/, /128\/128/]) assert.match(r.stdout, re);
});

const nativeSkip = fs.existsSync(ADDON_PATH) ? false : `skipped: native addon not built (${ADDON_PATH}); run pnpm build`;

test('real CPU backend (synthetic:tiny) with a small KV cache: a point that must preempt completes with the right token counts', { skip: nativeSkip }, async () => {
  const runDir = tmp('qb-preempt-cpu-');
  const cfg: SweepConfig = {
    runDir,
    model: 'synthetic:tiny',
    device: 'cpu',
    precisions: ['fp16'],
    batches: [16],
    rates: ['inf'],
    workload: { name: 'custom', inputLen: 24, outputLen: 20, rangeRatio: 0, numPrompts: 16, seed: 5 },
    burstiness: 1,
    maxConcurrency: null,
    maxNumBatchedTokens: 512,
    enableChunkedPrefill: true,
    numKvBlocks: 24, // 16 sequences of up to 43 tokens need 48 blocks at once
    resume: false,
    saveRequests: true,
  };
  const out = await runSweep(cfg, { loader: loadBenchEngine });
  const p = out.newPoints[0]!;
  assert.ok(p.metrics.preemptions > 0, 'preempted');
  assert.equal(p.metrics.completed, 16);
  assert.equal(p.metrics.failed, 0);
  assert.equal(p.metrics.totalInputTokens, 16 * 24);
  assert.equal(p.metrics.totalOutputTokens, 16 * 20);
  assert.ok(p.requests!.every((r) => r.outputLen === 20));
});
