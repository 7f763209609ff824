/** Task and group registry: names as lm-eval spells them, plus our group leaderboard-v1. */
import { ShimError } from './errors.ts';
import { prepareTask, type PlanOptions, type TaskPlan } from './plan.ts';
import type { GroupDef, OutputType, TaskDef } from './task.ts';
import { ARC_CHALLENGE, ARC_EASY } from './tasks/arc.ts';
import { GSM8K } from './tasks/gsm8k.ts';
import { HELLASWAG } from './tasks/hellaswag.ts';
import { LEADERBOARD_V1 } from './tasks/leaderboard_v1.ts';
import { MMLU_GROUPS, MMLU_TASKS } from './tasks/mmlu.ts';
import { TRUTHFULQA_MC1, TRUTHFULQA_MC2 } from './tasks/truthfulqa.ts';
import { WINOGRANDE } from './tasks/winogrande.ts';

/** A task with its document type hidden behind closures. */
export interface RegisteredTask {
  name: string;
  version: string;
  outputType: OutputType;
  numFewshot: number;
  primaryMetric: string;
  prepare(dataDir: string, opts?: PlanOptions): Promise<TaskPlan>;
}

function register<D>(def: TaskDef<D>): RegisteredTask {
  return {
    name: def.name,
    version: def.version,
    outputType: def.outputType,
    numFewshot: def.numFewshot,
    primaryMetric: def.primaryMetric,
    prepare: (dataDir, opts) => prepareTask(def, dataDir, opts),
  };
}

export const TASKS: ReadonlyMap<string, RegisteredTask> = new Map(
  [
    ...MMLU_TASKS.map((t) => register(t)),
    register(ARC_EASY),
    register(ARC_CHALLENGE),
    register(HELLASWAG),
    register(TRUTHFULQA_MC1),
    register(TRUTHFULQA_MC2),
    register(WINOGRANDE),
    register(GSM8K),
  ].map((t) => [t.name, t]),
);

export const GROUPS: ReadonlyMap<string, GroupDef> = new Map([...MMLU_GROUPS, LEADERBOARD_V1].map((g) => [g.name, g]));

export interface Expansion {
  /** Leaf tasks in run order, each with its num_fewshot override (from a group) if any. */
  tasks: { name: string; numFewshot?: number }[];
  /** Groups to aggregate, innermost first. */
  groups: GroupDef[];
}

/** Expand a task or group name (or a comma list) into leaf tasks and the groups to aggregate. */
export function expand(names: string | string[]): Expansion {
  const list = (Array.isArray(names) ? names : names.split(',')).map((s) => s.trim()).filter(Boolean);
  const tasks = new Map<string, number | undefined>();
  const groups: GroupDef[] = [];
  const visit = (name: string, shots: number | undefined) => {
    const t = TASKS.get(name);
    if (t) {
      if (!tasks.has(name) || shots !== undefined) tasks.set(name, shots);
      return;
    }
    const g = GROUPS.get(name);
    if (!g) {
      throw new ShimError('UNKNOWN_TASK', `unknown task or group "${name}"; known: ${[...GROUPS.keys(), ...nonMmluTasks()].join(', ')}, mmlu_<subject>`);
    }
    for (const m of g.members) visit(m, g.numFewshot?.[m] ?? shots);
    if (!groups.some((x) => x.name === g.name)) groups.push(g);
  };
  for (const n of list) visit(n, undefined);
  return { tasks: [...tasks].map(([name, numFewshot]) => ({ name, numFewshot })), groups };
}

function nonMmluTasks(): string[] {
  return [...TASKS.keys()].filter((n) => !n.startsWith('mmlu_'));
}

export function listTasks(): string[] {
  return [...GROUPS.keys(), ...TASKS.keys()];
}
