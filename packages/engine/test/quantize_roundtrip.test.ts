/**
 * Quantize -> save (compressed-tensors) -> load gives identical tensors and identical outputs; per-tensor scales of
 * fused shards (q/k/v) follow vLLM's rule (the shared input uses the max input_scale); bad inputs fail with one typed
 * error, a non-zero exit and nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LLM } from '../src/llm.ts';
import { REPO_ROOT } from '../src/datadir.ts';
import { exportCompressedTensors } from '../src/quant/export_checkpoint.ts';
import { openCheckpoint, readTensorBytes, writeShardedSafetensors, type WriteEntry } from '../src/checkpoint/index.ts';
import { QUANTIZED_PRECISIONS } from '../src/types.ts';
import { storiesDir, tmpDir } from './helpers.ts';

const { dir, skip } = storiesDir();
const PROMPT = 'Lily and Tom went to the park.';

for (const precision of QUANTIZED_PRECISIONS) {
  test(`${precision}: quantize -> save -> load round trip is exact`, { skip }, async () => {
    const out = path.join(tmpDir(), 'q');
    const a = await LLM.load({ model: dir!, precision });
    exportCompressedTensors(a, dir!, out, { maxShardBytes: 200_000 }); // small shards: exercises the sharded layout
    const files = fs.readdirSync(out);
    assert.ok(files.includes('model.safetensors.index.json'), `sharded output expected, got ${files}`);
    assert.ok(files.includes('tokenizer.json'));
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.quantization_config.quant_method, 'compressed-tensors');

    const b = await LLM.load({ model: out }); // precision comes from quantization_config
    assert.equal(b.info.precision, precision);
    assert.equal(b.info.recipe.source, 'checkpoint');
    const ta = a.preparedTensors();
    const tb = b.preparedTensors();
    assert.deepEqual(ta.map((t) => t.name), tb.map((t) => t.name));
    ta.forEach((t, i) => {
      assert.equal(tb[i]!.dtype, t.dtype, t.name);
      assert.deepEqual(tb[i]!.shape, t.shape, t.name);
      assert.ok(Buffer.from(tb[i]!.data()).equals(Buffer.from(t.data())), `${t.name} differs after the round trip`);
    });
    const la = await a.scoreLogits(a.tokenizer.encode(PROMPT));
    const lb = await b.scoreLogits(b.tokenizer.encode(PROMPT));
    assert.deepEqual(lb, la);
    a.close();
    b.close();
  });
}

/** Rewrite a checkpoint with some tensors replaced. */
function rewrite(src: string, dst: string, replace: Record<string, Float32Array>): void {
  const ck = openCheckpoint(src);
  const entries: WriteEntry[] = [...ck.tensors.values()].map((t) => {
    const r = replace[t.name];
    if (r) return { name: t.name, dtype: 'F32', shape: [r.length], data: new Uint8Array(r.buffer.slice(0)) };
    return { name: t.name, dtype: t.dtype, shape: t.shape, data: () => new Uint8Array(readTensorBytes(t)) };
  });
  const extra: Record<string, Uint8Array> = {};
  for (const f of fs.readdirSync(src)) if (!f.endsWith('.safetensors') && !f.endsWith('.index.json')) extra[f] = fs.readFileSync(path.join(src, f));
  writeShardedSafetensors(dst, entries, { maxShardBytes: 1 << 30, extraFiles: extra });
}

test('fp8-static: fused q/k/v shards keep their own per-tensor weight scales; their input uses the max input_scale', { skip }, async () => {
  const base = path.join(tmpDir(), 'static');
  const a = await LLM.load({ model: dir!, precision: 'fp8-static' });
  exportCompressedTensors(a, dir!, base);
  a.close();
  const ck = openCheckpoint(base);
  const scalar = (n: string) => new Float32Array(new Uint8Array(readTensorBytes(ck.tensors.get(n)!)).buffer)[0]!;
  const p = 'model.layers.0.self_attn.';
  const ws = ['q', 'k', 'v'].map((x) => scalar(`${p}${x}_proj.weight_scale`));
  assert.equal(new Set(ws).size, 3, `expected three different per-tensor weight scales, got ${ws}`);
  const s = scalar(`${p}q_proj.input_scale`);

  // Shards with different input scales behave like all three at the max, and unlike all three at the min.
  const mixed = path.join(tmpDir(), 'mixed');
  const atMax = path.join(tmpDir(), 'max');
  const atMin = path.join(tmpDir(), 'min');
  const f = (x: number) => Float32Array.of(x);
  rewrite(base, mixed, { [`${p}q_proj.input_scale`]: f(s), [`${p}k_proj.input_scale`]: f(2 * s), [`${p}v_proj.input_scale`]: f(0.5 * s) });
  rewrite(base, atMax, { [`${p}q_proj.input_scale`]: f(2 * s), [`${p}k_proj.input_scale`]: f(2 * s), [`${p}v_proj.input_scale`]: f(2 * s) });
  rewrite(base, atMin, { [`${p}q_proj.input_scale`]: f(0.5 * s), [`${p}k_proj.input_scale`]: f(0.5 * s), [`${p}v_proj.input_scale`]: f(0.5 * s) });
  const logits = async (d: string) => {
    const m = await LLM.load({ model: d });
    const l = await m.scoreLogits(m.tokenizer.encode(PROMPT));
    m.close();
    return l;
  };
  const [lm, lx, ln] = [await logits(mixed), await logits(atMax), await logits(atMin)];
  assert.deepEqual(lm, lx);
  assert.notDeepEqual(lm, ln);
});

function runCli(script: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'packages/engine/src/cli', script), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
}

/** Copy stories260K with one tensor's first element replaced by NaN. */
function withNaN(dst: string): void {
  const ck = openCheckpoint(dir!);
  const name = 'model.layers.2.mlp.up_proj.weight';
  rewrite(dir!, dst, {});
  const t = openCheckpoint(dst).tensors.get(name)!;
  const fd = fs.openSync(t.file, 'r+');
  fs.writeSync(fd, Buffer.from(Float32Array.of(NaN).buffer), 0, 4, t.offset + 4 * 7);
  fs.closeSync(fd);
  assert.ok(ck.tensors.has(name));
}

test('bad inputs: one typed error naming the file/tensor, non-zero exit, nothing written', { skip }, () => {
  const work = tmpDir();
  // NaN in weights
  const nanDir = path.join(work, 'nan');
  withNaN(nanDir);
  let out = path.join(work, 'out-nan');
  let r = runCli('quantize.ts', ['--model', nanDir, '--precision', 'fp8-dynamic', '--out', out]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /\[NAN_IN_WEIGHTS\].*model\.layers\.2\.mlp\.up_proj\.weight/);
  assert.equal(fs.existsSync(out), false);
  assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('error')).length, 1);

  // unknown precision
  out = path.join(work, 'out-prec');
  r = runCli('quantize.ts', ['--model', dir!, '--precision', 'fp4', '--out', out]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /precision/);
  assert.equal(fs.existsSync(out), false);
  r = runCli('generate.ts', ['--model', dir!, '--precision', 'int4', 'hi']);
  assert.notEqual(r.status, 0);
  assert.equal(r.status, 2, 'a usage error (issue 20)');
  assert.match(r.stderr, /^error: --precision: "int4" is not one of /);

  // truncated weights file
  const trunc = path.join(work, 'trunc');
  rewrite(dir!, trunc, {});
  const wf = path.join(trunc, 'model.safetensors');
  fs.truncateSync(wf, fs.statSync(wf).size - 1000);
  out = path.join(work, 'out-trunc');
  r = runCli('quantize.ts', ['--model', trunc, '--precision', 'int8-w8a8', '--out', out]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /error \[TRUNCATED\].*model\.safetensors/);
  assert.equal(fs.existsSync(out), false);

  // quantizing to a non-quantized precision is refused
  r = runCli('quantize.ts', ['--model', dir!, '--precision', 'fp16', '--out', path.join(work, 'x')]);
  assert.notEqual(r.status, 0);

  // a quantized checkpoint run at another precision is refused by name
  const q = path.join(work, 'q8');
  assert.equal(runCli('quantize.ts', ['--model', dir!, '--precision', 'int8-w8a8', '--out', q]).status, 0);
  r = runCli('generate.ts', ['--model', q, '--precision', 'fp8-dynamic', 'hi']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /int8-w8a8 checkpoint/);
  r = runCli('generate.ts', ['--model', q, '--max-tokens', '8', 'Once upon a time']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Once upon a time, there was/);
});
