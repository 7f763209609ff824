#!/usr/bin/env -S node --import tsx
/** pnpm quantize --model DIR --precision P [--calib FILE] --out DIR */
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LLM } from '../llm.ts';
import { QUANTIZED_PRECISIONS, type QuantizedPrecision } from '../types.ts';
import { exportCompressedTensors } from '../quant/export_checkpoint.ts';
import { fail, progressDone, progressLine } from './common.ts';
import { applyContract } from './contract.ts';
import { checkModelPath } from './model_arg.ts';

async function main(): Promise<void> {
  const args = hideBin(process.argv);
  const argv = await applyContract(yargs(args).scriptName('pnpm quantize'), args, {
    positiveInts: ['calib-samples'],
    positiveNumbers: ['max-shard-gb'],
  })
    .usage(
      '$0 --model DIR --precision P [--calib FILE] --out DIR\n\n' +
        'Quantize a 16-bit HF Llama checkpoint and write it as a compressed-tensors checkpoint (the format vLLM loads).\n' +
        'fp8-static calibrates per-tensor activation scales and int8-w8a8 SmoothQuant statistics on --calib text\n' +
        '(.txt paragraphs or .jsonl with a text/question field; GSM8K train questions work well). Without --calib a\n' +
        'small built-in text (datasets/calibration/default.txt) is used and recorded in the recipe.',
    )
    .option('model', { type: 'string', demandOption: true, describe: '16-bit HF Llama directory' })
    .option('precision', { choices: QUANTIZED_PRECISIONS, demandOption: true })
    .option('calib', { type: 'string', describe: 'calibration text file' })
    .option('calib-samples', { type: 'number', default: 256 })
    .option('smoothquant-alpha', { type: 'number', default: 0.5, describe: 'int8-w8a8 SmoothQuant alpha (negative: off)' })
    .option('dtype', { choices: ['fp16', 'bf16'] as const, default: 'fp16' as const, describe: 'dtype of the unquantized tensors written' })
    .option('out', { type: 'string', demandOption: true, describe: 'output directory (must not exist unless --overwrite)' })
    .option('overwrite', { type: 'boolean', default: false })
    .option('max-shard-gb', { type: 'number', default: 5 })
    .help()
    .parseAsync();
  checkModelPath(argv.model);
  const llm = await LLM.load({
    model: argv.model,
    precision: argv.precision as QuantizedPrecision,
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
  process.stdout.write(`wrote ${res.dir}: ${res.files.join(', ')} (${(res.totalSize / 1e6).toFixed(2)} MB, ${llm.info.recipe.weights} / ${llm.info.recipe.activations})\n`);
  llm.close();
}

main().catch(fail);
