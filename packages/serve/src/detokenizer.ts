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

  constructor(private readonly tok: TextTokenizer) {}

  /** Appends ids; returns the text they add. */
  push(newIds: readonly number[]): string {
    let out = '';
    for (const id of newIds) {
      this.ids.push(id);
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
