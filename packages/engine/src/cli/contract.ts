/**
 * The CLI contract shared by every quantbench command (issue 20): everything is validated before any work starts.
 * Unknown flags, bad choices, repeated scalar options, empty values, and negative or zero counts stop with exit 2 and
 * one line naming the flag (and the nearest valid flag or choice); user errors never print a stack trace (`--debug`
 * shows it).
 *
 *   applyContract(yargs(argv).scriptName('pnpm bench'), argv, { positiveInts: ['num-prompts'] })
 *
 * installs `.strict()`, a `.fail()` that throws a UsageError (yargs' default handler would go on and run the command),
 * and a global `.check()` for the rules yargs has no switch for.
 */
import { closest, distance } from 'fastest-levenshtein';
import type { Argv } from 'yargs';
import { KV_CACHE_DTYPES } from '../types.ts';

export const EXIT_USAGE = 2;

export class UsageError extends Error {
  readonly code = 'USAGE';
  readonly exitCode = EXIT_USAGE;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Error codes other packages use for bad command-line input; runCliMain exits 2 on them, without a stack. */
export const USAGE_CODES: ReadonlySet<string> = new Set(['USAGE', 'BAD_OPTION', 'BAD_ARGS']);

export function isUsageError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof UsageError || (typeof code === 'string' && USAGE_CODES.has(code));
}

/** The nearest candidate by edit distance, when it is close enough to be a plausible typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const pool = candidates.filter((c) => c.length > 0);
  if (!pool.length || !word) return undefined;
  const best = closest(word, pool as string[]);
  const d = distance(word.toLowerCase(), best.toLowerCase());
  return d <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

export const didYouMean = (word: string, candidates: readonly string[], prefix = ''): string => {
  const n = nearest(word, candidates);
  return n === undefined ? '' : `; did you mean ${prefix}${n}?`;
};

/** Rules for values that yargs' types do not express. Names are the flags as declared (kebab-case). */
export interface Contract {
  /** Integers >= 1 (counts, sizes). */
  positiveInts?: readonly string[];
  /** Integers >= 0 (e.g. --num-fewshot). */
  nonNegativeInts?: readonly string[];
  /** Numbers > 0. */
  positiveNumbers?: readonly string[];
  /** Numbers >= 0. */
  nonNegativeNumbers?: readonly string[];
  /** Options that may be given more than once even though they are not declared as arrays. */
  repeatable?: readonly string[];
  /** Free positional arguments (prompts): only options are checked strictly. */
  freePositionals?: boolean;
}

interface YargsOptions {
  key: Record<string, unknown>;
  array: string[];
  boolean: string[];
  string: string[];
  number: string[];
  count: string[];
  alias: Record<string, string[]>;
  choices: Record<string, readonly unknown[]>;
  hiddenOptions?: string[];
}

const flag = (k: string) => (k.length === 1 ? `-${k}` : `--${k}`);

function declaredFlags(o: YargsOptions): string[] {
  const out = new Set<string>();
  for (const k of Object.keys(o.key)) {
    if (k === '$0' || k === '_') continue;
    out.add(k);
    for (const a of o.alias[k] ?? []) out.add(a);
  }
  return [...out];
}

/** Turns yargs' validation messages into one line naming the flag and the nearest valid flag or choice. */
export function usageMessage(msg: string, o: YargsOptions | undefined, rawArgs: readonly string[] = []): string {
  const unknown = /^Unknown arguments?: (.+)$/s.exec(msg);
  if (unknown) {
    const names = unknown[1].split(/,\s*/);
    const isFlag = (n: string) => rawArgs.some((a) => a === flag(n) || a.startsWith(`${flag(n)}=`) || a === `--no-${n}`);
    const shown = names.map((n) => (isFlag(n) ? flag(n) : `argument "${n}"`));
    const first = names[0];
    const hint = o && isFlag(first) ? didYouMean(first, declaredFlags(o).filter((k) => !/[A-Z]/.test(k)), '--') : '';
    return `unknown ${isFlag(first) ? 'option ' : 'extra '}${shown[0]}${hint}${names.length > 1 ? ` (also unknown: ${shown.slice(1).join(', ')})` : ''}`;
  }
  const invalid = /^Invalid values?:\s*Argument: (\S+), Given: (.+?), Choices: (.+)$/s.exec(msg.replace(/\n\s*/g, ' '));
  if (invalid) {
    const [, name, given, choices] = invalid;
    const list = choices.split(/,\s*/).map((c) => c.replace(/^"|"$/g, ''));
    return `${flag(name)}: ${given} is not one of ${list.join(', ')}${didYouMean(given.replace(/^"|"$/g, ''), list)}`;
  }
  const missing = /^Missing required arguments?: (.+)$/s.exec(msg);
  if (missing) return `missing ${missing[1].split(/,\s*/).map(flag).join(', ')}`;
  const notEnough = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(msg);
  if (notEnough) return msg.toLowerCase();
  return msg.replace(/\n+/g, '; ');
}

function valuesOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

/** Checks the parsed arguments against the declared options and the contract; throws a UsageError on the first problem. */
export function checkParsed(argv: Record<string, unknown>, o: YargsOptions, c: Contract = {}): void {
  const arrays = new Set(o.array);
  const repeatable = new Set(c.repeatable ?? []);
  for (const k of Object.keys(o.key)) {
    if (k === '$0' || k === '_' || /[A-Z]/.test(k)) continue;
    if (!(k in argv)) continue;
    const v = argv[k];
    if (v === undefined) continue;
    if (!arrays.has(k) && !repeatable.has(k) && Array.isArray(v)) {
      throw new UsageError(`${flag(k)} was given ${v.length} times (${v.map((x) => JSON.stringify(x)).join(', ')}); give it once`);
    }
    for (const x of valuesOf(v)) {
      if (o.string.includes(k) && (x === '' || (typeof x === 'string' && x.trim() === ''))) {
        throw new UsageError(`${flag(k)} needs a value`);
      }
      if (o.number.includes(k) && (typeof x !== 'number' || Number.isNaN(x))) {
        throw new UsageError(`${flag(k)} needs a number`);
      }
    }
  }
  const num = (k: string): number[] => (k in argv && argv[k] !== undefined ? valuesOf(argv[k]).map((x) => Number(x)) : []);
  for (const k of c.positiveInts ?? []) {
    for (const x of num(k)) if (!Number.isInteger(x) || x < 1) throw new UsageError(`${flag(k)} must be a positive integer, got ${x}`);
  }
  for (const k of c.nonNegativeInts ?? []) {
    for (const x of num(k)) if (!Number.isInteger(x) || x < 0) throw new UsageError(`${flag(k)} must be an integer >= 0, got ${x}`);
  }
  for (const k of c.positiveNumbers ?? []) {
    for (const x of num(k)) if (!(x > 0) || !Number.isFinite(x)) throw new UsageError(`${flag(k)} must be > 0, got ${x}`);
  }
  for (const k of c.nonNegativeNumbers ?? []) {
    for (const x of num(k)) if (!(x >= 0) || !Number.isFinite(x)) throw new UsageError(`${flag(k)} must be >= 0, got ${x}`);
  }
}

/**
 * Strict parsing, usage errors thrown as UsageError (never "print and run anyway"), `--debug` accepted, and the
 * contract checked on every command. Call on the top-level yargs instance; a command adds its own rules with
 * `.check(contractCheck({...}))` inside its builder.
 */
export function applyContract<T>(y: Argv<T>, rawArgs: readonly string[], c: Contract = {}): Argv<T> {
  return (c.freePositionals ? y.strictOptions() : y.strict())
    .parserConfiguration({ 'strip-aliased': false })
    .option('debug', { type: 'boolean', hidden: true, describe: 'show stack traces of errors' })
    .check(contractCheck(c), true)
    .fail((msg, err) => {
      if (err && !isUsageError(err) && err.name !== 'YError') throw err;
      if (err && isUsageError(err)) throw err;
      const o = (y as unknown as { getOptions(): YargsOptions }).getOptions();
      throw new UsageError(usageMessage(msg ?? err?.message ?? 'bad arguments', o, rawArgs));
    }) as Argv<T>;
}

/** A `.check()` callback for one command's rules. */
export function contractCheck(c: Contract): (argv: Record<string, unknown>, options: unknown) => true {
  return (argv, options) => {
    checkParsed(argv, options as YargsOptions, c);
    return true;
  };
}

/** vLLM's --kv-cache-dtype, shared by the CLIs that load a model. */
export const KV_CACHE_DTYPE_OPTION = {
  choices: KV_CACHE_DTYPES,
  default: 'auto' as const,
  describe:
    "KV-cache dtype, as vLLM's flag: auto = the activation dtype; fp8 = FP8 E4M3 with the checkpoint's per-layer k_scale/v_scale " +
    '(pnpm quantize --kv-cache-dtype fp8 writes them), else scale 1.0',
};
