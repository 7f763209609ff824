/**
 * Write a loaded, quantized model as a compressed-tensors checkpoint a vLLM user could load: config.json with
 * quantization_config, safetensors shards (+ index), tokenizer and generation files copied from the source.
 * Atomic: the target directory appears complete or not at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildKvOnlyQuantizationConfig, buildQuantizationConfig, kvScaleNames, writeShardedSafetensors, type ShardedWriteResult } from '../checkpoint/index.ts';
import { EngineError } from '../errors.ts';
import type { LLM } from '../llm.ts';
import { isQuantized } from '../types.ts';
import { kScaleName, vScaleName } from '../model/loader.ts';

const COPY_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja'];

export function exportCompressedTensors(
  llm: LLM,
  sourceDir: string,
  outDir: string,
  o: { maxShardBytes?: number; overwrite?: boolean } = {},
): ShardedWriteResult {
  const p = llm.info.precision;
  const kv = llm.kvScales;
  if (!isQuantized(p) && !(kv && p === 'fp16')) {
    throw new EngineError('BAD_REQUEST', `--precision ${p} is not a quantized precision; quantize writes int8-w8a8, fp8-dynamic or fp8-static weights, and/or FP8 KV-cache scales (--kv-cache-dtype fp8)`);
  }
  const cfgPath = path.join(sourceDir, 'config.json');
  const config = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  const dtype = llm.info.recipe.actDtype;
  const out: Record<string, unknown> = {
    ...config,
    torch_dtype: dtype === 'fp16' ? 'float16' : dtype === 'bf16' ? 'bfloat16' : 'float32',
    quantization_config: {
      // kv_cache_scheme + per-layer k_scale / v_scale tensors, as llm-compressor writes them (vLLM reads both)
      ...(isQuantized(p) ? buildQuantizationConfig(p, { kvCache: kv !== null }) : buildKvOnlyQuantizationConfig()),
      quantbench: {
        recipe: llm.info.recipe,
        provenance: llm.provenance(),
      },
    },
  };
  const extraFiles: Record<string, string | Uint8Array> = { 'config.json': JSON.stringify(out, null, 2) + '\n' };
  for (const f of COPY_FILES) {
    const src = path.join(sourceDir, f);
    if (fs.existsSync(src)) extraFiles[f] = fs.readFileSync(src);
  }
  // The model's own tensors minus any KV scales it exports; the scales written are the ones it runs with.
  const tensors = llm.preparedTensors().filter((t) => kvScaleNames(t.name) === null);
  if (kv) {
    const scalar = (name: string, x: number) => ({ name, dtype: 'F32' as const, shape: [] as number[], data: () => new Uint8Array(Float32Array.of(x).buffer) });
    kv.k.forEach((x, l) => tensors.push(scalar(kScaleName(l), x)));
    kv.v.forEach((x, l) => tensors.push(scalar(vScaleName(l), x)));
  }
  return writeShardedSafetensors(outDir, tensors, {
    maxShardBytes: o.maxShardBytes ?? 5 * 1024 ** 3,
    extraFiles,
    overwrite: o.overwrite,
    metadata: { quantbench_precision: p },
  });
}
