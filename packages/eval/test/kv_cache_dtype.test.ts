/**
 * Issue 17, item 1: `pnpm eval --kv-cache-dtype auto|fp8` (vLLM's flag) and the fidelity of an FP8 KV cache.
 *   - the flag is validated before any work (exit 2, one line);
 *   - eval results carry provenance.kv_cache_dtype; the request cache is keyed by it; a run directory holds one KV
 *     dtype (another is refused before a model loads);
 *   - `pnpm eval perplexity --kv-cache-dtype fp8 --reference kv-auto`: per precision, next-token top-1 agreement and
 *     mean KL of the FP8 KV cache vs the same precision with a 16-bit KV cache, on stories260K [native].
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
import { evalFile, kvFidelityFile, readEvalResult, readFidelity } from '../src/run_files.ts';

const FIXTURES = path.join(REPO_ROOT, 'datasets/eval/fixtures');
const noModel = { loadModel: () => Promise.reject(new Error('a model was loaded: validation came too late')), log: () => {} };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'qb-eval-kv-'));
const model = dataPath('models/stories260K/hf');
const skip = model ? false : missingDataMessage('models/stories260K/hf');

const STORY =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ' +
  'One day, she saw a big red ball under a tree. She wanted to play with it, but it was too high. ' +
  'Lily asked her mom for help. Her mom smiled and said, "Let\'s get it together." They picked up the ball and played all day. ' +
  'Lily was very happy. She said thank you to her mom and gave her a big hug.\n\n' +
  'Once upon a time, there was a boy named Tim. Tim had a dog named Spot. Spot liked to run and jump. ' +
  'One day, Tim and Spot went to the park. They saw a cat in a tree. The cat was scared. Tim wanted to help the cat. ' +
  'He asked a man for a ladder. The man was kind and gave Tim the ladder. Tim climbed up and got the cat. ' +
  'The cat was happy and said thank you. Tim, Spot and the cat became good friends.';

for (const [args, re] of [
  [['mmlu_abstract_algebra', '--kv-cache-dtype', 'fp9'], /--kv-cache-dtype: "fp9" is not one of auto, fp8; did you mean fp8\?/],
  [['mmlu_abstract_algebra', '--kv-cache-dtype', 'fp8', '--kv-cache-dtype', 'auto'], /--kv-cache-dtype was given 2 times/],
  [['mmlu_abstract_algebra', '--model', 'local-completions', '--kv-cache-dtype', 'fp8'], /server's flag/],
] as [string[], RegExp][]) {
  test(`pnpm eval ${args.join(' ')}: refused before any work`, async () => {
    const dir = tmp();
    const argv = [...args, '--data-dir', FIXTURES, '--out', path.join(dir, 'out'), '--cache-dir', path.join(dir, 'cache'), '--no-progress'];
    if (!args.includes('--model')) argv.push('--model', 'synthetic:tiny');
    await assert.rejects(main(argv, noModel), (e: Error) => isUsageError(e) && re.test(e.message) && !e.message.includes('\n'));
    assert.equal(fs.existsSync(path.join(dir, 'out')), false, 'nothing written');
  });
}

test('pnpm eval perplexity --reference kv-auto needs --kv-cache-dtype fp8 (refused before a model loads)', async () => {
  const dir = tmp();
  const text = path.join(dir, 't.txt');
  fs.writeFileSync(text, STORY);
  await assert.rejects(main(['perplexity', '--text', text, '--model', 'synthetic:tiny', '--reference', 'kv-auto', '--out', dir], noModel), (e: Error) => isUsageError(e) && /add --kv-cache-dtype fp8/.test(e.message));
});

test('the request cache is keyed by the KV dtype (auto keeps the old key)', { skip }, () => {
  const id = { model: model!, precision: 'fp16' };
  assert.equal(cacheFileName({ ...id, kvCacheDtype: 'auto' }), cacheFileName(id));
  assert.notEqual(cacheFileName({ ...id, kvCacheDtype: 'fp8' }), cacheFileName(id));
});

test('eval results record provenance.kv_cache_dtype; a run directory of one KV dtype refuses another', { skip: skip || (!dataPath('datasets/mmlu') && missingDataMessage('datasets/mmlu')) }, async () => {
  const dir = tmp();
  const logs: string[] = [];
  const argv = (kv: string) => ['mmlu_abstract_algebra', '--model', model!, '--precision', 'fp16', '--limit', '2', '--num-fewshot', '0', '--kv-cache-dtype', kv, '--out', dir, '--cache-dir', path.join(dir, 'cache'), '--no-progress'];
  assert.equal(await main(argv('fp8'), { loadModel: loadEngineLM, log: (m) => logs.push(m) }), 0, logs.join('\n'));
  const r = readEvalResult(evalFile(dir, model!, 'fp16'));
  assert.equal(r?.provenance.kv_cache_dtype, 'fp8');
  assert.equal(r?.provenance.recipe.kvCacheDtype, 'fp8');
  const lmDir = path.join(dir, 'lm-eval');
  const sub = fs.readdirSync(lmDir)[0]!;
  const res = fs.readdirSync(path.join(lmDir, sub)).find((f) => f.startsWith('results_'))!;
  assert.match((JSON.parse(fs.readFileSync(path.join(lmDir, sub, res), 'utf8')) as { config: { model_args: string } }).config.model_args, /,kv_cache_dtype=fp8$/);
  await assert.rejects(main(argv('auto'), noModel), (e: Error) => isUsageError(e) && /holds results with KV-cache dtype fp8/.test(e.message));
  fs.rmSync(dir, { recursive: true });
});

test('[native] FP8 KV cache vs 16-bit KV cache, per precision on stories260K: high top-1 agreement, KL > 0 (the FP8 path is used)', { skip }, async () => {
  const dir = tmp();
  const text = path.join(dir, 'story.txt');
  fs.writeFileSync(text, STORY);
  const logs: string[] = [];
  const { result, files } = await runPerplexity(
    { text, model: model!, precisions: [...BENCH_PRECISIONS], out: dir, chunkChars: 4000, device: 'cpu', kvCacheDtype: 'fp8', reference: 'kv-auto' },
    { loadModel: (o) => loadEngineLM(o), log: (m) => logs.push(m) },
  );
  assert.equal(result.reference, 'kv-auto');
  assert.equal(result.kvCacheDtype, 'fp8');
  for (const p of BENCH_PRECISIONS) {
    const v = result.vsReference[p];
    assert.ok(v, `${p} compared`);
    assert.equal(v.reference, `${p} (kv-cache-dtype auto)`);
    assert.equal(result.perPrecision[p]!.provenance.kv_cache_dtype, 'fp8');
    assert.ok(v.tokens > 150, `${p}: ${v.tokens} tokens`);
    assert.ok(v.kl > 0, `${p}: KL ${v.kl} > 0 — the FP8 KV path must change the distributions`);
    assert.ok(v.kl < 0.05, `${p}: mean KL ${v.kl} < 0.05`);
    assert.ok(v.top1Agreement >= 0.9, `${p}: top-1 agreement ${v.top1Agreement} >= 0.9`);
    const fid = readFidelity(kvFidelityFile(dir, model!, p, 'fp8'));
    assert.equal(fid?.text?.kl, v.kl);
    assert.equal(fid?.reference, `${p} (kv-cache-dtype auto)`);
    assert.ok(files.includes(kvFidelityFile(dir, model!, p, 'fp8')));
  }
  process.stderr.write(`FP8 KV vs auto on stories260K:\n${logs.filter((l) => /mean KL/.test(l)).join('\n')}\n`);
  fs.rmSync(dir, { recursive: true });
});
