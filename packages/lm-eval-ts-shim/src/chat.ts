/**
 * lm-eval's chat-templated prompts (`--apply_chat_template`, `--fewshot_as_multiturn`, `--system_instruction`),
 * as lm-eval v0.4.12 builds them:
 *   lm_eval/api/task.py  ConfigurableTask.fewshot_context: system message = maybe_delimit(system_instruction,
 *     description, fewshot_delimiter); each few-shot doc adds build_qa_turn(q, a) = user(q, delimiter
 *     target_delimiter) + assistant(a, delimiter fewshot_delimiter); the evaluated doc adds user(q, delimiter "").
 *     With fewshot_as_multiturn the messages are rendered as they are (Message.to_dict drops the delimiters),
 *     without it multiturn_to_singleturn joins every non-system message's text+delimiter into one user message.
 *     The chat template is called with add_generation_prompt=True (no gen_prefix in our tasks).
 *   ConfigurableTask.multiple_input_context (WinoGrande): the same shared messages + user(context_i, "") per choice.
 *   ConfigurableTask.construct_requests: under apply_chat_template a multiple-choice continuation gets target
 *     delimiter "" (unless the task has a gen_prefix not ending in whitespace; ours have none).
 *   lm_eval/api/utils.py  maybe_delimit, Message, multiturn_to_singleturn.
 *   lm_eval/models/huggingface.py HFLM.apply_chat_template: tokenizer.apply_chat_template(history, tokenize=False,
 *     add_generation_prompt=True, continue_final_message=False); the rendered text (which holds BOS as text for
 *     Llama-3) is then encoded without special tokens (tok_encode: has_bos_prefix).
 */
import { pyIsSpace } from './pystr.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatOptions {
  /** The model tokenizer's chat template with add_generation_prompt=true (HFLM.apply_chat_template). */
  render: (messages: ChatMessage[]) => string;
  /** lm-eval's fewshot_as_multiturn (its CLI default is true under --apply_chat_template). */
  fewshotAsMultiturn: boolean;
}

/** lm-eval's Message: role, content and the delimiter its plain-text rendering appends. */
export interface Turn extends ChatMessage {
  delim: string;
}

/** lm_eval/api/utils.py maybe_delimit: join, adding the delimiter only when neither side has whitespace there. */
export function maybeDelimit(prefix: string | null | undefined, suffix: string | null | undefined, delimiter = ' '): string {
  if (!prefix) return suffix ?? '';
  if (!suffix) return prefix;
  return pyIsSpace(prefix[prefix.length - 1]!) || pyIsSpace(suffix[0]!) ? prefix + suffix : prefix + delimiter + suffix;
}

/** ConfigurableTask.build_qa_turn without gen_prefix: user(q) [+ assistant(a)]. */
export function qaTurn(q: string, a: string | null, targetDelimiter: string, fewshotDelimiter: string): Turn[] {
  const hasAnswer = a !== null && a !== '';
  const turns: Turn[] = [{ role: 'user', content: q, delim: hasAnswer ? targetDelimiter : '' }];
  if (hasAnswer) turns.push({ role: 'assistant', content: a, delim: fewshotDelimiter });
  return turns;
}

/** lm_eval/api/utils.py multiturn_to_singleturn (no trailing assistant turn: we have no gen_prefix). */
export function multiturnToSingleturn(turns: Turn[]): ChatMessage[] {
  const [system, rest] = turns[0]?.role === 'system' ? [turns[0], turns.slice(1)] : [null, turns];
  const last = rest.length - 1;
  const user: ChatMessage = { role: 'user', content: rest.map((t, i) => t.content + (i === last ? '' : t.delim)).join('') };
  return system ? [{ role: 'system', content: system.content }, user] : [user];
}

/** Render turns as ConfigurableTask.fewshot_context does under apply_chat_template. */
export function renderChat(turns: Turn[], chat: ChatOptions): string {
  const msgs = chat.fewshotAsMultiturn ? turns.map(({ role, content }) => ({ role, content })) : multiturnToSingleturn(turns);
  return chat.render(msgs);
}
