/**
 * lm-eval's generation filters (regex extraction + take_first) and the exact_match comparison it runs after them
 * (HF evaluate's exact_match with regexes_to_ignore / ignore_case / ignore_punctuation).
 * Patterns are JavaScript regex sources; where Python semantics differ the task file writes the JS equivalent.
 */
import { pyStrip } from './pystr.ts';

export interface RegexFilterStep {
  kind: 'regex';
  pattern: string;
  /** Index into the findall list; negative counts from the end (Python). */
  groupSelect: number;
  fallback: string;
}

export interface TakeFirstStep {
  kind: 'take_first';
}

export type FilterStep = RegexFilterStep | TakeFirstStep;

export interface FilterPipeline {
  name: string;
  steps: FilterStep[];
}

export interface ExactMatchOptions {
  regexesToIgnore: string[];
  ignoreCase: boolean;
  ignorePunctuation: boolean;
}

/** Python re.findall: whole matches (no groups), the group (one group), or tuples (several groups). */
function findall(re: RegExp, text: string): (string | string[])[] {
  const out: (string | string[])[] = [];
  for (const m of text.matchAll(re)) {
    const groups = m.length - 1;
    if (groups === 0) out.push(m[0]);
    else if (groups === 1) out.push(m[1] ?? '');
    else out.push(m.slice(1).map((g) => g ?? ''));
  }
  return out;
}

export function applyRegexFilter(step: RegexFilterStep, text: string): string {
  const matches = findall(new RegExp(step.pattern, 'g'), text);
  if (!matches.length) return step.fallback;
  const idx = step.groupSelect < 0 ? matches.length + step.groupSelect : step.groupSelect;
  let m = matches[idx];
  if (m === undefined) return step.fallback;
  if (Array.isArray(m)) {
    const nonEmpty = m.filter((g) => g !== '');
    if (!nonEmpty.length) return step.fallback;
    m = nonEmpty[0];
  }
  return pyStrip(m); // lm-eval: match.strip()
}

/** Run a pipeline over one document's responses (repeats); returns the filtered response (take_first). */
export function applyPipeline(p: FilterPipeline, responses: string[]): string {
  let rs = responses.slice();
  for (const s of p.steps) {
    if (s.kind === 'regex') rs = rs.map((r) => applyRegexFilter(s, r));
    else rs = rs.slice(0, 1);
  }
  return rs[0] ?? '';
}

const PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

function normalize(s: string, o: ExactMatchOptions): string {
  let x = s;
  for (const r of o.regexesToIgnore) x = x.replace(new RegExp(r, 'g'), '');
  if (o.ignoreCase) x = x.toLowerCase();
  if (o.ignorePunctuation) x = [...x].filter((c) => !PUNCTUATION.has(c)).join('');
  return x;
}

export function exactMatch(prediction: string, reference: string, o: ExactMatchOptions): number {
  return normalize(prediction, o) === normalize(reference, o) ? 1 : 0;
}
