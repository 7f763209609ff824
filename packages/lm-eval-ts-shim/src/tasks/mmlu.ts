/**
 * MMLU (lm-eval tasks/mmlu/default): 57 subject tasks "mmlu_<subject>", 5-shot from dev with the first_n sampler,
 * prompt "<question.strip()>\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer:", choices " A".." D", metric acc.
 * Groups mmlu_stem / mmlu_humanities / mmlu_social_sciences / mmlu_other and mmlu, all weighted by size (micro).
 */
import { int, str, strList } from '../data/rows.ts';
import type { DataSource, GroupDef, MultipleChoiceTaskDef } from '../task.ts';
import { pyStrip } from '../pystr.ts';

export type MmluCategory = 'stem' | 'humanities' | 'social_sciences' | 'other';

/** Subject -> category, as lm-eval's MMLU config generator assigns them. */
export const MMLU_SUBJECTS: Record<string, MmluCategory> = {
  abstract_algebra: 'stem',
  anatomy: 'stem',
  astronomy: 'stem',
  business_ethics: 'other',
  clinical_knowledge: 'other',
  college_biology: 'stem',
  college_chemistry: 'stem',
  college_computer_science: 'stem',
  college_mathematics: 'stem',
  college_medicine: 'other',
  college_physics: 'stem',
  computer_security: 'stem',
  conceptual_physics: 'stem',
  econometrics: 'social_sciences',
  electrical_engineering: 'stem',
  elementary_mathematics: 'stem',
  formal_logic: 'humanities',
  global_facts: 'other',
  high_school_biology: 'stem',
  high_school_chemistry: 'stem',
  high_school_computer_science: 'stem',
  high_school_european_history: 'humanities',
  high_school_geography: 'social_sciences',
  high_school_government_and_politics: 'social_sciences',
  high_school_macroeconomics: 'social_sciences',
  high_school_mathematics: 'stem',
  high_school_microeconomics: 'social_sciences',
  high_school_physics: 'stem',
  high_school_psychology: 'social_sciences',
  high_school_statistics: 'stem',
  high_school_us_history: 'humanities',
  high_school_world_history: 'humanities',
  human_aging: 'other',
  human_sexuality: 'social_sciences',
  international_law: 'humanities',
  jurisprudence: 'humanities',
  logical_fallacies: 'humanities',
  machine_learning: 'stem',
  management: 'other',
  marketing: 'other',
  medical_genetics: 'other',
  miscellaneous: 'other',
  moral_disputes: 'humanities',
  moral_scenarios: 'humanities',
  nutrition: 'other',
  philosophy: 'humanities',
  prehistory: 'humanities',
  professional_accounting: 'other',
  professional_law: 'humanities',
  professional_medicine: 'other',
  professional_psychology: 'social_sciences',
  public_relations: 'social_sciences',
  security_studies: 'social_sciences',
  sociology: 'social_sciences',
  us_foreign_policy: 'social_sciences',
  virology: 'other',
  world_religions: 'humanities',
};

export interface MmluDoc {
  question: string;
  choices: string[];
  answer: number;
}

const LETTERS = ['A', 'B', 'C', 'D'];

function sources(subject: string, split: 'test' | 'dev'): DataSource<MmluDoc>[] {
  return [
    {
      path: `datasets/mmlu/${split}/${subject}_${split}.csv`,
      format: 'csv',
      label: `mmlu ${split} (hendrycks CSV)`,
      map: (r) => ({
        question: str(r, 'question'),
        choices: [str(r, 'choice0'), str(r, 'choice1'), str(r, 'choice2'), str(r, 'choice3')],
        answer: int(r, 'answer'),
      }),
    },
    {
      path: `datasets/hf/cais/mmlu/${subject}`,
      shardsOf: split,
      label: `mmlu ${split} (HF cais/mmlu layout)`,
      map: (r) => ({ question: str(r, 'question'), choices: strList(r, 'choices'), answer: int(r, 'answer') }),
    },
  ];
}

export function mmluSubjectTask(subject: string): MultipleChoiceTaskDef<MmluDoc> {
  return {
    name: `mmlu_${subject}`,
    version: '1.0',
    outputType: 'multiple_choice',
    evalSplit: 'test',
    fewshotSplit: 'dev',
    data: { eval: sources(subject, 'test'), fewshot: sources(subject, 'dev') },
    description: `The following are multiple choice questions (with answers) about ${subject.split('_').join(' ')}.\n\n`,
    targetDelimiter: ' ',
    fewshotDelimiter: '\n\n',
    numFewshot: 0,
    sampler: 'first_n',
    docToText: (d) =>
      `${pyStrip(d.question)}\nA. ${d.choices[0]}\nB. ${d.choices[1]}\nC. ${d.choices[2]}\nD. ${d.choices[3]}\nAnswer:`,
    docToChoice: () => LETTERS.slice(),
    gold: (d) => d.answer,
    metrics: ['acc'],
    primaryMetric: 'acc',
  };
}

export const MMLU_TASKS = Object.keys(MMLU_SUBJECTS).map(mmluSubjectTask);

/** `pnpm eval mmlu` (and the category groups) run the standard 5-shot protocol; a bare subject task is 0-shot as in lm-eval. */
const MMLU_SHOTS: Record<string, number> = Object.fromEntries([
  ...Object.keys(MMLU_SUBJECTS).map((s) => [`mmlu_${s}`, 5]),
  ...['stem', 'other', 'social_sciences', 'humanities'].map((c) => [`mmlu_${c}`, 5]),
]);

const CATEGORIES: MmluCategory[] = ['stem', 'other', 'social_sciences', 'humanities'];

export const MMLU_GROUPS: GroupDef[] = [
  ...CATEGORIES.map(
    (c): GroupDef => ({
      name: `mmlu_${c}`,
      members: Object.entries(MMLU_SUBJECTS)
        .filter(([, cat]) => cat === c)
        .map(([s]) => `mmlu_${s}`),
      aggregation: 'micro',
      metric: 'acc',
      numFewshot: MMLU_SHOTS,
    }),
  ),
  { name: 'mmlu', members: CATEGORIES.map((c) => `mmlu_${c}`), aggregation: 'micro', metric: 'acc', numFewshot: MMLU_SHOTS },
];
