/** Files of a run directory (see schema.ts): names and typed read/write. */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { EvalError } from './errors.ts';
import { EVAL_SCHEMA_VERSION, type EvalResult, type EvalSample, type FidelityResult } from './schema.ts';

/** Directory names that say nothing about the model (HF exports, snapshot hashes): the parent's name is prefixed. */
const GENERIC_DIR = /^(hf|hf[-_].*|model|models|checkpoint|checkpoints|weights|snapshot|main|[0-9a-f]{40})$/i;

/**
 * File-name label of a model: its directory name, prefixed with the parent's when the name is generic
 * (../stories260K/hf -> stories260K_hf, not "hf" for every model).
 */
export function modelLabel(model: string): string {
  let base: string;
  if (model.startsWith('synthetic:')) base = model.slice('synthetic:'.length);
  else {
    const abs = path.resolve(model);
    base = path.basename(abs);
    const parent = path.basename(path.dirname(abs));
    if (GENERIC_DIR.test(base) && parent) base = `${parent}_${base}`;
  }
  return base.replace(/[^A-Za-z0-9._-]/g, '_');
}

export const evalFile = (dir: string, model: string, precision: string) => path.join(dir, `eval_${modelLabel(model)}_${precision}.json`);
/** Per-sample lines, gzip-compressed (`zcat` reads them): a full MMLU run is ~4.7 MB of JSONL per precision. */
export const samplesFile = (dir: string, task: string, precision: string) => path.join(dir, `samples_${task}_${precision}.jsonl.gz`);
export const fidelityFile = (dir: string, model: string, precision: string) => path.join(dir, `fidelity_${modelLabel(model)}_${precision}.json`);
/** Fidelity of an FP8 KV cache vs the same precision with a 16-bit KV cache (`pnpm eval perplexity --reference kv-auto`). */
export const kvFidelityFile = (dir: string, model: string, precision: string, kv: string, attention = 'auto') =>
  path.join(dir, `fidelity_${modelLabel(model)}_${precision}_kv-${kv}${attention === 'auto' ? '' : `-attn-${attention}`}-vs-auto.json`);
/**
 * Fidelity of FP8 attention vs the same precision and FP8 KV cache with 'auto' attention
 * (`pnpm eval perplexity --kv-cache-dtype fp8 --attention-dtype fp8 --reference attention-auto`).
 */
export const attentionFidelityFile = (dir: string, model: string, precision: string, kv: string, attention: string) =>
  path.join(dir, `fidelity_${modelLabel(model)}_${precision}_kv-${kv}-attn-${attention}-vs-kv-${kv}.json`);
export const perplexityFile = (dir: string, model: string) => path.join(dir, `perplexity_${modelLabel(model)}.json`);

export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

export function writeSamples(file: string, samples: EvalSample[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const text = samples.map((s) => JSON.stringify(s)).join('\n') + (samples.length ? '\n' : '');
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, file.endsWith('.gz') ? zlib.gzipSync(text, { level: 9 }) : text);
  fs.renameSync(tmp, file);
}

export function readEvalResult(file: string): EvalResult | null {
  if (!fs.existsSync(file)) return null;
  const v = JSON.parse(fs.readFileSync(file, 'utf8')) as EvalResult;
  if (v.schema !== 'quantbench.eval.result' || v.version !== EVAL_SCHEMA_VERSION) {
    throw new EvalError('BAD_RESULT_FILE', `${file} is not a quantbench eval result v${EVAL_SCHEMA_VERSION}; move it away or rerun`);
  }
  return v;
}

/** Reads FILE (`.jsonl.gz`), or the same name without `.gz` as written before samples were compressed. */
export function readSamples(file: string): EvalSample[] | null {
  const plain = file.endsWith('.gz') ? file.slice(0, -3) : file;
  let text: string;
  if (fs.existsSync(file)) text = file.endsWith('.gz') ? zlib.gunzipSync(fs.readFileSync(file)).toString('utf8') : fs.readFileSync(file, 'utf8');
  else if (fs.existsSync(plain)) text = fs.readFileSync(plain, 'utf8');
  else return null;
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EvalSample);
}

export function readFidelity(file: string): FidelityResult | null {
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as FidelityResult;
}
