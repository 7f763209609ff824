/**
 * GSM8K (lm-eval tasks/gsm8k/gsm8k.yaml, version 3.0): "Question: {{question}}\nAnswer:", target = the full answer,
 * 5-shot from train (default random sampler), greedy generation until "Question:", "</s>", "<|im_end|>" (max 256
 * tokens), filters strict-match ("#### (-?[0-9.,]+)", first match) and flexible-extract (last number-like match),
 * exact_match with ignore_case and regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"].
 * The ignore regexes are written in JavaScript syntax with Python's meaning: "(?s).*" is "[\s\S]*" and Python's
 * "$" (end, or before a final newline) is "(?=\n?$)".
 */
import { str, type Row } from '../data/rows.ts';
import type { DataSource, GenerationTaskDef } from '../task.ts';

export interface Gsm8kDoc {
  question: string;
  answer: string;
}

const fromRow = (r: Row): Gsm8kDoc => ({ question: str(r, 'question'), answer: str(r, 'answer') });

const sources = (split: 'train' | 'test'): DataSource<Gsm8kDoc>[] => [
  { path: `datasets/gsm8k/${split}.jsonl`, label: `gsm8k ${split} (official JSONL)`, map: fromRow },
  { path: 'datasets/hf/openai/gsm8k/main', shardsOf: split, label: `gsm8k main ${split} (HF layout)`, map: fromRow },
];

export const GSM8K: GenerationTaskDef<Gsm8kDoc> = {
  name: 'gsm8k',
  version: '3.0',
  outputType: 'generate_until',
  evalSplit: 'test',
  fewshotSplit: 'train',
  data: { eval: sources('test'), fewshot: sources('train') },
  targetDelimiter: ' ',
  fewshotDelimiter: '\n\n',
  numFewshot: 5,
  sampler: 'default',
  docToText: (d) => `Question: ${d.question}\nAnswer:`,
  docToTarget: (d) => d.answer,
  generation: { until: ['Question:', '</s>', '<|im_end|>'], maxGenToks: 256 },
  filters: [
    {
      name: 'strict-match',
      steps: [{ kind: 'regex', pattern: '#### (\\-?[0-9\\.\\,]+)', groupSelect: 0, fallback: '[invalid]' }, { kind: 'take_first' }],
    },
    {
      name: 'flexible-extract',
      steps: [{ kind: 'regex', pattern: '(-?[$0-9.,]{2,})|(-?[0-9]+)', groupSelect: -1, fallback: '[invalid]' }, { kind: 'take_first' }],
    },
  ],
  exactMatch: { regexesToIgnore: [',', '\\$', '[\\s\\S]*#### ', '\\.(?=\\n?$)'], ignoreCase: true, ignorePunctuation: false },
  metrics: ['exact_match,strict-match', 'exact_match,flexible-extract'],
  primaryMetric: 'exact_match,strict-match',
};
