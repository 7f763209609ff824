/**
 * ARC (lm-eval tasks/arc): "Question: {{question}}\nAnswer:", choices = choices.text, target = index of answerKey,
 * metrics acc + acc_norm, few-shot split train (default random sampler: random.Random(1234).sample(train, k) per
 * evaluated doc, in doc order). The shared data has the test split (llm-foundry JSONL) and the train split (HF rows).
 */
import { ShimError } from '../errors.ts';
import { int, obj, str, strList } from '../data/rows.ts';
import type { DataSource, MultipleChoiceTaskDef } from '../task.ts';

export interface ArcDoc {
  question: string;
  choices: string[];
  gold: number;
}

/** llm-foundry copy: {"query": "Question: ...", "choices": [...], "gold": i}. */
function fromFoundry(r: Record<string, unknown>): ArcDoc {
  const q = str(r, 'query');
  if (!q.startsWith('Question: ')) throw new ShimError('DATA_FORMAT', `ARC row query should start with "Question: ": ${q.slice(0, 60)}`);
  return { question: q.slice('Question: '.length), choices: strList(r, 'choices'), gold: int(r, 'gold') };
}

/** HF allenai/ai2_arc: {question, choices: {text, label}, answerKey}. */
function fromHf(r: Record<string, unknown>): ArcDoc {
  const c = obj(r, 'choices');
  const labels = strList(c, 'label');
  const key = str(r, 'answerKey');
  const gold = labels.indexOf(key);
  if (gold < 0) throw new ShimError('DATA_FORMAT', `ARC answerKey ${key} not among labels ${labels.join(',')}`);
  return { question: str(r, 'question'), choices: strList(c, 'text'), gold };
}

function arcTask(name: 'arc_easy' | 'arc_challenge'): MultipleChoiceTaskDef<ArcDoc> {
  const hfName = name === 'arc_easy' ? 'ARC-Easy' : 'ARC-Challenge';
  const hf = (split: string): DataSource<ArcDoc> => ({
    path: `datasets/hf/allenai/ai2_arc/${hfName}`,
    shardsOf: split,
    label: `${hfName} ${split} (HF ai2_arc layout)`,
    map: fromHf,
  });
  return {
    name,
    version: '1.0',
    outputType: 'multiple_choice',
    evalSplit: 'test',
    fewshotSplit: 'train',
    data: {
      eval: [{ path: `datasets/arc/${name}.jsonl`, label: `${hfName} test (llm-foundry JSONL)`, map: fromFoundry }, hf('test')],
      fewshot: [{ path: `datasets/arc/${name}_train.jsonl`, label: `${hfName} train (HF ai2_arc rows, JSONL)`, map: fromHf }, hf('train')],
    },
    targetDelimiter: ' ',
    fewshotDelimiter: '\n\n',
    numFewshot: 0,
    sampler: 'default',
    docToText: (d) => `Question: ${d.question}\nAnswer:`,
    docToChoice: (d) => d.choices,
    gold: (d) => d.gold,
    metrics: ['acc', 'acc_norm'],
    primaryMetric: 'acc_norm',
  };
}

export const ARC_EASY = arcTask('arc_easy');
export const ARC_CHALLENGE = arcTask('arc_challenge');
