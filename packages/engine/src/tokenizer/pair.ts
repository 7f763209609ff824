/**
 * lm-eval's context/continuation split (shared by the in-process engine and the OpenAI-compatible eval client, so
 * both score exactly the same token ids): trailing spaces of the context move to the continuation; the whole string
 * is encoded once and the continuation is what follows the context's own encoding; an empty context becomes the
 * prefix token (BOS, else EOS).
 */
import type { TextTokenizer } from './tokenizer.ts';

export interface EncodedPair {
  ctx: number[];
  cont: number[];
}

export function encodeContinuationPair(
  tok: TextTokenizer,
  prefixTokenId: number,
  context: string,
  continuation: string,
  encodeContext: (context: string) => number[] = (c) => tok.encode(c, false),
): EncodedPair {
  const nSpaces = context.length - context.trimEnd().length;
  if (nSpaces > 0) {
    continuation = context.slice(-nSpaces) + continuation;
    context = context.slice(0, -nSpaces);
  }
  if (context === '') return { ctx: [prefixTokenId], cont: tok.encode(continuation, false) };
  const whole = tok.encode(context + continuation, false);
  const ctx = encodeContext(context);
  return { ctx: [...ctx], cont: whole.slice(ctx.length) };
}
