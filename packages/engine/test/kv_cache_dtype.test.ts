/**
 * Issue 17, item 1 (TypeScript side): the KV-cache dtype as a user-facing axis, vLLM's `--kv-cache-dtype auto|fp8`.
 *   - compressed-tensors: kv_cache_scheme parsed (FP8 per-tensor accepted, others refused by name) and written;
 *     KV scale tensor names, including the legacy ones vLLM remaps;
 *   - the loader passes kvCacheDtype to the native model, sizes the cache with its kvBlockBytes(), records
 *     provenance.kv_cache_dtype, and hands checkpoint scales to the model only with fp8;
 *   - `pnpm quantize --kv-cache-dtype fp8` calibrates per-layer scales (max / 448) and writes them; a reload picks
 *     them up (huge scales vs calibrated ones: different logits with fp8, identical with auto);
 *   - generate / quantize flags: exit 2 on a bad value, kv_cache_dtype in generate --json.
 * Tests marked [native] need the native side of the KV-cache dtype (lead's commit on main).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { LLM, REPO_ROOT } from '@quantbench/engine';
import {
  buildKvCacheScheme,
  buildKvOnlyQuantizationConfig,
  buildQuantizationConfig,
  kvScaleNames,
  openCheckpoint,
  parseKvCacheScheme,
  parseQuantizationConfig,
  readSafetensorsHeader,
  writeShardedSafetensors,
} from '../src/checkpoint/index.ts';
import { FP8_E4M3_MAX, kvScalesFromStats } from '../src/model/loader.ts';
import { exportCompressedTensors } from '../src/quant/export_checkpoint.ts';
import { storiesDir, tmpDir } from './helpers.ts';

function cli(script: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script), ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
}

const LLAMA = { architectures: ['LlamaForCausalLM'], model_type: 'llama' };

describe('compressed-tensors kv_cache_scheme', () => {
  test('the scheme quantbench writes is llm-compressor\'s FP8 per-tensor KV scheme, and it parses back', () => {
    const kv = buildKvCacheScheme();
    assert.deepEqual(
      { num_bits: kv.num_bits, type: kv.type, strategy: kv.strategy, dynamic: kv.dynamic, symmetric: kv.symmetric },
      { num_bits: 8, type: 'float', strategy: 'tensor', dynamic: false, symmetric: true },
    );
    const cfg = { ...LLAMA, quantization_config: buildQuantizationConfig('fp8-dynamic', { kvCache: true }) };
    assert.deepEqual(parseKvCacheScheme(cfg), { numBits: 8, type: 'float', strategy: 'tensor', dynamic: false, symmetric: true });
    assert.equal(parseQuantizationConfig(cfg)?.precision, 'fp8-dynamic', 'the weight scheme is unchanged by a kv_cache_scheme');
    assert.equal(parseKvCacheScheme({ ...LLAMA, quantization_config: buildQuantizationConfig('fp8-dynamic') }), null);
    assert.equal(buildQuantizationConfig('int8-w8a8').kv_cache_scheme, null);
  });

  test('a kv_cache_scheme-only config (16-bit weights + FP8 KV scales) is not a weight scheme', () => {
    const cfg = { ...LLAMA, quantization_config: buildKvOnlyQuantizationConfig() };
    assert.equal(parseQuantizationConfig(cfg), null);
    assert.notEqual(parseKvCacheScheme(cfg), null);
  });

  test('the minimal kv_cache_scheme of the issue parses', () => {
    const cfg = { ...LLAMA, quantization_config: { ...buildQuantizationConfig('fp8-static'), kv_cache_scheme: { num_bits: 8, type: 'float', strategy: 'tensor', dynamic: false, symmetric: true } } };
    assert.notEqual(parseKvCacheScheme(cfg), null);
  });

  for (const [what, kv, re] of [
    ['int8 KV', { num_bits: 8, type: 'int', strategy: 'tensor', symmetric: true, dynamic: false }, /num_bits=8, type=int/],
    ['4-bit KV', { num_bits: 4, type: 'float', strategy: 'tensor', symmetric: true, dynamic: false }, /num_bits=4/],
    ['per-head scales', { num_bits: 8, type: 'float', strategy: 'attn_head', symmetric: true, dynamic: false }, /strategy=attn_head/],
    ['asymmetric', { num_bits: 8, type: 'float', strategy: 'tensor', symmetric: false, dynamic: false }, /symmetric=false/],
    ['dynamic', { num_bits: 8, type: 'float', strategy: 'tensor', symmetric: true, dynamic: true }, /dynamic=true/],
  ] as const) {
    test(`an unsupported kv_cache_scheme is refused by name: ${what}`, () => {
      const cfg = { ...LLAMA, quantization_config: { ...buildQuantizationConfig('fp8-static'), kv_cache_scheme: kv } };
      assert.throws(() => parseKvCacheScheme(cfg), (e: Error & { code?: string }) => e.code === 'UNSUPPORTED_QUANT' && re.test(e.message) && /kv_cache_scheme/.test(e.message));
      assert.throws(() => parseQuantizationConfig(cfg), re, 'parseQuantizationConfig checks it too');
    });
  }

  test('KV scale names: canonical, the legacy compressed-tensors output_scale, ModelOpt, and the deprecated kv_scale (as vLLM remaps them)', () => {
    assert.deepEqual(kvScaleNames('model.layers.3.self_attn.k_scale'), ['model.layers.3.self_attn.k_scale']);
    assert.deepEqual(kvScaleNames('model.layers.3.self_attn.v_scale'), ['model.layers.3.self_attn.v_scale']);
    assert.deepEqual(kvScaleNames('model.layers.0.self_attn.k_proj.output_scale'), ['model.layers.0.self_attn.k_scale']);
    assert.deepEqual(kvScaleNames('model.layers.0.self_attn.v_proj.output_scale'), ['model.layers.0.self_attn.v_scale']);
    assert.deepEqual(kvScaleNames('model.layers.1.self_attn.k_proj.k_scale'), ['model.layers.1.self_attn.k_scale']);
    assert.deepEqual(kvScaleNames('model.layers.1.self_attn.v_proj.v_scale'), ['model.layers.1.self_attn.v_scale']);
    assert.deepEqual(kvScaleNames('model.layers.2.self_attn.kv_scale'), ['model.layers.2.self_attn.k_scale', 'model.layers.2.self_attn.v_scale']);
    assert.equal(kvScaleNames('model.layers.0.self_attn.k_proj.weight_scale'), null);
    assert.equal(kvScaleNames('model.layers.0.self_attn.q_proj.output_scale'), null);
    assert.equal(kvScaleNames('model.layers.0.self_attn.k_proj.input_scale'), null);
  });
});

test('KV scales from calibration stats: per layer max / 448, a layer without range gets 1.0', () => {
  const arch = { numLayers: 2, numKvHeads: 2, headDim: 2 };
  const k = Float32Array.from([1, 2, 448, 3, 0, 0, 0, 0]);
  const v = Float32Array.from([0.5, 0.25, 0, 0, 896, 1, 1, 1]);
  const s = kvScalesFromStats({ k_cache: k, v_cache: v }, arch);
  assert.deepEqual(s.k, [448 / FP8_E4M3_MAX, 1]);
  assert.deepEqual(s.v, [0.5 / FP8_E4M3_MAX, 896 / FP8_E4M3_MAX]);
  assert.throws(() => kvScalesFromStats({ k_cache: k }, arch), /v_cache/);
  assert.throws(() => kvScalesFromStats({ k_cache: k.subarray(1), v_cache: v }, arch), /expected 2 layers x 4 channels/);
});

test('the loader: an unknown kvCacheDtype is refused', async () => {
  await assert.rejects(LLM.load({ model: 'synthetic:tiny', device: 'cpu', kvCacheDtype: 'fp4' as never, kvBlocks: 8 }), /unknown kvCacheDtype "fp4"/);
});

test('[native] kvCacheDtype reaches the native model: fp8 halves kvBlockBytes(), recorded in the recipe and provenance.kv_cache_dtype', async () => {
  const auto = await LLM.load({ model: 'synthetic:tiny', device: 'cpu', precision: 'fp16', kvBlocks: 8 });
  const fp8 = await LLM.load({ model: 'synthetic:tiny', device: 'cpu', precision: 'fp16', kvCacheDtype: 'fp8', kvBlocks: 8 });
  try {
    const a = auto.info.arch;
    assert.equal(auto.kvBlockBytes, 2 * a.numLayers * 16 * a.numKvHeads * a.headDim * 2, 'auto: fp16 K and V');
    assert.equal(fp8.kvBlockBytes, auto.kvBlockBytes / 2, 'fp8: one byte per element');
    assert.equal(auto.provenance().kv_cache_dtype, 'auto');
    assert.equal(fp8.provenance().kv_cache_dtype, 'fp8');
    assert.equal(fp8.info.recipe.kvCacheDtype, 'fp8');
    assert.equal(fp8.info.recipe.kvScales, 'default 1.0');
    const ids = [1, 5, 9, 13, 17, 21, 25, 29];
    const la = await auto.scoreLogits(ids);
    const lf = await fp8.scoreLogits(ids);
    assert.ok(la.some((x, i) => x !== lf[i]), 'an FP8 KV cache changes the logits');
  } finally {
    auto.close();
    fp8.close();
  }
});

const st = storiesDir();
describe('pnpm quantize --kv-cache-dtype fp8 on stories260K [native]', { skip: st.skip }, () => {
  const tmp = tmpDir('qb-kv-');
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const src = st.dir!;
  const ids = [1, 403, 407, 261, 378, 300, 394, 280, 335, 286, 262, 275, 405, 287, 273, 306, 431, 268, 341, 282];
  let calibrated: { k: number[]; v: number[] };
  let calibratedLogits: Float32Array;

  /** A copy of `dir` whose KV scale tensors are replaced (names and values). */
  function withScales(dir: string, out: string, scales: (layer: number) => Record<string, number>): string {
    const ck = openCheckpoint(dir);
    const tensors = [...ck.tensors.values()]
      .filter((t) => kvScaleNames(t.name) === null)
      .map((t) => ({
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        data: () => {
          const b = Buffer.alloc(t.nbytes);
          const fd = fs.openSync(t.file, 'r');
          fs.readSync(fd, b, 0, t.nbytes, t.offset);
          fs.closeSync(fd);
          return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        },
      }));
    const layers = (ck.config as { num_hidden_layers: number }).num_hidden_layers;
    for (let l = 0; l < layers; l++) {
      for (const [name, x] of Object.entries(scales(l))) tensors.push({ name, dtype: 'F32', shape: [], data: () => new Uint8Array(Float32Array.of(x).buffer) });
    }
    const extraFiles: Record<string, Uint8Array> = {};
    for (const f of fs.readdirSync(dir)) if (!f.endsWith('.safetensors') && !f.endsWith('.index.json')) extraFiles[f] = fs.readFileSync(path.join(dir, f));
    writeShardedSafetensors(out, tensors, { maxShardBytes: 1 << 30, extraFiles });
    return out;
  }

  test('writes kv_cache_scheme and per-layer F32 scalar k_scale / v_scale = calibrated max / 448', async () => {
    const llm = await LLM.load({ model: src, precision: 'fp8-dynamic', kvCacheDtype: 'fp8', calibrateKvScales: true, calibSamples: 16, device: 'cpu', kvBlocks: 64 });
    try {
      assert.equal(llm.info.recipe.kvScales, 'calibrated');
      calibrated = llm.kvScales!;
      assert.equal(calibrated.k.length, 5);
      for (const s of [...calibrated.k, ...calibrated.v]) assert.ok(s > 0 && Number.isFinite(s) && s !== 1, `calibrated scale ${s}`);
      calibratedLogits = await llm.scoreLogits(ids);
      exportCompressedTensors(llm, src, path.join(tmp, 'fp8-kv'));
    } finally {
      llm.close();
    }
    const cfg = JSON.parse(fs.readFileSync(path.join(tmp, 'fp8-kv', 'config.json'), 'utf8')) as { quantization_config: Record<string, Record<string, unknown>> };
    const kv = cfg.quantization_config.kv_cache_scheme!;
    assert.deepEqual([kv.num_bits, kv.type, kv.strategy, kv.dynamic, kv.symmetric], [8, 'float', 'tensor', false, true]);
    const header = readSafetensorsHeader(path.join(tmp, 'fp8-kv', 'model.safetensors'));
    for (let l = 0; l < 5; l++) {
      for (const n of [`model.layers.${l}.self_attn.k_scale`, `model.layers.${l}.self_attn.v_scale`]) {
        const t = header.tensors.get(n);
        assert.ok(t, `${n} written`);
        assert.equal(t.dtype, 'F32');
        assert.deepEqual(t.shape, []);
      }
    }
  });

  test('a reload picks the scales up with fp8 (recipe kvScales "checkpoint"), ignores them with auto', async () => {
    const dir = path.join(tmp, 'fp8-kv');
    const fp8 = await LLM.load({ model: dir, kvCacheDtype: 'fp8', device: 'cpu', kvBlocks: 64 });
    const auto = await LLM.load({ model: dir, device: 'cpu', kvBlocks: 64 });
    try {
      assert.equal(fp8.info.precision, 'fp8-dynamic');
      assert.equal(fp8.info.recipe.kvScales, 'checkpoint');
      for (let l = 0; l < 5; l++) {
        assert.equal(fp8.kvScales!.k[l], Math.fround(calibrated.k[l]!));
        assert.equal(fp8.kvScales!.v[l], Math.fround(calibrated.v[l]!));
      }
      assert.equal(auto.kvScales, null);
      assert.equal(auto.provenance().kv_cache_dtype, 'auto');
      // the scales set between the calibration pass and the final finalize() are the ones the model ran with
      assert.deepEqual(await fp8.scoreLogits(ids), calibratedLogits);
    } finally {
      fp8.close();
      auto.close();
    }
  });

  test('the scales reach the model: huge scales vs calibrated ones give different logits with fp8, identical ones with auto', async () => {
    const huge = withScales(path.join(tmp, 'fp8-kv'), path.join(tmp, 'huge'), (l) => ({ [`model.layers.${l}.self_attn.k_scale`]: 1e4, [`model.layers.${l}.self_attn.v_scale`]: 1e4 }));
    const logits = async (dir: string, kvCacheDtype: 'auto' | 'fp8') => {
      const llm = await LLM.load({ model: dir, kvCacheDtype, device: 'cpu', kvBlocks: 64 });
      try {
        return await llm.scoreLogits(ids);
      } finally {
        llm.close();
      }
    };
    const calFp8 = await logits(path.join(tmp, 'fp8-kv'), 'fp8');
    const hugeFp8 = await logits(huge, 'fp8');
    assert.ok(calFp8.some((x, i) => x !== hugeFp8[i]), 'fp8: the checkpoint scales change the logits');
    assert.deepEqual(await logits(path.join(tmp, 'fp8-kv'), 'auto'), await logits(huge, 'auto'), 'auto: scales are ignored (as vLLM)');
  });

  test('legacy scale names (k_proj.output_scale / v_proj.output_scale) load as the canonical ones', async () => {
    const legacy = withScales(path.join(tmp, 'fp8-kv'), path.join(tmp, 'legacy'), (l) => ({
      [`model.layers.${l}.self_attn.k_proj.output_scale`]: calibrated.k[l]!,
      [`model.layers.${l}.self_attn.v_proj.output_scale`]: calibrated.v[l]!,
    }));
    const a = await LLM.load({ model: legacy, kvCacheDtype: 'fp8', device: 'cpu', kvBlocks: 64 });
    const b = await LLM.load({ model: path.join(tmp, 'fp8-kv'), kvCacheDtype: 'fp8', device: 'cpu', kvBlocks: 64 });
    try {
      assert.deepEqual(a.kvScales, b.kvScales);
      assert.deepEqual(await a.scoreLogits(ids), await b.scoreLogits(ids));
    } finally {
      a.close();
      b.close();
    }
  });

  test('fp16 weights + FP8 KV scales only: a kv_cache_scheme-only checkpoint that loads as fp16', async () => {
    const llm = await LLM.load({ model: src, precision: 'fp16', kvCacheDtype: 'fp8', calibrateKvScales: true, calibSamples: 16, device: 'cpu', kvBlocks: 64 });
    try {
      exportCompressedTensors(llm, src, path.join(tmp, 'fp16-kv'));
    } finally {
      llm.close();
    }
    const cfg = JSON.parse(fs.readFileSync(path.join(tmp, 'fp16-kv', 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown> };
    assert.deepEqual(cfg.quantization_config.config_groups, {});
    assert.notEqual(cfg.quantization_config.kv_cache_scheme, null);
    const back = await LLM.load({ model: path.join(tmp, 'fp16-kv'), kvCacheDtype: 'fp8', device: 'cpu', kvBlocks: 64 });
    try {
      assert.equal(back.info.precision, 'fp16');
      assert.equal(back.info.recipe.kvScales, 'checkpoint');
    } finally {
      back.close();
    }
  });

  test('pnpm quantize --kv-cache-dtype fp8 writes the same weights as without (scales measured with a 16-bit KV cache), plus the scales', () => {
    const q = (out: string, extra: string[]) => {
      const r = cli('packages/engine/src/cli/quantize.ts', ['--model', src, '--precision', 'fp8-static', '--calib-samples', '8', '--out', path.join(tmp, out), ...extra]);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    assert.match(q('cli-kv', ['--kv-cache-dtype', 'fp8']), /FP8 KV scales k [\d.e+-]+\.\.[\d.e+-]+ v /);
    q('cli-plain', []);
    const read = (dir: string) => {
      const ck = openCheckpoint(path.join(tmp, dir));
      return new Map([...ck.tensors.values()].map((t) => {
        const b = Buffer.alloc(t.nbytes);
        const fd = fs.openSync(t.file, 'r');
        fs.readSync(fd, b, 0, t.nbytes, t.offset);
        fs.closeSync(fd);
        return [t.name, b] as const;
      }));
    };
    const kv = read('cli-kv');
    const plain = read('cli-plain');
    for (const [name, bytes] of plain) assert.ok(kv.get(name)?.equals(bytes), `${name} identical`);
    const extra = [...kv.keys()].filter((n) => !plain.has(n)).sort();
    assert.deepEqual(extra, Array.from({ length: 5 }, (_, l) => [`model.layers.${l}.self_attn.k_scale`, `model.layers.${l}.self_attn.v_scale`]).flat().sort());
    const cfg = (dir: string) => (JSON.parse(fs.readFileSync(path.join(tmp, dir, 'config.json'), 'utf8')) as { quantization_config: { kv_cache_scheme: unknown } }).quantization_config.kv_cache_scheme;
    assert.equal(cfg('cli-plain'), null);
    assert.deepEqual(cfg('cli-kv'), buildKvCacheScheme());
  });

  test('a checkpoint whose kv_cache_scheme quantbench cannot run fails to load, naming it', async () => {
    const dir = path.join(tmp, 'bad-kv');
    fs.cpSync(path.join(tmp, 'fp8-kv'), dir, { recursive: true });
    const cfgFile = path.join(dir, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as { quantization_config: Record<string, Record<string, unknown>> };
    cfg.quantization_config.kv_cache_scheme = { ...cfg.quantization_config.kv_cache_scheme, type: 'int' };
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    await assert.rejects(LLM.load({ model: dir, kvCacheDtype: 'fp8', device: 'cpu', kvBlocks: 64 }), /kv_cache_scheme num_bits=8, type=int/);
    await assert.rejects(LLM.load({ model: dir, device: 'cpu', kvBlocks: 64 }), /kv_cache_scheme/, 'refused with auto too: the checkpoint is not one vLLM serves');
  });
});

test('[native] synthetic:tiny-hd128 (the GPU check\'s head-dim-128 model) runs on the CPU with both KV dtypes', async () => {
  for (const kvCacheDtype of ['auto', 'fp8'] as const) {
    const llm = await LLM.load({ model: 'synthetic:tiny-hd128', device: 'cpu', precision: 'fp8-static', kvCacheDtype, kvBlocks: 16 });
    try {
      assert.equal(llm.info.arch.headDim, 128);
      assert.equal(llm.info.arch.numHeads / llm.info.arch.numKvHeads, 2, 'GQA');
      assert.equal(llm.provenance().kv_cache_dtype, kvCacheDtype);
      const logits = await llm.scoreLogits([1, 5, 9, 13, 17, 21]);
      assert.equal(logits.length, 6 * llm.info.arch.vocabSize);
      assert.ok(logits.every(Number.isFinite), `${kvCacheDtype}: finite logits`);
      const [g] = await llm.generate(['ab'], { maxTokens: 4, ignoreEos: true });
      assert.equal(g!.ids.length, 4);
    } finally {
      llm.close();
    }
  }
});

test('pnpm generate / quantize --kv-cache-dtype: a bad value exits 2 with one line; --help explains it', () => {
  const g = cli('packages/engine/src/cli/generate.ts', ['--model', 'synthetic:tiny', '--kv-cache-dtype', 'fp9', 'hi']);
  assert.equal(g.status, 2, g.stderr);
  assert.equal(g.stderr.trim().split('\n').length, 1, g.stderr);
  assert.match(g.stderr, /--kv-cache-dtype: "fp9" is not one of auto, fp8; did you mean fp8\?/);
  const q = cli('packages/engine/src/cli/quantize.ts', ['--model', 'synthetic:tiny', '--kv-cache-dtype', 'int8', '--out', '/nonexistent/x']);
  assert.equal(q.status, 2, q.stderr);
  assert.match(q.stderr, /--kv-cache-dtype: "int8" is not one of auto, fp8/);
  const none = cli('packages/engine/src/cli/quantize.ts', ['--model', 'synthetic:tiny', '--out', '/nonexistent/x']);
  assert.equal(none.status, 2, none.stderr);
  assert.match(none.stderr, /missing --precision .* or --kv-cache-dtype fp8/);
  const f16 = cli('packages/engine/src/cli/quantize.ts', ['--model', 'synthetic:tiny', '--precision', 'fp16', '--out', '/nonexistent/x']);
  assert.equal(f16.status, 2, f16.stderr);
  assert.match(f16.stderr, /add --kv-cache-dtype fp8/);
  const help = cli('packages/engine/src/cli/generate.ts', ['--help']);
  assert.match(help.stdout, /--kv-cache-dtype[\s\S]*FP8 E4M3/);
});

test('pnpm generate --json records kv_cache_dtype (and the recipe\'s)', { skip: st.skip }, () => {
  for (const kv of ['auto', 'fp8'] as const) {
    const g = cli('packages/engine/src/cli/generate.ts', ['--model', st.dir!, '--device', 'cpu', '--max-tokens', '4', '--kv-cache-dtype', kv, '--json', 'Once upon a time']);
    assert.equal(g.status, 0, g.stderr);
    const out = JSON.parse(g.stdout) as { kv_cache_dtype: string; recipe: { kvCacheDtype: string } };
    assert.equal(out.kv_cache_dtype, kv);
    assert.equal(out.recipe.kvCacheDtype, kv);
  }
});
