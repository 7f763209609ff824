/**
 * `pnpm eval perplexity --kv-cache-dtype fp8 --attention-dtype fp8`: the fidelity of FlashAttention-3's FP8
 * attention (Q and P in e4m3; the engine's attentionDtype), against the same precision and FP8 cache
 * with 'auto' attention (--reference attention-auto) or against a 16-bit cache (--reference kv-auto).
 *   - refused before a model loads: fp8 attention without an FP8 cache, attention-auto without fp8 attention;
 *   - [native] stories260K, every precision: KL > 0 (the FP8 path ran), the files and labels say what was compared.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { BENCH_PRECISIONS, dataPath, isUsageError, missingDataMessage } from '@quantbench/engine';
import { main } from '../src/cli.ts';
import { loadEngineLM } from '../src/engine_lm.ts';
import { runPerplexity } from '../src/perplexity_cmd.ts';
import { attentionFidelityFile, kvFidelityFile, readFidelity } from '../src/run_files.ts';

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
