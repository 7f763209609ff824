/**
 * Incremental detokenization, as vLLM and HF's TextStreamer do it: the text of generated tokens is what they add to
 * the decoded prompt, decode(prompt + completion) minus decode(prompt), not decode(completion) alone — which drops the
 * leading space a SentencePiece tokenizer strips from the first token of a sequence ("Once upon" + "a time" instead of
 * " a time"). A few prompt tokens of context are enough (vLLM's prefix offset); an incomplete UTF-8 sequence (the
 * text ends in U+FFFD) waits for the token that completes it.
 */
import type { TextTokenizer } from './tokenizer.ts';

/** Prompt tokens decoded before the completion: enough for a word boundary and a split multi-byte character. */
export const DETOKENIZE_CONTEXT = 6;

function diffText(tok: TextTokenizer, ctx: readonly number[], ids: readonly number[]): string {
  const pre = tok.decode(ctx, true);
  const full = tok.decode([...ctx, ...ids], true);
  if (full.startsWith(pre)) return full.slice(pre.length);
  let i = 0;
  while (i < pre.length && i < full.length && pre[i] === full[i]) i++;
  return full.slice(i);
}

/** Text of `ids` generated after `promptIds`. */
export function completionText(tok: TextTokenizer, promptIds: readonly number[], ids: readonly number[]): string {
  return diffText(tok, promptIds.slice(-DETOKENIZE_CONTEXT), ids);
}

/** Per-token texts of a completion; they concatenate to completionText (a token ending mid-character gets ""). */
export function tokenTexts(tok: TextTokenizer, promptIds: readonly number[], ids: readonly number[]): string[] {
  const out: string[] = [];
  let emitted = 0;
  for (let i = 0; i < ids.length; i++) {
    const text = completionText(tok, promptIds, ids.slice(0, i + 1));
    if (text.endsWith('\uFFFD') && i < ids.length - 1) {
      out.push('');
      continue;
    }
    out.push(text.slice(emitted));
    emitted = text.length;
  }
  return out;
}
