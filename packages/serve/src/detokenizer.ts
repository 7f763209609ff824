/**
 * Incremental detokenization (vLLM's scheme): text is decoded from a short window of recent ids, never the whole
 * output, so a 2048-token stream costs O(window) per token. Text whose last character is an incomplete UTF-8
 * sequence (U+FFFD) is held back until the next token completes it.
 */
import type { TextTokenizer } from '@quantbench/engine';

export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  private readonly fast: TokenTexts | null;

  constructor(private readonly tok: TextTokenizer) {
    this.fast = TokenTexts.for(tok);
  }

  /** Appends ids; returns the text they add. */
  push(newIds: readonly number[]): string {
    let out = '';
    for (const id of newIds) {
      this.ids.push(id);
      // Fast path (additive decoders, window caught up): the token's own text, memoized per id.
      if (this.fast && this.readOffset === this.ids.length - 1) {
        const t = this.fast.text(id);
        if (!t.includes('\uFFFD')) {
          out += t;
          this.prefixOffset = this.readOffset;
          this.readOffset = this.ids.length;
          continue;
        }
      }
      const prefixText = decodeIds(this.tok, this.ids.slice(this.prefixOffset, this.readOffset));
      const newText = decodeIds(this.tok, this.ids.slice(this.prefixOffset));
      if (newText.length > prefixText.length && !newText.endsWith('\uFFFD')) {
        out += newText.slice(prefixText.length);
        this.prefixOffset = this.readOffset;
        this.readOffset = this.ids.length;
      }
    }
    return out;
  }
}

/**
 * Per-token texts for tokenizers whose decode is additive (decode(a + b) = decode(a) + decode(b) for whole
 * characters: byte-level BPE such as Llama 3's). Checked once per tokenizer on a sample; sentencepiece-style
 * decoders that strip a leading space fail the check and keep the windowed decode.
 */
class TokenTexts {
  private static readonly byTokenizer = new WeakMap<TextTokenizer, TokenTexts | null>();
  private readonly memo = new Map<number, string>();

  private constructor(private readonly tok: TextTokenizer) {}

  static for(tok: TextTokenizer): TokenTexts | null {
    let t = TokenTexts.byTokenizer.get(tok);
    if (t === undefined) {
      const ids = tok.encode(' Hello world, this is a test: 12 + 3.5 = "x"!\n  Next line.', false);
      const whole = decodeIds(tok, ids);
      t = ids.length > 1 && whole === ids.map((i) => decodeIds(tok, [i])).join('') ? new TokenTexts(tok) : null;
      TokenTexts.byTokenizer.set(tok, t);
    }
    return t;
  }

  text(id: number): string {
    let s = this.memo.get(id);
    if (s === undefined) {
      s = decodeIds(this.tok, [id]);
      this.memo.set(id, s);
    }
    return s;
  }
}

/** Decodes without special tokens; no ids is no text (the HF tokenizer throws on an empty list). */
export function decodeIds(tok: TextTokenizer, ids: readonly number[], skipSpecial = true): string {
  return ids.length === 0 ? '' : tok.decode(ids, skipSpecial);
}

/**
 * Stop strings over a growing text: what may be emitted now (holding back a tail that could still become a stop
 * string) and whether a stop string has appeared (the text is cut before it, as OpenAI and vLLM do).
 */
export class StopChecker {
  private text = '';
  private emitted = 0;
  private readonly hold: number;

  constructor(private readonly stops: readonly string[]) {
    this.hold = stops.reduce((m, s) => Math.max(m, s.length - 1), 0);
  }

  /** Adds text; returns { emit, stopped }. */
  add(more: string): { emit: string; stopped: boolean } {
    this.text += more;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.text.indexOf(s, Math.max(0, this.emitted - s.length + 1));
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      const emit = this.text.slice(this.emitted, cut);
      this.text = this.text.slice(0, cut);
      this.emitted = cut;
      return { emit, stopped: true };
    }
    const upto = Math.max(this.emitted, this.text.length - this.hold);
    const emit = this.text.slice(this.emitted, upto);
    this.emitted = upto;
    return { emit, stopped: false };
  }

  /** The held-back tail, at the end of the request. */
  flush(): string {
    const emit = this.text.slice(this.emitted);
    this.emitted = this.text.length;
    return emit;
  }

  get fullText(): string {
    return this.text;
  }
}
