import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ADDON_PATH, syntheticConfig } from '@quantbench/engine';
import { OptionError } from '../src/options.ts';
import { resolveLatency } from '../src/latency/command.ts';
import { decodeBatch, decodeBlocks, decodeSequencesThatFit } from '../src/latency/batches.ts';
import { decodeCost, latencyCeilings, prefillCost } from '../src/latency/roofline.ts';
import { SeededRng } from '../src/rng.ts';
import { runLatency, type LatencyRow } from '../src/latency/run.ts';
import { formatLatencyRow } from '../src/latency/format.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'qb-lat-'));
const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.abs(b);

// results/gpu-h200-d6c4bd9/ceilings.json: the denominators of that record's gpu_latency.jsonl
const H200_FILE = { device: 'NVIDIA H200', copyTBs: 4.053691549898971, bf16Tflops: 748.4314479178514, fp8Tflops: 1292.1567214943382, torch: '2.11.0+cu130', commit: 'd6c4bd9+bundle', weights: 'synthetic' };

test('latency roofline: the committed H200 record\'s bytes, FLOPs and ideal times come out again', () => {
  const dir = tmp();
  const file = path.join(dir, 'ceilings.json');
  fs.writeFileSync(file, JSON.stringify(H200_FILE));
  const roof = latencyCeilings('cuda', 'NVIDIA H200', file)!;
  assert.deepEqual(roof.record, { source: 'measured here (scripts/device/ceilings.py)', ...H200_FILE }, 'the file as written, with its source');
  const a = syntheticConfig('llama-3.1-8b');
  const b1 = decodeCost(a, 'fp16', 1, 128, roof.ceilings);
  assert.equal(b1.bytes, 15026094080);
  assert.ok(near(b1.rooflineMs!, 3.706767990370281), `${b1.rooflineMs}`);
  const b64 = decodeCost(a, 'fp8-static', 64, 2048, roof.ceilings);
  assert.equal(b64.bytes, 25209864192);
  assert.ok(near(b64.rooflineMs!, 6.21898925502319), `${b64.rooflineMs}`);
  const p16 = prefillCost(a, 'fp16', 2048, roof.ceilings);
  assert.equal(p16.flops, 29687864623104);
  assert.ok(near(p16.rooflineMs!, 39.66677870858597), `${p16.rooflineMs}`);
  const p8 = prefillCost(a, 'int8-w8a8', 2048, roof.ceilings);
  assert.ok(near(p8.rooflineMs!, 23.594203139433144), `${p8.rooflineMs}`);
});

test('decode bound: each part at the larger of its bytes and FLOPs time; at batch 256 the linears and lm_head are compute-bound', () => {
  const c = { bandwidthTBs: H200_FILE.copyTBs, tflops16: H200_FILE.bf16Tflops, tflops8: H200_FILE.fp8Tflops } as never;
  const a = syntheticConfig('llama-3.1-8b');
  // fp8-static, FP8 KV (64 KiB a token), batch 256 x context 2048, by hand (ms): linears max(6,979,321,856 B / BW,
  // 2 x 6,979,321,856 x 256 / fp8 peak) = max(1.72172, 2.765464); lm_head max(2 x 525,336,576 B / BW,
  // 2 x 525,336,576 x 256 / bf16 peak) = max(0.259189, 0.359381); attention max(256 x 2048 x 65,536 B / BW, ...) = 8.47616.
  const d = decodeCost(a, 'fp8-static', 256, 2048, c, 65536);
  assert.ok(Math.abs(d.boundMs! - 11.601005) < 1e-5, `${d.boundMs}`);
  assert.ok(Math.abs(d.rooflineMs! - 10.457069) < 1e-5, `${d.rooflineMs}`);
  assert.deepEqual(d.computeBound, ['linears', 'lm_head']);
  // Batch 1: every part bandwidth-bound, so the bound is the roofline.
  const b1 = decodeCost(a, 'fp16', 1, 128, c);
  assert.deepEqual(b1.computeBound, []);
  assert.ok(near(b1.boundMs!, b1.rooflineMs!), `${b1.boundMs} vs ${b1.rooflineMs}`);
  assert.equal(decodeCost(a, 'fp16', 256, 2048, null).boundMs, null);
});

test('latency ceilings: a known card\'s measured rates without a file, none on the CPU or an unknown card', () => {
  const h100 = latencyCeilings('cuda', 'NVIDIA H100 80GB HBM3', undefined)!;
  assert.deepEqual([h100.record.copyTBs, h100.record.bf16Tflops, h100.record.fp8Tflops], [3.0, 715, 1270]);
  assert.match(String(h100.record.source), /H100 SXM/);
  assert.equal(latencyCeilings('cuda', 'NVIDIA A100-SXM4-80GB', undefined), null);
  assert.equal(latencyCeilings('cpu', 'cpu: some cpu (2 threads)', undefined), null);
  assert.equal(decodeCost(syntheticConfig('llama-3.1-8b'), 'fp16', 1, 128, null).rooflineMs, null);
});

const args = (o: Record<string, unknown> = {}) =>
  ({ device: 'cpu', batch: '1,16,64,256', context: '128,2048', iters: 20, prefill: true, prefillTokens: 2048, gpuMemoryUtilization: 0.9, ncu: false, kvBlockOrder: 'contiguous', ...o }) as Parameters<typeof resolveLatency>[0];

test('latency options: defaults, and bad flags fail before any model loads', () => {
  const { options, notices } = resolveLatency(args({ device: 'auto' }), false);
  assert.equal(options.device, 'cpu');
  assert.equal(options.model, 'synthetic:tiny');
  assert.deepEqual(options.precisions, ['fp16', 'int8-w8a8', 'fp8-dynamic', 'fp8-static']);
  assert.deepEqual([options.batches, options.contexts, options.prefillTokens], [[1, 16, 64, 256], [128, 2048], 2048]);
  assert.equal(notices.length, 1);
  assert.equal(resolveLatency(args({ prefill: false }), false).options.prefillTokens, 0);
  assert.equal(resolveLatency(args({ device: 'auto' }), true).options.model, 'synthetic:llama-3.1-8b');
  const bad = (o: Record<string, unknown>, re: RegExp) =>
    assert.throws(() => resolveLatency(args(o), false), (e: unknown) => (e instanceof OptionError || (e as Error).name === 'CeilingsError') && re.test((e as Error).message));
  bad({ device: 'cuda' }, /no CUDA/);
  bad({ ncu: true }, /--ncu/);
  assert.deepEqual(options.ncuDecode, [{ batch: 1, context: 128 }, { batch: 64, context: 2048 }]);
  assert.deepEqual(resolveLatency(args({ ncuDecode: '800:1152' }), false).options.ncuDecode, [{ batch: 800, context: 1152 }]);
  bad({ ncuDecode: '800x1152' }, /--ncu-decode/);
  bad({ ncuDecode: '0:128' }, /--ncu-decode/);
  assert.deepEqual(options.kvBlockOrders, ['contiguous']);
  assert.deepEqual(resolveLatency(args({ kvBlockOrder: 'contiguous,interleaved' }), false).options.kvBlockOrders, ['contiguous', 'interleaved']);
  bad({ kvBlockOrder: 'random' }, /--kv-block-order/);
  assert.equal(options.kvReserveTokens, undefined);
  assert.equal(resolveLatency(args({ kvReserveTokens: 2175 }), false).options.kvReserveTokens, 2175);
  bad({ kvReserveTokens: 0 }, /--kv-reserve-tokens/);
  bad({ iters: 0 }, /--iters/);
  bad({ batch: '1,x' }, /--batch/);
  bad({ precision: 'fp4' }, /unknown precision/);
  bad({ gpuMemoryUtilization: 1.5 }, /--gpu-memory-utilization/);
  bad({ ceilings: path.join(tmp(), 'missing.json') }, /cannot read/);
});

test('latency decode batches: contiguous and interleaved KV block tables hold the same blocks, placed as named', () => {
  const B = 3, ctx = 40, nb = 3;
  const c = decodeBatch(new SeededRng(1), B, ctx, 100, false, 'contiguous');
  const i = decodeBatch(new SeededRng(1), B, ctx, 100, false, 'interleaved');
  assert.equal(c.maxBlocksPerSeq, nb);
  assert.deepEqual([...c.blockTables], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual([...i.blockTables], [0, 3, 6, 1, 4, 7, 2, 5, 8]);
  assert.deepEqual(i.tokens, c.tokens);
  assert.equal(decodeBlocks(B, ctx), B * nb);
  // --kv-reserve-tokens: contiguous sequences a full reservation apart (70 tokens: 5 blocks), as a serving run places them
  const r = decodeBatch(new SeededRng(1), B, ctx, 100, false, 'contiguous', 70);
  assert.equal(r.maxBlocksPerSeq, nb);
  assert.deepEqual([...r.blockTables], [0, 1, 2, 5, 6, 7, 10, 11, 12]);
  assert.equal(decodeBlocks(B, ctx, 70), B * 5);
  assert.equal(decodeBlocks(B, ctx, 16), B * nb, 'a reservation shorter than the context changes nothing');
});

test('latency decode batches: with fewer distinct sequences than the batch, sequence s reads sequence s mod S\'s blocks', () => {
  const B = 5, ctx = 40, S = 2; // 3 blocks a sequence
  const c = decodeBatch(new SeededRng(1), B, ctx, 100, false, 'contiguous', 0, S);
  assert.deepEqual([...c.blockTables], [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2]);
  assert.deepEqual([...c.contextLens], [40, 40, 40, 40, 40], 'every sequence still reads its whole context');
  const i = decodeBatch(new SeededRng(1), B, ctx, 100, false, 'interleaved', 0, S);
  assert.deepEqual([...i.blockTables], [0, 2, 4, 1, 3, 5, 0, 2, 4, 1, 3, 5, 0, 2, 4]);
  const r = decodeBatch(new SeededRng(1), B, ctx, 100, false, 'contiguous', 70, S); // 5 blocks apart
  assert.deepEqual([...r.blockTables], [0, 1, 2, 5, 6, 7, 0, 1, 2, 5, 6, 7, 0, 1, 2]);
  assert.equal(Math.max(...r.blockTables) < decodeSequencesThatFit(10, ctx, 70) * 5, true);
  assert.deepEqual([decodeSequencesThatFit(7, ctx), decodeSequencesThatFit(10, ctx, 70), decodeSequencesThatFit(2, ctx)], [2, 2, 0]);
  // Batch 1024 x context 2048 on the H200 with an FP8 cache (~109,000 blocks at 0.9): ~850 distinct sequences,
  // sharers 850 sequences apart.
  assert.equal(decodeSequencesThatFit(109_000, 2048), 851);
});

const nativeSkip = fs.existsSync(ADDON_PATH) ? false : `skipped: native addon not built (${ADDON_PATH})`;

test('latency run on the CPU (synthetic:tiny): rows with bytes, TB/s, no ratio; a point the cache cannot hold is skipped', { skip: nativeSkip }, async () => {
  const out = path.join(tmp(), 'lat.jsonl');
  const emitted: LatencyRow[] = [];
  const { options } = resolveLatency(args({ precision: 'fp16,fp8-dynamic', batch: '1,3', context: '32', iters: 2, prefillTokens: 48, kvBlocks: 5, commit: 'abc', seed: 1, out }), false);
  const rows = await runLatency(options, () => {}, (r) => emitted.push(r));
  assert.deepEqual(rows, emitted);
  assert.deepEqual(rows.map((r) => `${r.precision} ${r.kind} ${r.kind === 'decode' ? r.batch : r.tokens}`), ['fp16 decode 1', 'fp16 decode 3', 'fp16 prefill 48', 'fp8-dynamic decode 1', 'fp8-dynamic decode 3', 'fp8-dynamic prefill 48']);
  assert.deepEqual(fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l)), JSON.parse(JSON.stringify(rows)));
  for (const r of rows) {
    assert.equal(r.commit, 'abc');
    assert.equal(r.model, 'synthetic:tiny');
    assert.equal(r.ceilings, null);
    assert.equal(r.rooflineRatio, undefined, 'no ratio on the CPU');
    if (r.kind === 'decode' && r.batch === 3) {
      assert.match(r.skipped!, /needs 6 KV blocks, 5/);
      continue;
    }
    assert.ok(r.ms! > 0 && r.bytes! > 0);
    assert.ok(near(r.achievedTBs!, r.bytes! / (r.ms! * 1e9)));
    if (r.kind === 'prefill') assert.ok(near(r.tflops, r.flops / (r.ms * 1e9)));
  }
  assert.ok(rows.find((r) => r.kind === 'decode' && r.precision === 'fp8-dynamic')!.bytes! < rows.find((r) => r.kind === 'decode' && r.precision === 'fp16')!.bytes!, '8-bit weights move fewer bytes');
});

test('latency run with --kv-share-to-fit: a point the cache cannot hold runs on the sequences that fit, and says so', { skip: nativeSkip }, async () => {
  const logs: string[] = [];
  const { options } = resolveLatency(args({ precision: 'fp16', batch: '1,3', context: '32', iters: 2, prefill: false, kvBlocks: 5, kvShareToFit: true, commit: 'abc', seed: 1 }), false);
  assert.equal(options.kvShareToFit, true);
  const rows = await runLatency(options, (m) => logs.push(m), () => {});
  const [b1, b3] = rows as Extract<LatencyRow, { kind: 'decode' }>[];
  assert.equal(b1!.kvDistinctSequences, undefined, 'a point that fits shares nothing');
  assert.equal(b3!.skipped, undefined);
  assert.equal(b3!.kvDistinctSequences, 2, '5 blocks hold two sequences of 2 blocks');
  assert.ok(b3!.ms! > 0);
  assert.equal(b3!.bytes, decodeCost(syntheticConfig('tiny'), 'fp16', 3, 32, null, b3!.kvBlockBytes / 16).bytes, 'bytes of all three sequences');
  assert.ok(logs.some((l) => /b3 ctx32 needs 6 KV blocks, 5 fit: 3 sequences read the blocks of 2/.test(l)), logs.join('\n'));
  const one = await runLatency(resolveLatency(args({ precision: 'fp16', batch: '3', context: '32', iters: 2, prefill: false, kvBlocks: 1, kvShareToFit: true, commit: 'abc', seed: 1 }), false).options, () => {}, () => {});
  assert.match((one[0] as Extract<LatencyRow, { kind: 'decode' }>).skipped!, /needs 6 KV blocks, 1/, 'no sequence fits: skipped');
  // the terminal line says the sharing and the skip
  assert.match(formatLatencyRow(b3!), /^decode fp16 batch 3 x context 32: [\d.]+ ms, [\d,]+ tok\/s, [\d.]+ TB\/s \(KV of 2 sequences, read by 3 rows\)$/);
  assert.match(formatLatencyRow(one[0]!), /^decode fp16 batch 3 x context 32: skipped \(needs 6 KV blocks, 1 in the cache/);
});

test('latency terminal lines: a decode and a prefill row as a person would say them', () => {
  const base = { device: 'NVIDIA H200', commit: 'x', model: 'synthetic:llama-3.1-8b', weights: 'synthetic', recipe: {}, kvBlocks: 1, kvBlockBytes: 1, gpuMemoryUtilization: 0.9, ceilings: null } as const;
  const d = { ...base, kind: 'decode', precision: 'fp8-static', kv_cache_dtype: 'fp8', batch: 256, context: 2048, kvBlockOrder: 'contiguous', ms: 14.04, tokPerS: 18233.6, achievedTBs: 3.0512, rooflineRatio: 0.729, boundRatio: 0.826 } as unknown as LatencyRow;
  assert.equal(formatLatencyRow(d), 'decode fp8-static kv fp8 batch 256 x context 2048: 14.04 ms, 18,234 tok/s, 3.05 TB/s, roofline 0.73, of its bound 0.83');
  const p = { ...base, kind: 'prefill', precision: 'fp16', kv_cache_dtype: 'auto', tokens: 2048, ms: 52.61, flops: 1, tflops: 564.3, bytes: 1, achievedTBs: 1, rooflineRatio: 0.7411 } as unknown as LatencyRow;
  assert.equal(formatLatencyRow(p), 'prefill fp16 2048 tokens: 52.61 ms, 564.3 TFLOP/s, roofline 0.74');
});
