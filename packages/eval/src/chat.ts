/**
 * `--apply_chat_template` / `--fewshot_as_multiturn` / `--system_instruction` (lm-eval v0.4.12): the model
 * tokenizer's chat template renders each prompt (the messages are built in lm-eval-ts-shim's chat.ts). Checked before
 * any work: a checkpoint without a chat template stops with one line (exit 2), as lm-eval stops on such a tokenizer.
 * Recorded as lm-eval's EvaluationTracker records it (loggers/evaluation_tracker.py GeneralConfigTracker:
 * chat_template, chat_template_sha = sha256 hex of the template, fewshot_as_multiturn, system_instruction(_sha)).
 */
import { createHash } from 'node:crypto';
import { UsageError, type TextTokenizer } from '@quantbench/engine';
import type { ChatOptions } from '@quantbench/lm-eval-ts-shim';

export interface EvalChat extends ChatOptions {
  /** The template's source and its sha256 (lm-eval's chat_template / chat_template_sha). */
  template: string;
  templateSha: string;
  /** The template's rendering starts with the BOS token's text (Llama-3: `{{- bos_token }}`). */
  bosText: string | null;
}

export const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * lm-eval's CLI (config/evaluate_config.py EvaluatorConfig): fewshot_as_multiturn defaults to true under
 * --apply_chat_template and, set true without it, is an error.
 */
export function resolveMultiturn(applyChatTemplate: boolean, fewshotAsMultiturn: boolean | undefined): boolean {
  if (fewshotAsMultiturn === true && !applyChatTemplate) throw new UsageError('--fewshot_as_multiturn needs --apply_chat_template (as in lm-eval)');
  return applyChatTemplate && fewshotAsMultiturn !== false;
}

export function chatSetup(tok: TextTokenizer | null, model: string, fewshotAsMultiturn: boolean): EvalChat {
  if (!tok || !tok.chatTemplate) {
    throw new UsageError(`--apply_chat_template: ${model} has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja); use a checkpoint with one or run without it`);
  }
  const template = tok.chatTemplate;
  const bos = tok.bosTokenId !== null ? tok.decode([tok.bosTokenId], false) : '';
  // HFLM.apply_chat_template: tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True);
  // a template that raises (e.g. one without a system role) is retried without the system messages
  const render: ChatOptions['render'] = (messages) => {
    try {
      return tok.applyChatTemplate(messages, true);
    } catch (e) {
      if (!messages.some((m) => m.role === 'system')) throw e;
      return tok.applyChatTemplate(messages.filter((m) => m.role !== 'system'), true);
    }
  };
  let bosText: string | null = null;
  try {
    bosText = bos && render([{ role: 'user', content: 'x' }]).startsWith(bos) ? bos : null;
  } catch (e) {
    throw new UsageError(`--apply_chat_template: the chat template of ${model} does not render: ${(e as Error).message}`);
  }
  return { render, fewshotAsMultiturn, template, templateSha: sha256(template), bosText };
}
