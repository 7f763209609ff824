#!/usr/bin/env -S node --import tsx
/** pnpm quantize --model DIR --precision P [--kv-cache-dtype fp8] [--calib FILE] --out DIR */
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LLM } from '../llm.ts';
import { KV_CACHE_DTYPES, QUANTIZED_PRECISIONS, type Precision } from '../types.ts';
import { exportCompressedTensors } from '../quant/export_checkpoint.ts';
import { fail, progressDone, progressLine } from './common.ts';
import { applyContract, UsageError } from './contract.ts';
import { checkModelPath } from './model_arg.ts';

async function main(): Promise<void> {
  const args = hideBin(process.argv);
  const argv = await applyContract(yargs(args).scriptName('pnpm quantize'), args, {
    positiveInts: ['calib-samples'],
    positiveNumbers: ['max-shard-gb'],
  })
    .usage(
      '$0 --model DIR --precision P [--kv-cache-dtype fp8] [--calib FILE] --out DIR\n\n' +
        'Quantize a 16-bit HF Llama checkpoint and write it as a compressed-tensors checkpoint (the format vLLM loads).\n' +
        'fp8-static calibrates per-tensor activation scales and int8-w8a8 SmoothQuant statistics on --calib text\n' +
        '(.txt paragraphs or .jsonl with a text/question field; GSM8K train questions work well). Without --calib a\n' +
        'small built-in text (datasets/calibration/default.txt) is used and recorded in the recipe.\n' +
        '--kv-cache-dtype fp8 also calibrates per-layer FP8 KV-cache scales (max |K| after RoPE / 448, max |V| / 448 on the\n' +
        'same text) and writes them as model.layers.N.self_attn.k_scale / v_scale with quantization_config.kv_cache_scheme,\n' +
        "as llm-compressor does; run the result with --kv-cache-dtype fp8 (vLLM's flag) to use them. With --precision fp16\n" +
        '(or no --precision) the weights stay 16-bit and only the KV scales are added (a kv_cache_scheme-only config).',
    )
    .option('model', { type: 'string', demandOption: true, describe: '16-bit HF Llama directory' })
    .option('precision', { choices: ['fp16', ...QUANTIZED_PRECISIONS] as const, describe: 'weight/activation scheme; fp16 (the default with --kv-cache-dtype fp8): 16-bit weights, KV scales only' })
    .option('kv-cache-dtype', { choices: KV_CACHE_DTYPES, default: 'auto' as const, describe: 'fp8: also calibrate and write FP8 KV-cache scales (kv_cache_scheme); auto: none' })
    .option('calib', { type: 'string', describe: 'calibration text file' })
    .option('calib-samples', { type: 'number', default: 256 })
    .option('smoothquant-alpha', { type: 'number', default: 0.5, describe: 'int8-w8a8 SmoothQuant alpha (negative: off)' })
    .option('dtype', { choices: ['fp16', 'bf16'] as const, default: 'fp16' as const, describe: 'dtype of the unquantized tensors written' })
    .option('out', { type: 'string', demandOption: true, describe: 'output directory (must not exist unless --overwrite)' })
    .option('overwrite', { type: 'boolean', default: false })
    .option('max-shard-gb', { type: 'number', default: 5 })
    .help()
    .parseAsync();
  const kvFp8 = argv['kv-cache-dtype'] === 'fp8';
  const precision = (argv.precision ?? (kvFp8 ? 'fp16' : undefined)) as Precision | undefined;
  if (!precision) throw new UsageError(`missing --precision (${QUANTIZED_PRECISIONS.join(', ')}), or --kv-cache-dtype fp8 for KV-cache scales only`);
  if (precision === 'fp16' && !kvFp8) throw new UsageError('--precision fp16 writes nothing new: add --kv-cache-dtype fp8 (KV-cache scales), or pick a quantized precision');
  if (precision === 'fp16' && argv.dtype !== 'fp16') throw new UsageError('--precision fp16 keeps fp16 weights: drop --dtype bf16');
  checkModelPath(argv.model);
  const llm = await LLM.load({
    model: argv.model,
    precision,
    // KV scales are measured with a 16-bit KV cache: the weights written are the same as without --kv-cache-dtype fp8
    calibrateKvScales: kvFp8,
    dtype: argv.dtype,
    device: 'cpu',
    calib: argv.calib,
    calibSamples: argv['calib-samples'],
    smoothquantAlpha: argv['smoothquant-alpha'],
    onProgress: progressLine,
  });
  progressLine(`writing ${argv.out}`);
  const res = exportCompressedTensors(llm, path.resolve(argv.model), argv.out, {
    maxShardBytes: Math.floor(argv['max-shard-gb'] * 1024 ** 3),
    overwrite: argv.overwrite,
  });
  progressDone();
  const kvNote = llm.kvScales ? `, FP8 KV scales k ${fmtRange(llm.kvScales.k)} v ${fmtRange(llm.kvScales.v)}` : '';
  process.stdout.write(`wrote ${res.dir}: ${res.files.join(', ')} (${(res.totalSize / 1e6).toFixed(2)} MB, ${llm.info.recipe.weights} / ${llm.info.recipe.activations}${kvNote})\n`);
  llm.close();
}

function fmtRange(xs: number[]): string {
  return `${Math.min(...xs).toPrecision(3)}..${Math.max(...xs).toPrecision(3)}`;
}

main().catch(fail);
