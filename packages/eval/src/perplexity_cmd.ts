/**
 * `pnpm eval perplexity --text FILE`: perplexity of each precision on a text, and next-token fidelity of each
 * quantized precision vs fp16 (KL of the full next-token distributions, top-1 agreement). The text is split into
 * chunks of at most --chunk-chars characters at paragraph/whitespace boundaries; each chunk is one context.
 */
import type { ActDtype, DeviceKind, Precision } from '@quantbench/engine';
import fs from 'node:fs';
import path from 'node:path';
import type { EvalModel, LoadOptions } from './engine_lm.ts';
import { EvalError } from './errors.ts';
import { FLIP_RULE, NextTokenFidelity, perplexity } from './fidelity.ts';
import { orderPrecisions } from './evaluate.ts';
import { makeProgress } from './progress.ts';
import { fidelityFile, perplexityFile, readFidelity, writeJson } from './run_files.ts';
import { EVAL_SCHEMA_VERSION, type FidelityResult, type PerplexityResult } from './schema.ts';

export interface PerplexityArgs {
  text: string;
  model: string;
  precisions: Precision[];
  out: string;
  chunkChars: number;
  maxChunks?: number | null;
  device?: DeviceKind;
  dtype?: ActDtype;
  calib?: string;
  progress?: boolean;
}

/** Split text into chunks of at most maxChars, preferring paragraph, then line, then space boundaries. */
export function chunkText(text: string, maxChars: number): string[] {
  const out: string[] = [];
  let rest = text.trim();
  while (rest.length > maxChars) {
    const window = rest.slice(0, maxChars + 1);
    let cut = window.lastIndexOf('\n\n');
    if (cut < maxChars / 4) cut = window.lastIndexOf('\n');
    if (cut < maxChars / 4) cut = window.lastIndexOf(' ');
    if (cut < maxChars / 4) cut = maxChars;
    out.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest) out.push(rest);
  return out.filter((c) => c.length > 0);
}

export async function runPerplexity(args: PerplexityArgs, deps: { loadModel(o: LoadOptions): Promise<EvalModel>; log?: (m: string) => void }): Promise<{ result: PerplexityResult; files: string[] }> {
  const log = deps.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  if (!fs.existsSync(args.text)) throw new EvalError('BAD_ARGS', `--text ${args.text} does not exist`);
  let chunks = chunkText(fs.readFileSync(args.text, 'utf8'), args.chunkChars);
  if (args.maxChunks) chunks = chunks.slice(0, args.maxChunks);
  if (!chunks.length) throw new EvalError('BAD_ARGS', `--text ${args.text} is empty`);
  const load = (precision: Precision) => deps.loadModel({ model: args.model, precision, dtype: args.dtype, device: args.device, calib: args.calib });
  const result: PerplexityResult = {
    schema: 'quantbench.eval.perplexity',
    version: EVAL_SCHEMA_VERSION,
    file: path.basename(args.text),
    chunkChars: args.chunkChars,
    chunks: chunks.length,
    perPrecision: {},
    vsReference: {},
  };
  const files: string[] = [];
  const precisions = orderPrecisions(args.precisions);
  const ref = precisions.includes('fp16') ? await load('fp16') : null;
  const progress = makeProgress(args.progress);
  try {
    for (const p of precisions) {
      const m = p === 'fp16' && ref ? ref : await load(p);
      const compare = ref !== null && p !== 'fp16';
      const fid = new NextTokenFidelity();
      const lps: number[] = [];
      progress.start(chunks.length, `perplexity ${p}`);
      try {
        for (const c of chunks) {
          const x = await m.tokenLogprobs(c, compare);
          lps.push(...x.logprobs);
          if (compare && ref) {
            const r = await ref.tokenLogprobs(c, true);
            if (r.ids.length !== x.ids.length || r.ids.some((id, i) => id !== x.ids[i])) {
              throw new EvalError('MISMATCH', `fp16 and ${p} tokenized a chunk differently; fidelity needs the same tokenizer`);
            }
            if (!r.full || !x.full) throw new EvalError('MISMATCH', 'engine returned no full log-softmax rows though full=true was asked');
            fid.add(r.full, x.full);
          }
          progress.increment(1);
        }
      } finally {
        progress.stop();
        if (m !== ref) await m.close();
      }
      result.perPrecision[p] = { ppl: perplexity(lps), tokens: lps.length, provenance: m.provenance() };
      log(`  ${p}: perplexity ${result.perPrecision[p].ppl.toFixed(4)} over ${lps.length} tokens`);
      if (compare) {
        result.vsReference[p] = { kl: fid.kl, top1Agreement: fid.top1Agreement, tokens: fid.tokens };
        const ff = fidelityFile(args.out, args.model, p);
        const prev = readFidelity(ff);
        const f: FidelityResult = {
          schema: 'quantbench.eval.fidelity',
          version: EVAL_SCHEMA_VERSION,
          provenance: result.perPrecision[p].provenance,
          precision: p,
          reference: 'fp16',
          perTask: prev?.perTask ?? {},
          text: {
            file: result.file,
            tokens: fid.tokens,
            kl: fid.kl,
            top1Agreement: fid.top1Agreement,
            pplRef: result.perPrecision.fp16.ppl,
            pplQuant: result.perPrecision[p].ppl,
          },
          flipRule: prev?.flipRule ?? FLIP_RULE,
        };
        writeJson(ff, f);
        files.push(ff);
      }
    }
  } finally {
    if (ref) await ref.close();
  }
  const pf = perplexityFile(args.out, args.model);
  writeJson(pf, result);
  files.push(pf);
  return { result, files };
}
