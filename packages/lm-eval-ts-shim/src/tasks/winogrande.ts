/**
 * WinoGrande (lm-eval tasks/winogrande, winogrande_xl), "partial" scoring: for each option the context is the
 * sentence up to the blank with the option filled in, and the scored continuation is " " + the rest of the sentence
 * (stripped). Metric acc; eval split validation; few-shot split train (default random sampler), where a few-shot
 * example is the gold-filled context followed by " " + continuation.
 */
import { ShimError } from '../errors.ts';
import { int, str, strList, type Row } from '../data/rows.ts';
import type { DataSource, MultipleInputTaskDef } from '../task.ts';
import { pyStrip } from '../pystr.ts';

export interface WinograndeDoc {
  contexts: [string, string];
  continuation: string;
  gold: number;
}

/** HF allenai/winogrande: {sentence, option1, option2, answer: "1"|"2"}. */
export function winograndeFromSentence(r: Row): WinograndeDoc {
  const s = str(r, 'sentence');
  const idx = s.indexOf('_');
  if (idx < 0) throw new ShimError('DATA_FORMAT', `WinoGrande sentence has no blank "_": ${s.slice(0, 60)}`);
  const answer = str(r, 'answer');
  if (answer !== '1' && answer !== '2') throw new ShimError('DATA_FORMAT', `WinoGrande answer should be "1" or "2", got ${answer}`);
  return {
    contexts: [s.slice(0, idx) + str(r, 'option1'), s.slice(0, idx) + str(r, 'option2')],
    continuation: pyStrip(s.slice(idx + 1)),
    gold: answer === '1' ? 0 : 1,
  };
}

/** llm-foundry copy: {"context_options": [a, b], "continuation": "...", "gold": i}. */
function fromFoundry(r: Row): WinograndeDoc {
  const opts = strList(r, 'context_options');
  if (opts.length !== 2) throw new ShimError('DATA_FORMAT', 'WinoGrande row should have 2 context_options');
  return { contexts: [opts[0], opts[1]], continuation: pyStrip(str(r, 'continuation')), gold: int(r, 'gold') };
}

const hf = (split: string): DataSource<WinograndeDoc> => ({
  path: 'datasets/hf/allenai/winogrande/winogrande_xl',
  shardsOf: split,
  label: `winogrande_xl ${split} (HF layout)`,
  map: winograndeFromSentence,
});

export const WINOGRANDE: MultipleInputTaskDef<WinograndeDoc> = {
  name: 'winogrande',
  version: '1.0',
  outputType: 'multiple_choice',
  multipleInput: true,
  evalSplit: 'validation',
  fewshotSplit: 'train',
  data: {
    eval: [{ path: 'datasets/winogrande/winogrande_dev.jsonl', label: 'winogrande_xl validation (llm-foundry JSONL)', map: fromFoundry }, hf('validation')],
    fewshot: [{ path: 'datasets/winogrande/winogrande_xl_train.jsonl.gz', label: 'winogrande_xl train (HF rows, JSONL.gz)', map: winograndeFromSentence }, hf('train')],
  },
  targetDelimiter: ' ',
  fewshotDelimiter: '\n\n',
  numFewshot: 0,
  sampler: 'default',
  docToContexts: (d) => d.contexts,
  docToContinuation: (d) => d.continuation,
  gold: (d) => d.gold,
  metrics: ['acc'],
  primaryMetric: 'acc',
};
