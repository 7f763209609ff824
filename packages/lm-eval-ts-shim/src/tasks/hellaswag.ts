/**
 * HellaSwag (lm-eval tasks/hellaswag): query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()),
 * choices = preprocess(ending) each, doc_to_text "{{query}}", metrics acc + acc_norm, eval split validation,
 * few-shot split train (default random sampler).
 */
import { int, str, strList, type Row } from '../data/rows.ts';
import type { DataSource, MultipleChoiceTaskDef } from '../task.ts';
import { pyStrip } from '../pystr.ts';

export interface HellaswagDoc {
  query: string;
  choices: string[];
  gold: number;
}

/** lm-eval's HellaSwag text clean-up (WikiHow bracket artifacts). */
export function hellaswagPreprocess(text: string): string {
  let t = pyStrip(text);
  t = t.split(' [title]').join('. ');
  t = t.replace(/\[.*?\]/g, '');
  t = t.split('  ').join(' ');
  return t;
}

/** Python str.capitalize(): first character upper-case, the rest lower-case. */
export function pyCapitalize(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1).toLowerCase() : s;
}

/** HF layout (Rowan/hellaswag or the original jsonl): the exact lm-eval processing. */
function fromHf(r: Row): HellaswagDoc {
  const ctx = `${str(r, 'ctx_a')} ${pyCapitalize(str(r, 'ctx_b'))}`;
  return {
    query: hellaswagPreprocess(`${str(r, 'activity_label')}: ${ctx}`),
    choices: strList(r, 'endings').map(hellaswagPreprocess),
    gold: int(r, 'label'),
  };
}

/**
 * The text export joins ctx_a and ctx_b without re-capitalizing ctx_b. We upper-case the first letter of the
 * text after the last sentence end when it is lower-case (what ctx_b.capitalize() changes in the usual case).
 */
export function recapitalizeTail(query: string): string {
  const m = /^(.*[.!?] )([a-z])([^]*)$/s.exec(query);
  if (!m) return query;
  return m[1] + m[2].toUpperCase() + m[3];
}

function fromText(r: Row): HellaswagDoc {
  return {
    query: hellaswagPreprocess(recapitalizeTail(str(r, 'query_raw'))),
    choices: strList(r, 'endings').map(hellaswagPreprocess),
    gold: int(r, 'label'),
  };
}

const hf = (split: string): DataSource<HellaswagDoc> => ({
  path: 'datasets/hf/Rowan/hellaswag',
  shardsOf: split,
  label: `hellaswag ${split} (HF layout)`,
  map: fromHf,
});

export const HELLASWAG: MultipleChoiceTaskDef<HellaswagDoc> = {
  name: 'hellaswag',
  version: '1.0',
  outputType: 'multiple_choice',
  evalSplit: 'validation',
  fewshotSplit: 'train',
  data: {
    eval: [
      {
        path: 'datasets/hellaswag/hellaswag_val_full.txt',
        format: 'hellaswag-txt',
        label: 'hellaswag validation (text export)',
        map: fromText,
        deviations: [
          'hellaswag: the text export merges ctx_a and ctx_b, so ctx_b.capitalize() is approximated by upper-casing the first letter after the last sentence end (the rest of ctx_b is not lower-cased)',
        ],
      },
      hf('validation'),
    ],
    fewshot: [hf('train')],
  },
  targetDelimiter: ' ',
  fewshotDelimiter: '\n\n',
  numFewshot: 0,
  sampler: 'default',
  docToText: (d) => d.query,
  docToChoice: (d) => d.choices,
  gold: (d) => d.gold,
  metrics: ['acc', 'acc_norm'],
  primaryMetric: 'acc_norm',
};
