/**
 * The compressed-tensors `quantization_config` (what llm-compressor writes into config.json and vLLM reads), mapped
 * onto quantbench's precisions.
 *
 * Field names, defaults and preset schemes follow vllm-project/compressed-tensors:
 *   src/compressed_tensors/quantization/quant_args.py   (QuantizationArgs: num_bits, type, symmetric, group_size,
 *       strategy, block_structure, dynamic, actorder, scale_dtype, zp_dtype, observer, observer_kwargs; strategy
 *       inferred from group_size when absent: null -> tensor, -1 -> channel, > 0 -> group)
 *   src/compressed_tensors/quantization/quant_scheme.py (presets INT8_W8A8 / "W8A8", FP8_DYNAMIC, FP8)
 *   src/compressed_tensors/quantization/quant_config.py (config_groups, quant_method, kv_cache_scheme, format,
 *       quantization_status, global_compression_ratio, ignore)
 * and vLLM's compressed_tensors.py (_is_dynamic_token_w8a8, _is_static_tensor_w8a8, _is_fp8_w8a8) for which
 * combinations are served.
 */
import type { QuantizedPrecision } from '../types.ts';
import { CheckpointError } from './errors.ts';
import { compilePythonPattern, entryMatches } from './module_match.ts';

export type WeightStrategy = 'channel' | 'tensor';
export type ActStrategy = 'token' | 'tensor';

export interface QuantScheme {
  precision: QuantizedPrecision;
  /** channel: one scale per output row ([N,1]); tensor: one scale per weight. */
  weightStrategy: WeightStrategy;
  /** token: one scale per token, computed at run time; tensor: one scale per layer input. */
  actStrategy: ActStrategy;
  /** false only for fp8-static (input_scale read from the checkpoint). */
  actDynamic: boolean;
  /** Module names or "re:" patterns left unquantized. */
  ignore: string[];
  /** Module names, "re:" patterns or class names ("Linear") that are quantized. */
  targets: string[];
  /** The compressed-tensors storage format in effect, or null when the config names none. */
  format: string | null;
  /** quantization_status as written, or null when absent. */
  status: string | null;
  /** The compressed-tensors version that wrote the config, or null. */
  version: string | null;
}

/** compressed-tensors version whose config layout buildQuantizationConfig reproduces. */
export const COMPRESSED_TENSORS_LAYOUT_VERSION = '0.18.0';

const SUPPORTED = 'quantbench runs int8-w8a8, fp8-dynamic, fp8-static';

/** Storage formats that hold plain int8 / fp8 weights (one element per byte) with separate scales. */
const FORMATS: Record<'int' | 'float', readonly string[]> = {
  int: ['int-quantized', 'naive-quantized'],
  float: ['float-quantized', 'naive-quantized'],
};

const KNOWN_OTHER_FORMATS: Record<string, string> = {
  dense: 'weights stored unquantized',
  'pack-quantized': 'sub-byte weights packed into int32',
  'marlin-24': '2:4 sparse Marlin layout',
  'sparse-bitmask': 'bitmask-sparse weights',
  'sparse-24-bitmask': '2:4 sparse weights',
  'nvfp4-pack-quantized': 'NVFP4 packed weights',
  'mxfp4-pack-quantized': 'MXFP4 packed weights',
  'mixed-precision': 'different formats per layer',
  fakequant: 'fake-quantized 16-bit weights',
};

interface Args {
  numBits: number;
  type: 'int' | 'float';
  symmetric: boolean;
  groupSize: number | null;
  strategy: string;
  dynamic: boolean | 'local';
  blockStructure: unknown;
  actorder: unknown;
  scaleDtype: unknown;
}

/**
 * Read `quantization_config` (or the older `compression_config`) from a parsed config.json. Returns null when the
 * model is not quantized; throws CheckpointError('UNSUPPORTED_QUANT' | 'BAD_CONFIG') for anything quantbench cannot
 * run, naming the field and value.
 */
export function parseQuantizationConfig(config: Record<string, unknown>, file = 'config.json'): QuantScheme | null {
  const qc = config.quantization_config ?? config.compression_config;
  if (qc === undefined || qc === null) return null;
  if (!isObject(qc)) throw bad(file, `quantization_config is ${kind(qc)}, not an object`);

  const method = qc.quant_method;
  if (typeof method !== 'string' || method.toLowerCase() !== 'compressed-tensors') {
    throw unsupported(
      file,
      `quant_method=${JSON.stringify(method)} is not supported: quantbench reads compressed-tensors checkpoints ` +
        `(as written by llm-compressor); ${SUPPORTED}`,
    );
  }
  // kv_cache_scheme (FP8 KV-cache scales) is read by parseKvCacheScheme; it is checked here so a bad one fails early.
  parseKvCacheScheme(config, file);
  if (isObject(qc.sparsity_config) && Object.keys(qc.sparsity_config).length > 0) {
    throw unsupported(file, `sparsity_config is set (sparse weights) and is not supported; ${SUPPORTED}`);
  }
  if (isObject(qc.transform_config) && Object.keys(qc.transform_config).length > 0) {
    throw unsupported(file, `transform_config is set (rotated weights, e.g. QuIP/SpinQuant) and is not supported; ${SUPPORTED}`);
  }
  const status = optionalString(file, qc, 'quantization_status');
  if (status !== null && status !== 'compressed' && status !== 'frozen') {
    throw unsupported(
      file,
      `quantization_status=${JSON.stringify(status)} is not supported: the checkpoint must hold calibrated, compressed weights ` +
        '("compressed"); re-export it with llm-compressor',
    );
  }
  const topFormat = optionalString(file, qc, 'format');
  const version = typeof qc.version === 'string' ? qc.version : null;
  const ignore = stringList(file, qc.ignore ?? [], 'ignore');
  for (const entry of ignore) checkPattern(file, entry, 'ignore');

  const groups = qc.config_groups;
  // A KV-cache-only config (16-bit weights + kv_cache_scheme, as llm-compressor writes for a kv_cache_scheme-only
  // recipe): the weights are not quantized.
  if (isKvOnly(qc)) return null;
  if (!isObject(groups) || Object.keys(groups).length === 0) {
    throw unsupported(file, 'quantization_config has no config_groups, so nothing says how layers are quantized; re-export the checkpoint');
  }

  let scheme: QuantScheme | null = null;
  for (const [groupName, raw] of Object.entries(groups)) {
    const group = expandPreset(file, groupName, raw);
    const where = `config_groups.${groupName}`;
    const targets = stringList(file, group.targets, `${where}.targets`);
    if (targets.length === 0) throw unsupported(file, `${where}.targets is empty`);
    for (const t of targets) checkPattern(file, t, `${where}.targets`);
    const format = group.format === undefined || group.format === null ? topFormat : String(group.format);
    const found = classifyGroup(file, where, group, format);
    const next: QuantScheme = { ...found, ignore, targets, format, status, version };
    if (scheme === null) {
      scheme = next;
    } else if (
      scheme.precision !== next.precision ||
      scheme.weightStrategy !== next.weightStrategy ||
      scheme.actStrategy !== next.actStrategy
    ) {
      throw unsupported(
        file,
        `config_groups mix schemes (${describe(scheme)} and ${where}: ${describe(next)}); mixed-precision checkpoints are not supported, ${SUPPORTED}`,
      );
    } else {
      scheme.targets = [...scheme.targets, ...targets.filter((t) => !scheme!.targets.includes(t))];
    }
  }
  return scheme;
}

/** The kv_cache_scheme quantbench (and vLLM) run: FP8 E4M3, one static symmetric scale per layer for K and for V. */
export interface KvCacheScheme {
  numBits: 8;
  type: 'float';
  strategy: 'tensor';
  dynamic: false;
  symmetric: true;
}

/** The kv_cache_scheme quantbench writes: QuantizationArgs as compressed-tensors serializes them (llm-compressor's kv_cache_scheme). */
export function buildKvCacheScheme(): Record<string, unknown> {
  return args('float', 'tensor', false, 'minmax');
}

function isKvOnly(qc: Record<string, unknown>): boolean {
  const kv = qc.kv_cache_scheme;
  const groups = qc.config_groups;
  return kv !== undefined && kv !== null && (groups === undefined || groups === null || (isObject(groups) && Object.keys(groups).length === 0));
}

/**
 * Read `quantization_config.kv_cache_scheme`: null when absent; the FP8 per-tensor scheme when it is what vLLM serves
 * (its CompressedTensorsKVCacheMethod.validate_kv_cache_scheme: type float, num_bits 8, strategy tensor, symmetric);
 * a CheckpointError('UNSUPPORTED_QUANT') naming the field otherwise.
 */
export function parseKvCacheScheme(config: Record<string, unknown>, file = 'config.json'): KvCacheScheme | null {
  const qc = config.quantization_config ?? config.compression_config;
  if (!isObject(qc)) return null;
  const kv = qc.kv_cache_scheme;
  if (kv === undefined || kv === null) return null;
  if (!isObject(kv)) throw bad(file, `quantization_config.kv_cache_scheme is ${kind(kv)}, not a QuantizationArgs object`);
  const KV_SUPPORTED = 'quantbench runs FP8 (E4M3) KV caches with one static symmetric scale per layer (kv_cache_scheme num_bits 8, type float, strategy tensor), as vLLM';
  const a = readArgs(file, 'kv_cache_scheme', kv);
  if (a.type !== 'float' || a.numBits !== 8) {
    throw unsupported(file, `kv_cache_scheme num_bits=${a.numBits}, type=${a.type} is not supported: ${KV_SUPPORTED}`);
  }
  if (a.strategy !== 'tensor') {
    throw unsupported(file, `kv_cache_scheme.strategy=${a.strategy} is not supported (per-head or per-channel KV scales): ${KV_SUPPORTED}`);
  }
  if (!a.symmetric) throw unsupported(file, `kv_cache_scheme.symmetric=false (zero points) is not supported: ${KV_SUPPORTED}`);
  if (a.dynamic !== false) {
    throw unsupported(file, `kv_cache_scheme.dynamic=${JSON.stringify(a.dynamic)} is not supported (scales computed at run time): ${KV_SUPPORTED}`);
  }
  return { numBits: 8, type: 'float', strategy: 'tensor', dynamic: false, symmetric: true };
}

/**
 * The canonical KV scale name of a checkpoint tensor, or null when it is not one. Canonical:
 * `model.layers.{i}.self_attn.k_scale` / `v_scale` (llm-compressor). Also read, as vLLM remaps them: the older
 * compressed-tensors `self_attn.k_proj.output_scale` / `v_proj.output_scale` (CompressedTensorsConfig.get_cache_scale),
 * ModelOpt's `self_attn.k_proj.k_scale` / `v_proj.v_scale`, and the deprecated single `self_attn.kv_scale`, which vLLM
 * uses for K and V both (maybe_remap_kv_scale_name).
 */
export function kvScaleNames(name: string): string[] | null {
  const m = /^(model\.layers\.\d+\.self_attn)\.(k_scale|v_scale|k_proj\.output_scale|v_proj\.output_scale|k_proj\.k_scale|v_proj\.v_scale|kv_scale)$/.exec(name);
  if (!m) return null;
  const [, base, suffix] = m;
  if (suffix === 'kv_scale') return [`${base}.k_scale`, `${base}.v_scale`];
  return [`${base}.${suffix!.startsWith('k') ? 'k' : 'v'}_scale`];
}

/** Whether a module is in the scheme's ignore list (and so stays unquantized). */
export function isIgnored(moduleName: string, scheme: Pick<QuantScheme, 'ignore'>): boolean {
  return scheme.ignore.some((e) => entryMatches(e, moduleName));
}

/** Whether a Linear module is targeted by the scheme (before the ignore list is applied). */
export function isTargeted(moduleName: string, scheme: Pick<QuantScheme, 'targets'>): boolean {
  return scheme.targets.some((e) => entryMatches(e, moduleName, ['Linear']));
}

/** Whether a Linear module's weights are stored quantized: targeted and not ignored. */
export function isQuantizedModule(moduleName: string, scheme: Pick<QuantScheme, 'targets' | 'ignore'>): boolean {
  return isTargeted(moduleName, scheme) && !isIgnored(moduleName, scheme);
}

/**
 * The quantization_config quantbench writes: the same layout llm-compressor writes for its W8A8 (int8), FP8_DYNAMIC
 * and FP8 (static) preset schemes, keys sorted as transformers sorts them in config.json, ignore ["lm_head"].
 */
export function buildQuantizationConfig(precision: QuantizedPrecision, o: { kvCache?: boolean } = {}): Record<string, unknown> {
  const cfg = buildWeightConfig(precision);
  if (o.kvCache) cfg.kv_cache_scheme = buildKvCacheScheme();
  return cfg;
}

/**
 * The quantization_config of a checkpoint with 16-bit weights and FP8 KV-cache scales only (a kv_cache_scheme-only
 * llm-compressor recipe): no config groups, dense weights.
 */
export function buildKvOnlyQuantizationConfig(): Record<string, unknown> {
  return {
    config_groups: {},
    format: 'dense',
    global_compression_ratio: null,
    ignore: [],
    kv_cache_scheme: buildKvCacheScheme(),
    quant_method: 'compressed-tensors',
    quantization_status: 'compressed',
    sparsity_config: {},
    transform_config: {},
    version: COMPRESSED_TENSORS_LAYOUT_VERSION,
  };
}

function buildWeightConfig(precision: QuantizedPrecision): Record<string, unknown> {
  const type = precision === 'int8-w8a8' ? 'int' : 'float';
  const format = precision === 'int8-w8a8' ? 'int-quantized' : 'float-quantized';
  const weights = args(type, precision === 'fp8-static' ? 'tensor' : 'channel', false, 'minmax');
  const inputActivations =
    precision === 'fp8-static' ? args(type, 'tensor', false, 'static_minmax') : args(type, 'token', true, null);
  return {
    config_groups: {
      group_0: {
        format,
        input_activations: inputActivations,
        output_activations: null,
        targets: ['Linear'],
        weights,
      },
    },
    format,
    global_compression_ratio: null,
    ignore: ['lm_head'],
    kv_cache_scheme: null,
    quant_method: 'compressed-tensors',
    quantization_status: 'compressed',
    sparsity_config: {},
    transform_config: {},
    version: COMPRESSED_TENSORS_LAYOUT_VERSION,
  };
}

function args(type: 'int' | 'float', strategy: string, dynamic: boolean, observer: string | null): Record<string, unknown> {
  return {
    actorder: null,
    block_structure: null,
    dynamic,
    group_size: null,
    num_bits: 8,
    observer,
    observer_kwargs: {},
    scale_dtype: null,
    strategy,
    symmetric: true,
    type,
    zp_dtype: null,
  };
}

/** Preset scheme names a group may be given as (`"W8A8": ["Linear"]`), for the three schemes quantbench runs. */
const PRESETS: Record<string, QuantizedPrecision> = {
  W8A8: 'int8-w8a8',
  INT8: 'int8-w8a8',
  FP8_DYNAMIC: 'fp8-dynamic',
  FP8: 'fp8-static',
};

function expandPreset(file: string, groupName: string, raw: unknown): Record<string, unknown> {
  if (Array.isArray(raw)) {
    const precision = PRESETS[groupName.toUpperCase()];
    if (!precision) {
      throw unsupported(file, `config_groups.${groupName} names preset scheme "${groupName}", which is not supported; ${SUPPORTED}`);
    }
    const built = buildWeightConfig(precision) as { config_groups: { group_0: Record<string, unknown> } };
    return { ...built.config_groups.group_0, format: undefined, targets: raw };
  }
  if (!isObject(raw)) throw bad(file, `config_groups.${groupName} is ${kind(raw)}, not a scheme object`);
  return raw;
}

function classifyGroup(
  file: string,
  where: string,
  group: Record<string, unknown>,
  format: string | null,
): Pick<QuantScheme, 'precision' | 'weightStrategy' | 'actStrategy' | 'actDynamic'> {
  if (group.output_activations !== undefined && group.output_activations !== null) {
    throw unsupported(file, `${where}.output_activations is set (output quantization) and is not supported; ${SUPPORTED}`);
  }
  if (group.weights === undefined || group.weights === null) {
    throw unsupported(file, `${where}.weights is null (activation-only quantization) and is not supported; ${SUPPORTED}`);
  }
  const w = readArgs(file, `${where}.weights`, group.weights);
  if (group.input_activations === undefined || group.input_activations === null) {
    const label = `W${w.numBits}A16${w.type === 'float' ? ' fp' + w.numBits : ''}`;
    if (w.numBits !== 8) {
      throw unsupported(file, `${where}.weights.num_bits=${w.numBits} (${label}, weight-only) is not supported: ${SUPPORTED}`);
    }
    throw unsupported(
      file,
      `${where}.input_activations is null: weight-only quantization (${label}) is not supported: ${SUPPORTED}`,
    );
  }
  const a = readArgs(file, `${where}.input_activations`, group.input_activations);
  const label = `W${w.numBits}A${a.numBits}`;

  if (w.numBits !== 8) {
    throw unsupported(file, `${where}.weights.num_bits=${w.numBits} (${label}) is not supported: ${SUPPORTED}`);
  }
  if (a.numBits !== 8) {
    throw unsupported(file, `${where}.input_activations.num_bits=${a.numBits} (${label}) is not supported: ${SUPPORTED}`);
  }
  if (w.type !== a.type) {
    throw unsupported(
      file,
      `${where}.weights.type=${w.type} with input_activations.type=${a.type} (mixed int/float) is not supported: ${SUPPORTED}`,
    );
  }
  if (!w.symmetric) throw unsupported(file, `${where}.weights.symmetric=false (asymmetric weights, zero points) is not supported: ${SUPPORTED}`);
  if (!a.symmetric) {
    throw unsupported(file, `${where}.input_activations.symmetric=false (asymmetric activations, zero points) is not supported: ${SUPPORTED}`);
  }
  if (w.dynamic !== false) throw unsupported(file, `${where}.weights.dynamic=${JSON.stringify(w.dynamic)} is not supported: weight scales must be stored`);
  if (w.strategy !== 'channel' && w.strategy !== 'tensor') {
    const detail = w.strategy === 'group' || w.strategy === 'tensor_group' ? ` (group_size=${w.groupSize})` : '';
    throw unsupported(
      file,
      `${where}.weights.strategy=${w.strategy}${detail} is not supported: quantbench uses per-channel or per-tensor weight scales; ${SUPPORTED}`,
    );
  }
  if (w.blockStructure !== undefined && w.blockStructure !== null) {
    throw unsupported(file, `${where}.weights.block_structure=${JSON.stringify(w.blockStructure)} (block-wise scales) is not supported: ${SUPPORTED}`);
  }
  if (!(w.actorder === undefined || w.actorder === null || w.actorder === false || w.actorder === 'weight' || w.actorder === 'static')) {
    throw unsupported(file, `${where}.weights.actorder=${JSON.stringify(w.actorder)} (activation reordering with g_idx) is not supported: ${SUPPORTED}`);
  }
  for (const [name, v] of [
    ['weights', w],
    ['input_activations', a],
  ] as const) {
    if (!(v.scaleDtype === undefined || v.scaleDtype === null || ['torch.float32', 'torch.float16', 'torch.bfloat16'].includes(String(v.scaleDtype)))) {
      throw unsupported(file, `${where}.${name}.scale_dtype=${JSON.stringify(v.scaleDtype)} is not supported: scales must be float32/float16/bfloat16`);
    }
  }
  if (a.dynamic === 'local') {
    throw unsupported(file, `${where}.input_activations.dynamic="local" (tensor-group activation scales) is not supported: ${SUPPORTED}`);
  }
  if (a.strategy !== 'token' && a.strategy !== 'tensor') {
    throw unsupported(
      file,
      `${where}.input_activations.strategy=${a.strategy} is not supported: quantbench quantizes activations per token (dynamic) or per tensor (static); ${SUPPORTED}`,
    );
  }
  const weightStrategy = w.strategy as WeightStrategy;

  let precision: QuantizedPrecision;
  if (a.strategy === 'token') {
    if (a.dynamic !== true) {
      throw unsupported(file, `${where}.input_activations: static per-token scales are not valid (token strategy needs dynamic=true)`);
    }
    // A per-tensor weight scale is a per-channel scale with equal entries, so tensor weights + dynamic token
    // activations compute exactly what the per-channel kernels compute.
    precision = w.type === 'int' ? 'int8-w8a8' : 'fp8-dynamic';
  } else if (a.dynamic === true) {
    throw unsupported(
      file,
      `${where}.input_activations: strategy=tensor with dynamic=true (one activation scale per batch, computed at run time) is not supported: ` +
        `quantbench's dynamic schemes scale activations per token; ${SUPPORTED}`,
    );
  } else if (w.type === 'int') {
    throw unsupported(
      file,
      `${where}.input_activations: static per-tensor int8 activations (W8A8 int8 static) are not supported: ` +
        `quantbench's int8-w8a8 quantizes activations per token, dynamically; ${SUPPORTED}`,
    );
  } else if (weightStrategy === 'channel') {
    throw unsupported(
      file,
      `${where}: fp8 per-channel weights with static per-tensor activations are not supported: quantbench's fp8-static uses ` +
        'one weight scale per tensor, and merging per-channel scales would change the weights; re-export with the FP8 ' +
        '(per-tensor) or FP8_DYNAMIC scheme',
    );
  } else {
    precision = 'fp8-static';
  }

  checkFormat(file, where, format, w.type);
  return { precision, weightStrategy, actStrategy: a.strategy as ActStrategy, actDynamic: a.dynamic === true };
}

function checkFormat(file: string, where: string, format: string | null, type: 'int' | 'float'): void {
  if (format === null) return; // no format named: the tensor dtypes (checked by validateQuantTensors) decide
  if (FORMATS[type].includes(format)) return;
  const other = type === 'int' ? 'float' : 'int';
  if (FORMATS[other].includes(format)) {
    throw unsupported(file, `format=${format} stores ${other} weights but ${where} quantizes weights as type=${type}; the config is inconsistent`);
  }
  const known = KNOWN_OTHER_FORMATS[format];
  throw unsupported(
    file,
    `format=${JSON.stringify(format)}${known ? ` (${known})` : ' (unknown format)'} is not supported: expected ${FORMATS[type].join(' or ')}`,
  );
}

function readArgs(file: string, where: string, raw: unknown): Args {
  if (!isObject(raw)) throw bad(file, `${where} is ${kind(raw)}, not a QuantizationArgs object`);
  const numBits = raw.num_bits ?? 8;
  if (typeof numBits !== 'number' || !Number.isInteger(numBits)) {
    throw unsupported(file, `${where}.num_bits=${JSON.stringify(numBits)} is not supported (per-layer bit widths are not read): ${SUPPORTED}`);
  }
  const type = String(raw.type ?? 'int').toLowerCase();
  if (type !== 'int' && type !== 'float') throw unsupported(file, `${where}.type=${JSON.stringify(raw.type)} is not int or float`);
  const symmetric = raw.symmetric ?? true;
  if (typeof symmetric !== 'boolean') throw bad(file, `${where}.symmetric=${JSON.stringify(symmetric)} is not a boolean`);
  const groupSize = raw.group_size ?? null;
  if (groupSize !== null && (typeof groupSize !== 'number' || !Number.isInteger(groupSize))) {
    throw bad(file, `${where}.group_size=${JSON.stringify(groupSize)} is not an integer`);
  }
  let strategy: string;
  if (raw.strategy === undefined || raw.strategy === null) {
    // compressed-tensors infers the strategy from group_size when it is not given.
    strategy = groupSize === null ? 'tensor' : groupSize === -1 ? 'channel' : groupSize > 0 ? 'group' : 'invalid';
  } else {
    strategy = String(raw.strategy).toLowerCase();
  }
  if ((strategy === 'channel' || strategy === 'tensor' || strategy === 'token') && groupSize !== null && groupSize > 0) {
    throw unsupported(file, `${where}.group_size=${groupSize} (group-wise scales) is not supported: ${SUPPORTED}`);
  }
  let dynamic: boolean | 'local';
  const d = raw.dynamic ?? false;
  if (typeof d === 'boolean') dynamic = d;
  else if (typeof d === 'string' && d.toLowerCase() === 'local') dynamic = 'local';
  else throw bad(file, `${where}.dynamic=${JSON.stringify(d)} is not true, false or "local"`);
  return {
    numBits,
    type,
    symmetric,
    groupSize,
    strategy,
    dynamic,
    blockStructure: raw.block_structure,
    actorder: typeof raw.actorder === 'string' ? raw.actorder.toLowerCase() : raw.actorder,
    scaleDtype: raw.scale_dtype,
  };
}

function checkPattern(file: string, entry: string, field: string): void {
  if (!entry.startsWith('re:')) return;
  try {
    compilePythonPattern(entry.slice(3));
  } catch (e) {
    throw bad(file, `${field} entry ${JSON.stringify(entry)} is not a usable regular expression (${(e as Error).message})`);
  }
}

function describe(s: Pick<QuantScheme, 'precision' | 'weightStrategy' | 'actStrategy'>): string {
  return `${s.precision} (weights ${s.weightStrategy}, activations ${s.actStrategy})`;
}

function stringList(file: string, v: unknown, field: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw bad(file, `${field} is ${kind(v)}; it must be a list of strings`);
  }
  return [...v];
}

function optionalString(file: string, obj: Record<string, unknown>, key: string): string | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw bad(file, `quantization_config.${key} is ${kind(v)}, not a string`);
  return v;
}

function unsupported(file: string, message: string): CheckpointError {
  return new CheckpointError('UNSUPPORTED_QUANT', file, message);
}

function bad(file: string, message: string): CheckpointError {
  return new CheckpointError('BAD_CONFIG', file, `${message}; fix config.json or re-export the checkpoint`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}
