/** Tokenizers: HF tokenizer.json through @huggingface/tokenizers, chat templates through @huggingface/jinja. */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { EngineError } from '../errors.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface TextTokenizer {
  readonly kind: 'hf' | 'bytes';
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];
  /** Encode text; `addSpecialTokens` applies the tokenizer's post-processor (BOS for Llama). */
  encode(text: string, addSpecialTokens?: boolean): number[];
  decode(ids: readonly number[], skipSpecialTokens?: boolean): string;
  /** Render a chat with the model's template (instruct models); throws when the tokenizer has none. */
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt?: boolean): string;
  readonly hasChatTemplate: boolean;
  /** The chat template's source (tokenizer_config.json chat_template or chat_template.jinja), null when none. */
  readonly chatTemplate: string | null;
}

class HfTextTokenizer implements TextTokenizer {
  readonly kind = 'hf' as const;
  private readonly tok: HfTokenizer;
  private readonly template: Template | null;
  readonly chatTemplate: string | null;
  private readonly bosToken: string | null;
  private readonly eosToken: string | null;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];

  constructor(json: object, config: Record<string, unknown>, eosFromModel: number[], bosFromModel: number | null) {
    this.tok = new HfTokenizer(json, config);
    const tokStr = (v: unknown): string | null =>
      typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : null;
    this.bosToken = tokStr(config.bos_token);
    this.eosToken = tokStr(config.eos_token);
    const bos = this.bosToken !== null ? this.tok.token_to_id(this.bosToken) : undefined;
    this.bosTokenId = bos ?? bosFromModel;
    const eos = new Set<number>(eosFromModel);
    const e = this.eosToken !== null ? this.tok.token_to_id(this.eosToken) : undefined;
    if (e !== undefined) eos.add(e);
    this.eosTokenIds = [...eos];
    const tpl = config.chat_template;
    this.chatTemplate = typeof tpl === 'string' ? tpl : null;
    this.template = this.chatTemplate !== null ? new Template(this.chatTemplate) : null;
  }

  get hasChatTemplate(): boolean {
    return this.template !== null;
  }

  encode(text: string, addSpecialTokens = true): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = false): string {
    return this.tok.decode([...ids], { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }

  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt = true): string {
    if (!this.template) {
      throw new EngineError('BAD_REQUEST', 'this tokenizer has no chat_template (a base model?): drop --chat or use an instruct checkpoint');
    }
    return this.template.render({
      messages,
      add_generation_prompt: addGenerationPrompt,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
    });
  }
}

/**
 * For synthetic models with no tokenizer files: UTF-8 bytes map to ids 3..258 (0 unk, 1 BOS, 2 EOS); ids past 258
 * decode to nothing. Only for speed runs on random weights, never for quality.
 */
export class ByteTokenizer implements TextTokenizer {
  readonly kind = 'bytes' as const;
  readonly bosTokenId = 1;
  readonly eosTokenIds = [2];
  readonly hasChatTemplate = false;
  readonly chatTemplate = null;
  encode(text: string, addSpecialTokens = true): number[] {
    const ids = [...Buffer.from(text, 'utf8')].map((b) => b + 3);
    return addSpecialTokens ? [1, ...ids] : ids;
  }
  decode(ids: readonly number[]): string {
    return Buffer.from(ids.filter((i) => i >= 3 && i < 259).map((i) => i - 3)).toString('utf8');
  }
  applyChatTemplate(): string {
    throw new EngineError('BAD_REQUEST', 'synthetic byte tokenizer has no chat template');
  }
}

/** Load tokenizer.json + tokenizer_config.json from a model (or tokenizer) directory. */
export function loadTokenizer(dir: string, eosFromModel: number[] = [], bosFromModel: number | null = null): TextTokenizer {
  const tj = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tj)) {
    throw new EngineError('BAD_CONFIG', `${dir} has no tokenizer.json (quantbench needs the fast-tokenizer file next to the weights)`);
  }
  let json: object;
  let cfg: Record<string, unknown> = {};
  try {
    json = JSON.parse(fs.readFileSync(tj, 'utf8')) as object;
    const tc = path.join(dir, 'tokenizer_config.json');
    if (fs.existsSync(tc)) cfg = JSON.parse(fs.readFileSync(tc, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new EngineError('BAD_CONFIG', `cannot parse the tokenizer files in ${dir}: ${(e as Error).message}`, { cause: e });
  }
  // A separate chat_template.jinja (newer HF layout) overrides the config's.
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) cfg = { ...cfg, chat_template: fs.readFileSync(jinja, 'utf8') };
  return new HfTextTokenizer(json, cfg, eosFromModel, bosFromModel);
}
