/**
 * `pnpm eval perplexity --kv-cache-dtype fp8 --attention-dtype fp8`: the fidelity of FlashAttention-3's FP8
 * attention (Q and P in e4m3; the engine's attentionDtype), against the same precision and FP8 cache
 * with 'auto' attention (--reference attention-auto) or against a 16-bit cache (--reference kv-auto).
 *   - refused before a model loads: fp8 attention without an FP8 cache, attention-auto without fp8 attention;
 *   - [native] stories260K, every precision: KL > 0 (the FP8 path ran), the files and labels say what was compared;
 *   - `pnpm eval <task> --attention-dtype fp8`: refused without an FP8 cache and for a server; the request cache is
 *     keyed by it; results record it (provenance, lm-eval's model_args); a run directory holds one attention dtype.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BENCH_PRECISIONS, dataPath, isUsageError, missingDataMessage, REPO_ROOT } from '@quantbench/engine';
import { cacheFileName } from '../src/cache.ts';
import { main } from '../src/cli.ts';
import { loadEngineLM } from '../src/engine_lm.ts';
import { runPerplexity } from '../src/perplexity_cmd.ts';
import { attentionFidelityFile, evalFile, kvFidelityFile, readEvalResult, readFidelity } from '../src/run_files.ts';

const noModel = { loadModel: () => Promise.reject(new Error('a model was loaded: validation came too late')), log: () => {} };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'qb-eval-attn-'));
const model = dataPath('models/stories260K/hf');
const skip = model ? false : missingDataMessage('models/stories260K/hf');
const STORY =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ' +
  'One day, she saw a big red ball under a tree. She wanted to play with it, but it was too high. ' +
  'Lily asked her mom for help. Her mom smiled and said, "Let\'s get it together." They picked up the ball and played all day.';

for (const [args, re] of [
  [['--attention-dtype', 'fp8'], /--attention-dtype fp8 computes on the FP8 cache: add --kv-cache-dtype fp8/],
  [['--kv-cache-dtype', 'fp8', '--reference', 'attention-auto'], /--reference attention-auto compares FP8 attention with the default: add/],
] as [string[], RegExp][]) {
  test(`pnpm eval perplexity ${args.join(' ')}: refused before a model loads`, async () => {
    const dir = tmp();
    const text = path.join(dir, 't.txt');
    fs.writeFileSync(text, STORY);
    await assert.rejects(main(['perplexity', '--text', text, '--model', 'synthetic:tiny', ...args, '--out', path.join(dir, 'out')], noModel), (e: Error) => isUsageError(e) && re.test(e.message));
    assert.equal(fs.existsSync(path.join(dir, 'out')), false, 'nothing written');
    fs.rmSync(dir, { recursive: true });
  });
}

test('[native] FP8 attention vs auto (same FP8 cache) and vs a 16-bit cache, per precision on stories260K', { skip }, async () => {
  const dir = tmp();
  const text = path.join(dir, 'story.txt');
  fs.writeFileSync(text, STORY);
  const run = (reference: 'attention-auto' | 'kv-auto') =>
    runPerplexity(
      { text, model: model!, precisions: [...BENCH_PRECISIONS], out: dir, chunkChars: 4000, device: 'cpu', kvCacheDtype: 'fp8', attentionDtype: 'fp8', reference },
      { loadModel: (o) => loadEngineLM(o), log: () => {} },
    );
  const attn = await run('attention-auto');
  assert.equal(attn.result.reference, 'attention-auto');
  assert.equal(attn.result.attentionDtype, 'fp8');
  for (const p of BENCH_PRECISIONS) {
    const v = attn.result.vsReference[p]!;
    assert.equal(v.reference, `${p} (kv-cache-dtype fp8, attention auto)`);
    assert.equal(attn.result.perPrecision[p]!.provenance.recipe.attentionDtype, 'fp8');
    assert.ok(v.kl > 0, `${p}: KL ${v.kl} > 0 — FP8 attention must change the distributions`);
    assert.ok(v.top1Agreement >= 0.5, `${p}: top-1 agreement ${v.top1Agreement}`);
    const f = attentionFidelityFile(dir, model!, p, 'fp8', 'fp8');
    assert.ok(attn.files.includes(f), `${p}: ${path.basename(f)} written`);
    assert.equal(readFidelity(f)?.text?.kl, v.kl);
  }
  const kv = await run('kv-auto');
  for (const p of BENCH_PRECISIONS) {
    const v = kv.result.vsReference[p]!;
    assert.equal(v.reference, `${p} (kv-cache-dtype auto)`);
    assert.ok(v.kl > 0);
    const f = kvFidelityFile(dir, model!, p, 'fp8', 'fp8');
    assert.match(path.basename(f), /_kv-fp8-attn-fp8-vs-auto\.json$/);
    assert.equal(readFidelity(f)?.text?.kl, v.kl);
  }
  fs.rmSync(dir, { recursive: true });
});

const FIXTURES = path.join(REPO_ROOT, 'datasets/eval/fixtures');
for (const [args, re] of [
  [['--attention-dtype', 'fp8'], /--attention-dtype fp8 computes on the FP8 cache: add --kv-cache-dtype fp8/],
  [['--model', 'local-completions', '--attention-dtype', 'fp8', '--kv-cache-dtype', 'auto'], /the server decides its attention math/],
] as [string[], RegExp][]) {
  test(`pnpm eval mmlu_abstract_algebra ${args.join(' ')}: refused before any work`, async () => {
    const dir = tmp();
    const argv = ['mmlu_abstract_algebra', ...args, '--data-dir', FIXTURES, '--out', path.join(dir, 'out'), '--cache-dir', path.join(dir, 'cache'), '--no-progress'];
    if (!args.includes('--model')) argv.push('--model', 'synthetic:tiny');
    await assert.rejects(main(argv, noModel), (e: Error) => isUsageError(e) && re.test(e.message));
    assert.equal(fs.existsSync(path.join(dir, 'out')), false, 'nothing written');
    fs.rmSync(dir, { recursive: true });
  });
}

test('the request cache is keyed by the attention dtype (auto keeps the old key)', { skip }, () => {
  const id = { model: model!, precision: 'fp16', kvCacheDtype: 'fp8' };
  assert.equal(cacheFileName({ ...id, attentionDtype: 'auto' }), cacheFileName(id));
  assert.notEqual(cacheFileName({ ...id, attentionDtype: 'fp8' }), cacheFileName(id));
});

test('[native] pnpm eval --attention-dtype fp8: recorded in provenance and lm-eval\'s model_args; a run directory holds one attention dtype', { skip: skip || (!dataPath('datasets/mmlu') && missingDataMessage('datasets/mmlu')) }, async () => {
  const dir = tmp();
  const logs: string[] = [];
  const argv = (attn: string) => ['mmlu_abstract_algebra', '--model', model!, '--precision', 'fp16', '--limit', '2', '--num-fewshot', '0', '--device', 'cpu', '--kv-cache-dtype', 'fp8', '--attention-dtype', attn, '--out', dir, '--cache-dir', path.join(dir, 'cache'), '--no-progress'];
  assert.equal(await main(argv('fp8'), { loadModel: loadEngineLM, log: (m) => logs.push(m) }), 0, logs.join('\n'));
  const r = readEvalResult(evalFile(dir, model!, 'fp16'));
  assert.equal(r?.provenance.recipe.attentionDtype, 'fp8');
  assert.equal(r?.provenance.kv_cache_dtype, 'fp8');
  const lmDir = path.join(dir, 'lm-eval');
  const sub = fs.readdirSync(lmDir)[0]!;
  const res = fs.readdirSync(path.join(lmDir, sub)).find((f) => f.startsWith('results_'))!;
  assert.match((JSON.parse(fs.readFileSync(path.join(lmDir, sub, res), 'utf8')) as { config: { model_args: string } }).config.model_args, /,kv_cache_dtype=fp8,attention_dtype=fp8$/);
  await assert.rejects(main(argv('auto'), noModel), (e: Error) => isUsageError(e) && /holds results with attention dtype fp8/.test(e.message));
  fs.rmSync(dir, { recursive: true });
});
