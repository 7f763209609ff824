/**
 * The tensors a compressed-tensors int8 / fp8 Linear layer stores, and checks that a checkpoint holds them.
 *
 * Per quantized Linear `P` (compressed-tensors lifecycle/initialize.py `initialize_qparams`, compressors omit zero
 * points for symmetric schemes):
 *   P.weight        I8 (int-quantized) or F8_E4M3 (float-quantized), [N, K]
 *   P.weight_scale  float (the model's dtype, or F32), [N, 1] for channel strategy, [1] for tensor ([] in older files)
 *   P.input_scale   float, [1] (or []), only for static activations
 * Older files may also hold all-zero `weight_zero_point` / `input_zero_point`; they are tolerated, not required.
 */
import { CheckpointError } from './errors.ts';
import type { SafetensorsDtype } from './dtypes.ts';
import { readTensorBytes, type TensorEntry } from './safetensors.ts';
import { isQuantizedModule, type QuantScheme } from './compressed_tensors.ts';

/** NxK: a 2-D weight; Nx1: one value per output row of the weight; scalar: [1] or []. */
export type QuantShapeRule = 'NxK' | 'Nx1' | 'scalar';
export type QuantTensorRole = 'weight' | 'weight_scale' | 'input_scale';

export interface ExpectedQuantTensor {
  name: string;
  role: QuantTensorRole;
  dtypes: readonly SafetensorsDtype[];
  shape: QuantShapeRule;
}

export const SCALE_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16'];
export const UNQUANTIZED_WEIGHT_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16'];

export function quantWeightDtype(scheme: Pick<QuantScheme, 'precision'>): SafetensorsDtype {
  return scheme.precision === 'int8-w8a8' ? 'I8' : 'F8_E4M3';
}

/** What a quantized Linear with module name `prefix` must store. */
export function expectedQuantTensors(
  prefix: string,
  scheme: Pick<QuantScheme, 'precision' | 'weightStrategy' | 'actDynamic'>,
): ExpectedQuantTensor[] {
  const out: ExpectedQuantTensor[] = [
    { name: `${prefix}.weight`, role: 'weight', dtypes: [quantWeightDtype(scheme)], shape: 'NxK' },
    { name: `${prefix}.weight_scale`, role: 'weight_scale', dtypes: SCALE_DTYPES, shape: scheme.weightStrategy === 'channel' ? 'Nx1' : 'scalar' },
  ];
  if (!scheme.actDynamic) out.push({ name: `${prefix}.input_scale`, role: 'input_scale', dtypes: SCALE_DTYPES, shape: 'scalar' });
  return out;
}

function shapeOk(rule: QuantShapeRule, shape: readonly number[], rows: number | null): boolean {
  switch (rule) {
    case 'NxK':
      return shape.length === 2 && shape[0] > 0 && shape[1] > 0;
    case 'Nx1':
      return shape.length === 2 && shape[1] === 1 && (rows === null || shape[0] === rows);
    case 'scalar':
      return shape.length === 0 || (shape.length === 1 && shape[0] === 1);
  }
}

function ruleText(rule: QuantShapeRule, rows: number | null): string {
  if (rule === 'NxK') return '[N, K]';
  if (rule === 'Nx1') return `[${rows ?? 'N'}, 1]`;
  return '[1] or []';
}

/**
 * Check that every Linear in `linearPrefixes` (module names such as "model.layers.0.self_attn.q_proj") is stored as
 * the scheme says: quantized modules with the tensors of expectedQuantTensors, ignored / untargeted ones with a
 * 16/32-bit `weight` (or none at all, e.g. a tied lm_head). Metadata only; no tensor data is read.
 */
export function validateQuantTensors(
  tensors: ReadonlyMap<string, TensorEntry>,
  linearPrefixes: readonly string[],
  scheme: QuantScheme,
): void {
  const anyFile = tensors.values().next().value?.file ?? '(empty checkpoint)';
  for (const prefix of linearPrefixes) {
    if (!isQuantizedModule(prefix, scheme)) {
      const w = tensors.get(`${prefix}.weight`);
      if (w && !UNQUANTIZED_WEIGHT_DTYPES.includes(w.dtype)) {
        throw new CheckpointError(
          'DTYPE_SHAPE',
          w.file,
          `module is not quantized by the scheme (ignored or not targeted) but its weight is ${w.dtype}; expected ` +
            `${UNQUANTIZED_WEIGHT_DTYPES.join('/')} (the config and the tensors disagree: re-export the checkpoint)`,
          { tensor: w.name },
        );
      }
      continue;
    }
    const weight = tensors.get(`${prefix}.weight`);
    const rows = weight && weight.shape.length === 2 ? weight.shape[0] : null;
    for (const exp of expectedQuantTensors(prefix, scheme)) {
      const t = tensors.get(exp.name);
      if (!t) {
        throw new CheckpointError(
          'MISSING_TENSOR',
          weight?.file ?? anyFile,
          `the ${scheme.precision} scheme needs ${exp.role} ${exp.dtypes.join('/')} ${ruleText(exp.shape, rows)} but the checkpoint has no such tensor; ` +
            're-export the checkpoint with llm-compressor',
          { tensor: exp.name },
        );
      }
      if (!exp.dtypes.includes(t.dtype) || !shapeOk(exp.shape, t.shape, rows)) {
        throw new CheckpointError(
          'DTYPE_SHAPE',
          t.file,
          `${exp.role} is ${t.dtype} ${JSON.stringify(t.shape)} but the ${scheme.precision} scheme (weights ${scheme.weightStrategy}) ` +
            `needs ${exp.dtypes.join('/')} ${ruleText(exp.shape, rows)}; the config and the tensors disagree: re-export the checkpoint`,
          { tensor: t.name },
        );
      }
    }
  }
}

/**
 * Read every scale of the quantized modules (they are small) and require finite, positive values.
 * Throws CheckpointError('NAN_IN_WEIGHTS'). Call after validateQuantTensors.
 */
export function validateScaleValues(
  tensors: ReadonlyMap<string, TensorEntry>,
  linearPrefixes: readonly string[],
  scheme: QuantScheme,
): void {
  for (const prefix of linearPrefixes) {
    if (!isQuantizedModule(prefix, scheme)) continue;
    for (const exp of expectedQuantTensors(prefix, scheme)) {
      if (exp.role === 'weight') continue;
      const t = tensors.get(exp.name);
      if (!t) continue;
      const values = decodeFloats(t.dtype, readTensorBytes(t));
      const bad = values.findIndex((v) => !(Number.isFinite(v) && v > 0));
      if (bad >= 0) {
        throw new CheckpointError(
          'NAN_IN_WEIGHTS',
          t.file,
          `${exp.role}[${bad}] is ${values[bad]}; scales must be finite and positive (the export went wrong: re-quantize the model)`,
          { tensor: t.name },
        );
      }
    }
  }
}

/** Decode little-endian F32 / F16 / BF16 bytes to numbers. */
export function decodeFloats(dtype: SafetensorsDtype, bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  if (dtype === 'F32') {
    for (let i = 0; i + 4 <= bytes.byteLength; i += 4) out.push(view.getFloat32(i, true));
  } else if (dtype === 'BF16') {
    const f = new DataView(new ArrayBuffer(4));
    for (let i = 0; i + 2 <= bytes.byteLength; i += 2) {
      f.setUint32(0, view.getUint16(i, true) << 16);
      out.push(f.getFloat32(0));
    }
  } else if (dtype === 'F16') {
    for (let i = 0; i + 2 <= bytes.byteLength; i += 2) out.push(halfToNumber(view.getUint16(i, true)));
  } else {
    throw new Error(`decodeFloats: ${dtype} is not a float dtype`);
  }
  return out;
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
