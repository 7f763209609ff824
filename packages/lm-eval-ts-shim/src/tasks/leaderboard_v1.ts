/**
 * Open LLM Leaderboard v1: ARC-Challenge 25-shot (acc_norm), HellaSwag 10-shot (acc_norm), MMLU 5-shot (acc),
 * TruthfulQA MC2 0-shot, WinoGrande 5-shot (acc), GSM8K 5-shot (exact_match); the score is the plain mean.
 */
import type { GroupDef } from '../task.ts';

export const LEADERBOARD_V1: GroupDef = {
  name: 'leaderboard-v1',
  members: ['arc_challenge', 'hellaswag', 'mmlu', 'truthfulqa_mc2', 'winogrande', 'gsm8k'],
  aggregation: 'macro',
  metric: 'primary',
  numFewshot: { arc_challenge: 25, hellaswag: 10, mmlu: 5, truthfulqa_mc2: 0, winogrande: 5, gsm8k: 5 },
};
