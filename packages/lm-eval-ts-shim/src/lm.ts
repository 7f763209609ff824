/**
 * lm-eval's LM abstraction. A model answers two kinds of request:
 *  - loglikelihood: log p(continuation | context), summed over the continuation's tokens, and whether greedy
 *    decoding would have produced exactly the continuation (is_greedy);
 *  - generateUntil: greedy text after `context`, cut at the first of `until`, at most `maxGenToks` tokens.
 */
export interface LoglikelihoodRequest {
  context: string;
  continuation: string;
}

export interface LoglikelihoodResponse {
  logprob: number;
  isGreedy: boolean;
}

export interface GenerateRequest {
  context: string;
  until: string[];
  maxGenToks: number;
}

export interface LM {
  loglikelihood(requests: LoglikelihoodRequest[]): Promise<LoglikelihoodResponse[]>;
  generateUntil(requests: GenerateRequest[]): Promise<string[]>;
}

/** Cut generated text at the first occurrence of any stop string (lm-eval drops the stop string itself). */
export function cutAtStop(text: string, until: readonly string[]): string {
  let end = text.length;
  for (const s of until) {
    if (!s) continue;
    const i = text.indexOf(s);
    if (i >= 0 && i < end) end = i;
  }
  return text.slice(0, end);
}
