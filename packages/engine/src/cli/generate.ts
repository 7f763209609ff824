#!/usr/bin/env -S node --import tsx
/** pnpm generate --model M --precision P [--json] "prompt" ... */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LLM } from '../llm.ts';
import { PRECISIONS, type Precision } from '../types.ts';
import { fail, progressDone, progressLine } from './common.ts';
import { applyContract, KV_CACHE_DTYPE_OPTION, UsageError } from './contract.ts';
import { tokenTexts } from '../tokenizer/detokenize.ts';
import { checkModelPath } from './model_arg.ts';

async function main(): Promise<void> {
  const args = hideBin(process.argv);
  const argv = await applyContract(yargs(args).scriptName('pnpm generate'), args, {
    positiveInts: ['max-tokens', 'threads'],
    nonNegativeInts: ['seed'],
    nonNegativeNumbers: ['temperature'],
    positiveNumbers: ['top-p'],
    repeatable: ['stop', 'stop-token-ids'],
    freePositionals: true,
  })
    .usage('$0 --model DIR|synthetic:NAME --precision P [options] "prompt" ["prompt" ...]\n\nGenerate text with the quantbench engine. Prompts run together in one continuously batched engine.')
    .option('model', { type: 'string', demandOption: true, describe: 'HF Llama directory (plain or compressed-tensors) or synthetic:tiny / synthetic:llama-3.1-8b' })
    .option('precision', { choices: PRECISIONS, describe: 'fp16 (baseline), int8-w8a8, fp8-dynamic, fp8-static; fp32/bf16 as references. Default: fp16, or the scheme of a compressed-tensors checkpoint' })
    .option('dtype', { choices: ['fp16', 'bf16', 'fp32'] as const, describe: 'activation dtype of the 16-bit parts (default from the precision)' })
    .option('kv-cache-dtype', KV_CACHE_DTYPE_OPTION)
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
    .option('max-tokens', { type: 'number', default: 64 })
    .option('temperature', { type: 'number', default: 0, describe: '0 = greedy' })
    .option('top-p', { type: 'number', default: 1 })
    .option('seed', { type: 'number', default: 0 })
    .option('stop', { type: 'string', array: true, describe: 'stop strings' })
    .option('stop-token-ids', { type: 'number', array: true, describe: 'extra token ids that end generation (e.g. 1 = BOS for stories260K, which separates stories with BOS)' })
    .option('ignore-eos', { type: 'boolean', default: false })
    .option('chat', { type: 'boolean', default: false, describe: 'wrap each prompt in the chat template (instruct models)' })
    .option('calib', { type: 'string', describe: 'calibration text (.txt/.jsonl) for fp8-static and int8 SmoothQuant' })
    .option('json', { type: 'boolean', default: false, describe: 'print ids, text and per-token logprobs as JSON' })
    .option('threads', { type: 'number', describe: 'CPU threads (default: all)' })
    .help()
    .parseAsync();
  const prompts = argv._.map(String);
  if (prompts.length === 0) throw new UsageError('give at least one prompt: pnpm generate --model DIR "Once upon a time"');
  if (prompts.some((p) => p === '')) throw new UsageError('a prompt is empty');
  if (argv['top-p'] > 1) throw new UsageError(`--top-p must be in (0, 1], got ${argv['top-p']}`);
  checkModelPath(argv.model);
  const llm = await LLM.load({
    model: argv.model,
    precision: argv.precision as Precision | undefined,
    dtype: argv.dtype,
    kvCacheDtype: argv['kv-cache-dtype'],
    device: argv.device,
    calib: argv.calib,
    threads: argv.threads,
    onProgress: progressLine,
  });
  progressDone();
  const outs = await llm.generate(prompts, {
    maxTokens: argv['max-tokens'],
    temperature: argv.temperature,
    topP: argv['top-p'],
    seed: argv.seed,
    stop: argv.stop,
    stopTokenIds: argv['stop-token-ids'],
    ignoreEos: argv['ignore-eos'],
    chat: argv.chat,
    logprobs: argv.json,
  });
  if (argv.json) {
    process.stdout.write(
      JSON.stringify(
        {
          model: llm.info.model,
          weights: llm.info.weights,
          precision: llm.info.precision,
          recipe: llm.info.recipe,
          kv_cache_dtype: llm.kvCacheDtype,
          device: llm.info.deviceName,
          outputs: outs.map((o) => ({
            prompt: o.prompt,
            promptIds: o.promptIds,
            ids: o.ids,
            text: o.text,
            // per-token text detokenized incrementally against the prompt (vLLM's), so they concatenate to `text`
            tokens: ((texts) => o.ids.map((id, i) => ({ id, text: texts[i], logprob: o.logprobs?.[i] ?? null })))(tokenTexts(llm.tokenizer, o.promptIds, o.ids)),
            finishReason: o.finishReason,
          })),
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    if (llm.info.weights === 'synthetic') process.stderr.write('note: synthetic weights — the text is meaningless; use this for speed, not quality\n');
    for (const o of outs) process.stdout.write(`${o.prompt}${o.text}\n`);
  }
  llm.close();
}

main().catch(fail);
