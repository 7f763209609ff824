/**
 * `pnpm eval perplexity --text FILE`: perplexity of each precision on a text, and next-token fidelity of each
 * quantized precision vs fp16 (KL of the full next-token distributions, top-1 agreement). The text is split into
 * chunks of at most --chunk-chars characters at paragraph/whitespace boundaries; each chunk is one context.
 */
import type { ActDtype, DeviceKind, KvCacheDtype, Precision, AttentionDtype } from '@quantbench/engine';
import fs from 'node:fs';
import path from 'node:path';
import type { EvalModel, LoadOptions } from './engine_lm.ts';
import { EvalError } from './errors.ts';
import { FLIP_RULE, NextTokenFidelity, perplexity } from './fidelity.ts';
import { orderPrecisions } from './evaluate.ts';
import { makeProgress } from './progress.ts';
import { attentionFidelityFile, fidelityFile, kvFidelityFile, perplexityFile, readFidelity, writeJson } from './run_files.ts';
import { EVAL_SCHEMA_VERSION, type FidelityResult, type PerplexityReference, type PerplexityResult } from './schema.ts';

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
  /** vLLM's --kv-cache-dtype of the scored runs (default auto). */
  kvCacheDtype?: KvCacheDtype;
  /** The engine's attention dtype of the scored runs (default auto; fp8 needs kvCacheDtype fp8). */
  attentionDtype?: AttentionDtype;
  /**
   * fp16 (default): compare each precision with fp16; kv-auto: with itself at kv-cache-dtype auto (and
   * attention auto); attention-auto: with itself at the same KV-cache dtype and attention auto.
   */
  reference?: PerplexityReference;
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

/**
 * Scores the text per precision. Reference "fp16" (default): every other precision is compared with fp16, all at
 * --kv-cache-dtype. Reference "kv-auto": every precision (fp16 included) at --kv-cache-dtype fp8 is compared with
 * the same precision at auto (a 16-bit KV cache): the fidelity cost of the FP8 KV cache alone (with
 * --attention-dtype fp8: of the FP8 cache and FP8 attention together). Reference "attention-auto":
 * every precision at --attention-dtype fp8 is compared with itself at auto, same KV cache: the cost of the
 * FP8 attention math alone.
 */
export async function runPerplexity(args: PerplexityArgs, deps: { loadModel(o: LoadOptions): Promise<EvalModel>; log?: (m: string) => void }): Promise<{ result: PerplexityResult; files: string[] }> {
  const log = deps.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const kv: KvCacheDtype = args.kvCacheDtype ?? 'auto';
  const attn: AttentionDtype = args.attentionDtype ?? 'auto';
  const kvRef = args.reference === 'kv-auto';
  const attnRef = args.reference === 'attention-auto';
  const selfRef = kvRef || attnRef; // each precision against itself in another configuration
  if (kvRef && kv === 'auto') throw new EvalError('BAD_ARGS', '--reference kv-auto compares an FP8 KV cache with a 16-bit one: add --kv-cache-dtype fp8');
  if (attn === 'fp8' && kv !== 'fp8') throw new EvalError('BAD_ARGS', '--attention-dtype fp8 computes on the FP8 cache: add --kv-cache-dtype fp8');
  if (attnRef && attn === 'auto') throw new EvalError('BAD_ARGS', '--reference attention-auto compares FP8 attention with the default: add --kv-cache-dtype fp8 --attention-dtype fp8');
  if (!fs.existsSync(args.text)) throw new EvalError('BAD_ARGS', `--text ${args.text} does not exist`);
  let chunks = chunkText(fs.readFileSync(args.text, 'utf8'), args.chunkChars);
  if (args.maxChunks) chunks = chunks.slice(0, args.maxChunks);
  if (!chunks.length) throw new EvalError('BAD_ARGS', `--text ${args.text} is empty`);
  const load = (precision: Precision, kvCacheDtype: KvCacheDtype, attentionDtype: AttentionDtype) =>
    deps.loadModel({
      model: args.model,
      precision,
      dtype: args.dtype,
      device: args.device,
      calib: args.calib,
      ...(kvCacheDtype !== 'auto' ? { kvCacheDtype } : {}),
      ...(attentionDtype !== 'auto' ? { attentionDtype } : {}),
    });
  const result: PerplexityResult = {
    schema: 'quantbench.eval.perplexity',
    version: EVAL_SCHEMA_VERSION,
    file: path.basename(args.text),
    chunkChars: args.chunkChars,
    chunks: chunks.length,
    perPrecision: {},
    vsReference: {},
    ...(kv !== 'auto' ? { kvCacheDtype: kv } : {}),
    ...(attn !== 'auto' ? { attentionDtype: attn } : {}),
    ...(selfRef ? { reference: args.reference } : {}),
  };
  const files: string[] = [];
  const precisions = orderPrecisions(args.precisions);
  const shared = !selfRef && precisions.includes('fp16') ? await load('fp16', kv, attn) : null;
  const progress = makeProgress(args.progress);
  try {
    for (const p of precisions) {
      const ref = kvRef ? await load(p, 'auto', 'auto') : attnRef ? await load(p, kv, 'auto') : shared;
      const refLabel = kvRef ? `${p} (kv-cache-dtype auto)` : attnRef ? `${p} (kv-cache-dtype ${kv}, attention auto)` : 'fp16';
      const runLabel = `${kv !== 'auto' ? ` (kv ${kv}` : ''}${attn !== 'auto' ? `, attention ${attn}` : ''}${kv !== 'auto' ? ')' : ''}`;
      let m: EvalModel | null = null;
      const fid = new NextTokenFidelity();
      const lps: number[] = [];
      const refLps: number[] = [];
      let compare = false;
      try {
        m = p === 'fp16' && shared ? shared : await load(p, kv, attn);
        compare = ref !== null && ref !== m;
        progress.start(chunks.length, `perplexity ${p}${runLabel}`);
        try {
          for (const c of chunks) {
            const x = await m.tokenLogprobs(c, compare);
            lps.push(...x.logprobs);
            if (compare && ref) {
              const r = await ref.tokenLogprobs(c, true);
              if (r.ids.length !== x.ids.length || r.ids.some((id, i) => id !== x.ids[i])) {
                throw new EvalError('MISMATCH', `${refLabel} and ${p} tokenized a chunk differently; fidelity needs the same tokenizer`);
              }
              if (!r.full || !x.full) throw new EvalError('MISMATCH', 'engine returned no full log-softmax rows though full=true was asked');
              fid.add(r.full, x.full);
              refLps.push(...r.logprobs);
            }
            progress.increment(1);
          }
        } finally {
          progress.stop();
        }
        result.perPrecision[p] = { ppl: perplexity(lps), tokens: lps.length, provenance: m.provenance() };
      } finally {
        if (m && m !== shared) await m.close();
        if (selfRef && ref) await ref.close();
      }
      log(`  ${p}: perplexity ${result.perPrecision[p].ppl.toFixed(4)} over ${lps.length} tokens`);
      if (compare) {
        const pplRef = selfRef ? perplexity(refLps) : result.perPrecision.fp16.ppl;
        result.vsReference[p] = { kl: fid.kl, top1Agreement: fid.top1Agreement, tokens: fid.tokens, ...(selfRef ? { reference: refLabel, pplRef } : {}) };
        if (selfRef) log(`  ${p}${runLabel} vs ${refLabel}: mean KL ${fid.kl.toExponential(3)}, top-1 agreement ${(fid.top1Agreement * 100).toFixed(2)}% over ${fid.tokens} tokens`);
        const ff = kvRef
          ? kvFidelityFile(args.out, args.model, p, kv, attn)
          : attnRef
            ? attentionFidelityFile(args.out, args.model, p, kv, attn)
            : fidelityFile(args.out, args.model, p);
        const prev = readFidelity(ff);
        const f: FidelityResult = {
          schema: 'quantbench.eval.fidelity',
          version: EVAL_SCHEMA_VERSION,
          provenance: result.perPrecision[p].provenance,
          precision: p,
          reference: refLabel,
          perTask: prev?.perTask ?? {},
          text: {
            file: result.file,
            tokens: fid.tokens,
            kl: fid.kl,
            top1Agreement: fid.top1Agreement,
            pplRef,
            pplQuant: result.perPrecision[p].ppl,
          },
          flipRule: prev?.flipRule ?? FLIP_RULE,
        };
        writeJson(ff, f);
        files.push(ff);
      }
    }
  } finally {
    if (shared) await shared.close();
  }
  const pf = perplexityFile(args.out, args.model);
  writeJson(pf, result);
  files.push(pf);
  return { result, files };
}
