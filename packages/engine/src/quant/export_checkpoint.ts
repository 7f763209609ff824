/**
 * Write a loaded, quantized model as a compressed-tensors checkpoint a vLLM user could load: config.json with
 * quantization_config, safetensors shards (+ index), tokenizer and generation files copied from the source.
 * Atomic: the target directory appears complete or not at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildQuantizationConfig, writeShardedSafetensors, type ShardedWriteResult } from '../checkpoint/index.ts';
import { EngineError } from '../errors.ts';
import type { LLM } from '../llm.ts';
import { isQuantized } from '../types.ts';

const COPY_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'chat_template.jinja'];

export function exportCompressedTensors(
  llm: LLM,
  sourceDir: string,
  outDir: string,
  o: { maxShardBytes?: number; overwrite?: boolean } = {},
): ShardedWriteResult {
  const p = llm.info.precision;
  if (!isQuantized(p)) throw new EngineError('BAD_REQUEST', `--precision ${p} is not a quantized precision; quantize writes int8-w8a8, fp8-dynamic or fp8-static`);
  const cfgPath = path.join(sourceDir, 'config.json');
  const config = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  const dtype = llm.info.recipe.actDtype;
  const out: Record<string, unknown> = {
    ...config,
    torch_dtype: dtype === 'fp16' ? 'float16' : dtype === 'bf16' ? 'bfloat16' : 'float32',
    quantization_config: {
      ...buildQuantizationConfig(p),
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
  return writeShardedSafetensors(outDir, llm.preparedTensors(), {
    maxShardBytes: o.maxShardBytes ?? 5 * 1024 ** 3,
    extraFiles,
    overwrite: o.overwrite,
    metadata: { quantbench_precision: p },
  });
}
