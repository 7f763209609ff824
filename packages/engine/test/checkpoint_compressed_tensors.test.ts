import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CheckpointError,
  COMPRESSED_TENSORS_LAYOUT_VERSION,
  buildQuantizationConfig,
  decodeFloats,
  expectedQuantTensors,
  isIgnored,
  isQuantizedModule,
  openCheckpoint,
  parseQuantizationConfig,
  validateQuantTensors,
  validateScaleValues,
  writeShardedSafetensors,
  type CheckpointErrorCode,
  type QuantScheme,
  type SafetensorsDtype,
  type TensorEntry,
  type WriteEntry,
} from '../src/checkpoint/index.ts';
import { QUANTIZED_PRECISIONS } from '../src/types.ts';
import { rng } from './helpers.ts';


function expectError(fn: () => unknown, code: CheckpointErrorCode, ...mustMention: string[]): CheckpointError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof CheckpointError, `expected CheckpointError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const m of mustMention) assert.ok(caught.message.includes(m), `message should mention ${JSON.stringify(m)}: ${caught.message}`);
  return caught;
}

const created: string[] = [];
after(() => created.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const LLAMA = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, torch_dtype: 'bfloat16' };

// ---- fixtures shaped like real llm-compressor outputs --------------------------------------------------------
// Field sets and values follow vllm-project/compressed-tensors: the preset schemes INT8_W8A8, FP8_DYNAMIC and FP8 in
// src/compressed_tensors/quantization/quant_scheme.py, QuantizationArgs fields in quant_args.py, and the config.json
// example in that repository's README (format, ignore ["lm_head"], kv_cache_scheme null, quantization_status
// "compressed", sparsity_config {}, transform_config {}, version). Older outputs (2024) lack scale_dtype/zp_dtype and
// the group-level format, used "observer": "minmax"/"memoryless", and some were published under
// "compression_config"; the second and third fixtures have that older shape.

const argsNew = (o: Record<string, unknown>) => ({
  actorder: null,
  block_structure: null,
  dynamic: false,
  group_size: null,
  num_bits: 8,
  observer: 'minmax',
  observer_kwargs: {},
  scale_dtype: null,
  strategy: 'channel',
  symmetric: true,
  type: 'int',
  zp_dtype: null,
  ...o,
});

const W8A8_INT8 = {
  ...LLAMA,
  quantization_config: {
    config_groups: {
      group_0: {
        format: 'int-quantized',
        input_activations: argsNew({ dynamic: true, observer: null, strategy: 'token' }),
        output_activations: null,
        targets: ['Linear'],
        weights: argsNew({}),
      },
    },
    format: 'int-quantized',
    global_compression_ratio: null,
    ignore: ['lm_head'],
    kv_cache_scheme: null,
    quant_method: 'compressed-tensors',
    quantization_status: 'compressed',
    sparsity_config: {},
    transform_config: {},
    version: '0.12.2',
  },
};

const argsOld = (o: Record<string, unknown>) => ({
  block_structure: null,
  dynamic: false,
  group_size: null,
  num_bits: 8,
  observer: 'minmax',
  observer_kwargs: {},
  strategy: 'channel',
  symmetric: true,
  type: 'float',
  ...o,
});

const FP8_DYNAMIC_OLD = {
  ...LLAMA,
  compression_config: {
    config_groups: {
      group_0: {
        input_activations: argsOld({ dynamic: true, observer: 'memoryless', strategy: 'token' }),
        output_activations: null,
        targets: ['Linear'],
        weights: argsOld({}),
      },
    },
    format: 'float-quantized',
    global_compression_ratio: 1.2403,
    ignore: ['lm_head'],
    kv_cache_scheme: null,
    quant_method: 'compressed-tensors',
    quantization_status: 'compressed',
  },
};

const FP8_STATIC = {
  ...LLAMA,
  quantization_config: {
    config_groups: {
      group_0: {
        input_activations: argsOld({ strategy: 'tensor', observer: 'static_minmax' }),
        output_activations: null,
        targets: ['Linear'],
        weights: argsOld({ strategy: 'tensor' }),
      },
    },
    format: 'float-quantized',
    global_compression_ratio: null,
    ignore: ['lm_head', 're:.*mlp\\.down_proj$'],
    kv_cache_scheme: null,
    quant_method: 'compressed-tensors',
    quantization_status: 'compressed',
    version: '0.9.1',
  },
};

/** Deep copy of a fixture with one change applied to its quantization_config. */
function variant(base: Record<string, unknown>, change: (qc: Record<string, any>) => void): Record<string, unknown> {
  const copy = structuredClone(base) as Record<string, any>;
  change(copy.quantization_config ?? copy.compression_config);
  return copy;
}

describe('parseQuantizationConfig: real-shaped llm-compressor configs', () => {
  test('no quantization_config: null', () => {
    assert.equal(parseQuantizationConfig(LLAMA), null);
  });

  test('W8A8 int8 (channel weights, dynamic per-token activations) -> int8-w8a8', () => {
    const s = parseQuantizationConfig(W8A8_INT8)!;
    assert.deepEqual(s, {
      precision: 'int8-w8a8',
      weightStrategy: 'channel',
      actStrategy: 'token',
      actDynamic: true,
      ignore: ['lm_head'],
      targets: ['Linear'],
      format: 'int-quantized',
      status: 'compressed',
      version: '0.12.2',
    });
  });

  test('FP8_DYNAMIC (older layout under compression_config) -> fp8-dynamic', () => {
    const s = parseQuantizationConfig(FP8_DYNAMIC_OLD)!;
    assert.equal(s.precision, 'fp8-dynamic');
    assert.equal(s.weightStrategy, 'channel');
    assert.equal(s.actStrategy, 'token');
    assert.equal(s.actDynamic, true);
    assert.equal(s.version, null);
  });

  test('FP8 static (tensor weights, static per-tensor activations) -> fp8-static, regex ignore kept', () => {
    const s = parseQuantizationConfig(FP8_STATIC)!;
    assert.equal(s.precision, 'fp8-static');
    assert.equal(s.weightStrategy, 'tensor');
    assert.equal(s.actStrategy, 'tensor');
    assert.equal(s.actDynamic, false);
    assert.deepEqual(s.ignore, ['lm_head', 're:.*mlp\\.down_proj$']);
    assert.ok(isIgnored('model.layers.3.mlp.down_proj', s));
    assert.ok(!isIgnored('model.layers.3.mlp.up_proj', s));
  });

  test('fp8 per-tensor weights + dynamic per-token activations -> fp8-dynamic with tensor weight scales', () => {
    const s = parseQuantizationConfig(
      variant(FP8_DYNAMIC_OLD, (qc) => (qc.config_groups.group_0.weights.strategy = 'tensor')),
    )!;
    assert.equal(s.precision, 'fp8-dynamic');
    assert.equal(s.weightStrategy, 'tensor');
  });

  test('int8 per-tensor weights + dynamic per-token activations -> int8-w8a8 with tensor weight scales', () => {
    const s = parseQuantizationConfig(variant(W8A8_INT8, (qc) => (qc.config_groups.group_0.weights.strategy = 'tensor')))!;
    assert.equal(s.precision, 'int8-w8a8');
    assert.equal(s.weightStrategy, 'tensor');
  });

  test('strategy inferred from group_size when absent (-1 -> channel), naive-quantized and frozen accepted', () => {
    const s = parseQuantizationConfig(
      variant(W8A8_INT8, (qc) => {
        delete qc.config_groups.group_0.weights.strategy;
        qc.config_groups.group_0.weights.group_size = -1;
        delete qc.config_groups.group_0.format;
        qc.format = 'naive-quantized';
        qc.quantization_status = 'frozen';
      }),
    )!;
    assert.equal(s.weightStrategy, 'channel');
    assert.equal(s.format, 'naive-quantized');
  });

  test('preset-named group ("FP8_DYNAMIC": ["Linear"]) expands', () => {
    const s = parseQuantizationConfig({
      quantization_config: { quant_method: 'compressed-tensors', format: 'float-quantized', config_groups: { FP8_DYNAMIC: ['Linear'] } },
    })!;
    assert.equal(s.precision, 'fp8-dynamic');
    assert.deepEqual(s.targets, ['Linear']);
    assert.deepEqual(s.ignore, []);
  });

  test('two groups with the same scheme merge their targets', () => {
    const s = parseQuantizationConfig(
      variant(W8A8_INT8, (qc) => {
        qc.config_groups.group_0.targets = ['re:.*self_attn.*'];
        qc.config_groups.group_1 = { ...structuredClone(qc.config_groups.group_0), targets: ['re:.*mlp.*'] };
      }),
    )!;
    assert.deepEqual(s.targets, ['re:.*self_attn.*', 're:.*mlp.*']);
    assert.ok(isQuantizedModule('model.layers.0.mlp.up_proj', s));
    assert.ok(!isQuantizedModule('lm_head', s));
  });
});

describe('parseQuantizationConfig refuses what quantbench cannot run, by name', () => {
  const refusals: [string, Record<string, unknown>, string[]][] = [
    [
      'W4A16 (pack-quantized, group 128, weight-only)',
      variant(W8A8_INT8, (qc) => {
        qc.format = 'pack-quantized';
        qc.config_groups.group_0 = {
          targets: ['Linear'],
          weights: argsNew({ num_bits: 4, strategy: 'group', group_size: 128, observer: 'minmax' }),
          input_activations: null,
          output_activations: null,
          format: 'pack-quantized',
        };
      }),
      ['weights.num_bits=4', 'W4A16', 'int8-w8a8, fp8-dynamic, fp8-static'],
    ],
    [
      'W8A16 weight-only',
      variant(W8A8_INT8, (qc) => (qc.config_groups.group_0.input_activations = null)),
      ['input_activations is null', 'weight-only', 'W8A16'],
    ],
    [
      'int8 group-wise weights',
      variant(W8A8_INT8, (qc) => Object.assign(qc.config_groups.group_0.weights, { strategy: 'group', group_size: 128 })),
      ['weights.strategy=group', 'group_size=128'],
    ],
    [
      'group_size with channel strategy',
      variant(W8A8_INT8, (qc) => (qc.config_groups.group_0.weights.group_size = 64)),
      ['group_size=64'],
    ],
    [
      'fp8 block-wise weights',
      variant(FP8_DYNAMIC_OLD, (qc) => Object.assign(qc.config_groups.group_0.weights, { strategy: 'block', block_structure: [128, 128] })),
      ['weights.strategy=block'],
    ],
    [
      'asymmetric weights',
      variant(W8A8_INT8, (qc) => (qc.config_groups.group_0.weights.symmetric = false)),
      ['weights.symmetric=false', 'asymmetric'],
    ],
    [
      'asymmetric activations',
      variant(W8A8_INT8, (qc) => (qc.config_groups.group_0.input_activations.symmetric = false)),
      ['input_activations.symmetric=false'],
    ],
    [
      'unknown format',
      variant(W8A8_INT8, (qc) => {
        qc.format = 'fancy-quantized';
        delete qc.config_groups.group_0.format;
      }),
      ['format="fancy-quantized"', 'unknown format', 'int-quantized'],
    ],
    [
      'dense format',
      variant(FP8_STATIC, (qc) => (qc.format = 'dense')),
      ['format="dense"', 'unquantized'],
    ],
    ['int8 config with float format', variant(W8A8_INT8, (qc) => (qc.config_groups.group_0.format = 'float-quantized')), ['inconsistent']],
    [
      'int8 kv-cache quantization',
      variant(FP8_STATIC, (qc) => (qc.kv_cache_scheme = argsOld({ strategy: 'tensor', type: 'int' }))),
      ['kv_cache_scheme num_bits=8, type=int', 'FP8 (E4M3) KV caches'],
    ],
    [
      'per-head kv-cache scales',
      variant(FP8_STATIC, (qc) => (qc.kv_cache_scheme = argsOld({ strategy: 'attn_head', type: 'float' }))),
      ['kv_cache_scheme.strategy=attn_head'],
    ],
    [
      'dynamic kv-cache scales',
      variant(FP8_STATIC, (qc) => (qc.kv_cache_scheme = argsOld({ strategy: 'tensor', type: 'float', dynamic: true }))),
      ['kv_cache_scheme.dynamic=true'],
    ],
    ['another quant_method', { ...LLAMA, quantization_config: { quant_method: 'gptq', bits: 4 } }, ['quant_method="gptq"']],
    [
      'int8 static per-tensor activations',
      variant(W8A8_INT8, (qc) => Object.assign(qc.config_groups.group_0.input_activations, { strategy: 'tensor', dynamic: false })),
      ['static per-tensor int8'],
    ],
    [
      'fp8 channel weights + static tensor activations (not identical to fp8-static)',
      variant(FP8_STATIC, (qc) => (qc.config_groups.group_0.weights.strategy = 'channel')),
      ['per-channel weights with static per-tensor activations'],
    ],
    [
      'dynamic per-tensor activations',
      variant(FP8_STATIC, (qc) => (qc.config_groups.group_0.input_activations.dynamic = true)),
      ['strategy=tensor with dynamic=true'],
    ],
    [
      'mixed int/float',
      variant(W8A8_INT8, (qc) => (qc.config_groups.group_0.input_activations.type = 'float')),
      ['weights.type=int with input_activations.type=float'],
    ],
    [
      'mixed schemes across groups',
      variant(W8A8_INT8, (qc) => {
        qc.config_groups.group_1 = structuredClone(FP8_STATIC.quantization_config.config_groups.group_0);
        qc.config_groups.group_1.targets = ['re:.*mlp.*'];
        delete qc.format;
        delete qc.config_groups.group_0.format;
      }),
      ['mix schemes', 'int8-w8a8', 'fp8-static'],
    ],
    ['output activations', variant(FP8_STATIC, (qc) => (qc.config_groups.group_0.output_activations = argsOld({}))), ['output_activations']],
    ['uncalibrated status', variant(FP8_STATIC, (qc) => (qc.quantization_status = 'initialized')), ['quantization_status="initialized"']],
    ['sparsity', variant(W8A8_INT8, (qc) => (qc.sparsity_config = { format: 'sparse-24-bitmask' })), ['sparsity_config']],
    ['MX scale dtype', variant(W8A8_INT8, (qc) => (qc.config_groups.group_0.weights.scale_dtype = 'torch.uint8')), ['scale_dtype']],
    ['no groups', variant(W8A8_INT8, (qc) => (qc.config_groups = {})), ['config_groups']],
    ['unsupported preset', { quantization_config: { quant_method: 'compressed-tensors', config_groups: { W4A16: ['Linear'] } } }, ['W4A16']],
  ];
  for (const [name, config, mentions] of refusals) {
    test(name, () => {
      expectError(() => parseQuantizationConfig(config, '/ckpt/config.json'), 'UNSUPPORTED_QUANT', '/ckpt/config.json', ...mentions);
    });
  }

  test('malformed fields: BAD_CONFIG', () => {
    expectError(() => parseQuantizationConfig(variant(W8A8_INT8, (qc) => (qc.ignore = 'lm_head'))), 'BAD_CONFIG', 'ignore');
    expectError(() => parseQuantizationConfig(variant(W8A8_INT8, (qc) => (qc.ignore = ['re:(unclosed']))), 'BAD_CONFIG', 're:(unclosed');
    expectError(() => parseQuantizationConfig({ quantization_config: 'int8' }), 'BAD_CONFIG');
  });
});

describe('buildQuantizationConfig', () => {
  for (const precision of QUANTIZED_PRECISIONS) {
    test(`${precision}: build -> parse round trip`, () => {
      const qc = buildQuantizationConfig(precision);
      const s = parseQuantizationConfig({ ...LLAMA, quantization_config: JSON.parse(JSON.stringify(qc)) })!;
      assert.equal(s.precision, precision);
      assert.equal(s.weightStrategy, precision === 'fp8-static' ? 'tensor' : 'channel');
      assert.equal(s.actStrategy, precision === 'fp8-static' ? 'tensor' : 'token');
      assert.equal(s.actDynamic, precision !== 'fp8-static');
      assert.deepEqual(s.ignore, ['lm_head']);
      assert.deepEqual(s.targets, ['Linear']);
      assert.equal(s.status, 'compressed');
      assert.equal(s.version, COMPRESSED_TENSORS_LAYOUT_VERSION);
    });
  }

  test('matches the llm-compressor layout field for field (W8A8 int8 fixture)', () => {
    const built = buildQuantizationConfig('int8-w8a8') as Record<string, any>;
    const real = structuredClone(W8A8_INT8.quantization_config) as Record<string, any>;
    real.version = COMPRESSED_TENSORS_LAYOUT_VERSION;
    assert.deepEqual(built, real);
    // Keys sorted as transformers writes config.json.
    assert.deepEqual(Object.keys(built), [...Object.keys(built)].sort());
    assert.deepEqual(Object.keys(built.config_groups.group_0.weights), [...Object.keys(built.config_groups.group_0.weights)].sort());
  });
});

describe('isIgnored follows compressed-tensors matching (exact name, or re: with re.match semantics)', () => {
  const s = { ignore: ['lm_head', 're:model\\.layers\\.0\\..*', 're:.*gate_proj$', 're:(?i)MODEL\\.LAYERS\\.9\\.'] };
  test('exact and regex entries', () => {
    assert.ok(isIgnored('lm_head', s));
    assert.ok(!isIgnored('model.lm_head', s), 'plain entries are exact');
    assert.ok(isIgnored('model.layers.0.self_attn.q_proj', s));
    assert.ok(isIgnored('model.layers.7.mlp.gate_proj', s));
    assert.ok(!isIgnored('model.layers.7.mlp.gate_proj_extra', s), '$ anchors the end');
    assert.ok(!isIgnored('model.layers.10.self_attn.q_proj', s));
    assert.ok(isIgnored('model.layers.9.mlp.up_proj', s), 'leading (?i) flag');
  });
  test('re: patterns are anchored at the start only, like Python re.match', () => {
    assert.ok(!isIgnored('xmodel.layers.0.q', { ignore: ['re:model'] }));
    assert.ok(isIgnored('model.layers.0.q', { ignore: ['re:model'] }));
  });
});

// ---- tensors of a quantized checkpoint -----------------------------------------------------------------------

const PREFIXES = (layers: number) => {
  const out: string[] = [];
  for (let l = 0; l < layers; l++) {
    for (const m of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) {
      out.push(`model.layers.${l}.${m}`);
    }
  }
  return out;
};

function entry(name: string, dtype: SafetensorsDtype, shape: number[]): TensorEntry {
  return { name, file: '/ckpt/model.safetensors', dtype, shape, offset: 0, nbytes: 0 };
}

/** A metadata-only tensor map for a quantized model: N = 8 rows, K = 4 columns everywhere. */
function quantMap(scheme: QuantScheme, prefixes: string[], scaleDtype: SafetensorsDtype = 'BF16'): Map<string, TensorEntry> {
  const m = new Map<string, TensorEntry>();
  for (const p of prefixes) {
    if (!isQuantizedModule(p, scheme)) {
      m.set(`${p}.weight`, entry(`${p}.weight`, 'BF16', [8, 4]));
      continue;
    }
    for (const e of expectedQuantTensors(p, scheme)) {
      const shape = e.shape === 'NxK' ? [8, 4] : e.shape === 'Nx1' ? [8, 1] : [1];
      m.set(e.name, entry(e.name, e.role === 'weight' ? e.dtypes[0] : scaleDtype, shape));
    }
  }
  return m;
}

describe('expectedQuantTensors / validateQuantTensors', () => {
  const int8 = parseQuantizationConfig(W8A8_INT8)!;
  const fp8s = parseQuantizationConfig(FP8_STATIC)!;

  test('expected names, dtypes and shape rules per scheme', () => {
    assert.deepEqual(expectedQuantTensors('m.q', int8), [
      { name: 'm.q.weight', role: 'weight', dtypes: ['I8'], shape: 'NxK' },
      { name: 'm.q.weight_scale', role: 'weight_scale', dtypes: ['F32', 'F16', 'BF16'], shape: 'Nx1' },
    ]);
    assert.deepEqual(
      expectedQuantTensors('m.q', fp8s).map((e) => [e.name, e.dtypes[0], e.shape]),
      [
        ['m.q.weight', 'F8_E4M3', 'NxK'],
        ['m.q.weight_scale', 'F32', 'scalar'],
        ['m.q.input_scale', 'F32', 'scalar'],
      ],
    );
  });

  test('a consistent checkpoint passes (ignored down_proj stays 16-bit, tied lm_head absent)', () => {
    const prefixes = [...PREFIXES(2), 'lm_head'];
    validateQuantTensors(quantMap(int8, prefixes), prefixes, int8);
    validateQuantTensors(quantMap(fp8s, prefixes), prefixes, fp8s);
    const scalarScales = quantMap(fp8s, prefixes);
    for (const [k, v] of scalarScales) if (k.endsWith('_scale')) v.shape = [];
    validateQuantTensors(scalarScales, prefixes, fp8s);
  });

  const prefixes = PREFIXES(2);
  const target = 'model.layers.1.self_attn.k_proj';
  const cases: [string, QuantScheme, (m: Map<string, TensorEntry>) => void, CheckpointErrorCode, string][] = [
    ['weight_scale absent', int8, (m) => m.delete(`${target}.weight_scale`), 'MISSING_TENSOR', `${target}.weight_scale`],
    ['input_scale absent (static)', fp8s, (m) => m.delete(`${target}.input_scale`), 'MISSING_TENSOR', `${target}.input_scale`],
    ['weight absent', int8, (m) => m.delete(`${target}.weight`), 'MISSING_TENSOR', `${target}.weight`],
    ['weight stored 16-bit', int8, (m) => (m.get(`${target}.weight`)!.dtype = 'BF16'), 'DTYPE_SHAPE', `${target}.weight`],
    ['int8 scheme with fp8 weight', int8, (m) => (m.get(`${target}.weight`)!.dtype = 'F8_E4M3'), 'DTYPE_SHAPE', `${target}.weight`],
    ['channel scale as [N]', int8, (m) => (m.get(`${target}.weight_scale`)!.shape = [8]), 'DTYPE_SHAPE', `${target}.weight_scale`],
    ['channel scale rows != weight rows', int8, (m) => (m.get(`${target}.weight_scale`)!.shape = [7, 1]), 'DTYPE_SHAPE', `${target}.weight_scale`],
    ['tensor scale as [N,1]', fp8s, (m) => (m.get(`${target}.weight_scale`)!.shape = [8, 1]), 'DTYPE_SHAPE', `${target}.weight_scale`],
    ['integer scale', int8, (m) => (m.get(`${target}.weight_scale`)!.dtype = 'I32'), 'DTYPE_SHAPE', `${target}.weight_scale`],
    ['1-D weight', int8, (m) => (m.get(`${target}.weight`)!.shape = [32]), 'DTYPE_SHAPE', `${target}.weight`],
    [
      'ignored module stored quantized',
      fp8s,
      (m) => (m.get('model.layers.0.mlp.down_proj.weight')!.dtype = 'F8_E4M3'),
      'DTYPE_SHAPE',
      'model.layers.0.mlp.down_proj.weight',
    ],
  ];
  for (const [name, scheme, breakIt, code, tensor] of cases) {
    test(`${name}: ${code}`, () => {
      const m = quantMap(scheme, prefixes);
      breakIt(m);
      const e = expectError(() => validateQuantTensors(m, prefixes, scheme), code, tensor);
      assert.equal(e.tensor, tensor);
      assert.equal(e.file, '/ckpt/model.safetensors');
    });
  }
});

describe('a quantized checkpoint written and read back end to end', () => {
  const f32Bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
  const bf16Bytes = (xs: number[]) => {
    const u = new Uint16Array(xs.length);
    xs.forEach((x, i) => (u[i] = new Uint32Array(new Float32Array([x]).buffer)[0] >>> 16));
    return new Uint8Array(u.buffer);
  };

  function build(precision: 'int8-w8a8' | 'fp8-static', badScale?: number): string {
    const r = rng(precision === 'int8-w8a8' ? 101 : 202);
    const scheme = parseQuantizationConfig({ quantization_config: buildQuantizationConfig(precision) })!;
    const entries: WriteEntry[] = [];
    const N = 6;
    const K = 5;
    for (const p of PREFIXES(1)) {
      const w = new Uint8Array(N * K).map(() => Math.floor(r() * 256));
      entries.push({ name: `${p}.weight`, dtype: precision === 'int8-w8a8' ? 'I8' : 'F8_E4M3', shape: [N, K], data: w });
      if (scheme.weightStrategy === 'channel') {
        const scales = Array.from({ length: N }, () => 0.001 + r() * 0.01);
        if (badScale !== undefined && p.endsWith('o_proj')) scales[3] = badScale;
        entries.push({ name: `${p}.weight_scale`, dtype: 'BF16', shape: [N, 1], data: bf16Bytes(scales) });
      } else {
        entries.push({ name: `${p}.weight_scale`, dtype: 'F32', shape: [1], data: f32Bytes([badScale ?? 0.02 + r()]) });
        entries.push({ name: `${p}.input_scale`, dtype: 'F32', shape: [1], data: f32Bytes([0.05 + r()]) });
      }
    }
    entries.push({ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [16, K], data: bf16Bytes(Array.from({ length: 16 * K }, () => r() - 0.5)) });
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'qb-ckpt-ct-'));
    created.push(parent);
    const dir = path.join(parent, precision);
    writeShardedSafetensors(dir, entries, {
      maxShardBytes: 256,
      extraFiles: { 'config.json': JSON.stringify({ ...LLAMA, tie_word_embeddings: true, quantization_config: buildQuantizationConfig(precision) }, null, 2) },
    });
    return dir;
  }

  for (const precision of ['int8-w8a8', 'fp8-static'] as const) {
    test(`${precision}: openCheckpoint -> parse -> validate tensors and scale values`, () => {
      const ck = openCheckpoint(build(precision));
      assert.ok(ck.files.length > 1, 'sharded');
      const scheme = parseQuantizationConfig(ck.config)!;
      assert.equal(scheme.precision, precision);
      const prefixes = [...PREFIXES(1), 'lm_head'];
      validateQuantTensors(ck.tensors, prefixes, scheme);
      validateScaleValues(ck.tensors, prefixes, scheme);
    });
    test(`${precision}: a NaN scale is caught as NAN_IN_WEIGHTS`, () => {
      const ck = openCheckpoint(build(precision, NaN));
      const scheme = parseQuantizationConfig(ck.config)!;
      const e = expectError(() => validateScaleValues(ck.tensors, PREFIXES(1), scheme), 'NAN_IN_WEIGHTS', 'NaN');
      assert.ok(e.tensor?.endsWith('weight_scale'));
    });
  }
  test('a zero scale is caught too', () => {
    const ck = openCheckpoint(build('int8-w8a8', 0));
    expectError(() => validateScaleValues(ck.tensors, PREFIXES(1), parseQuantizationConfig(ck.config)!), 'NAN_IN_WEIGHTS', 'self_attn.o_proj');
  });

  test('decodeFloats: known F16 / BF16 / F32 bit patterns', () => {
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00, 0x7e00]).buffer);
    const got = decodeFloats('F16', f16);
    assert.deepEqual(got.slice(0, 5), [1, -2, 2 ** -24, 65504, Infinity]);
    assert.ok(Number.isNaN(got[5]));
    assert.deepEqual(decodeFloats('BF16', new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer)), [1, -3]);
    assert.deepEqual(decodeFloats('F32', f32Bytes([0.5, -8])), [0.5, -8]);
  });
});
