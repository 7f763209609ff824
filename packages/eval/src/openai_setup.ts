/**
 * `--model local-completions`: pairs each --base-url with a label from --precision (one server per label; fp16 is
 * the reference that recovery is computed against), connects to each server once, and hands runEval a loader that
 * returns the server of the precision asked for. Results are filed under the first server's model name.
 */
import { EvalError } from './errors.ts';
import type { EvalModel, LoadOptions } from './engine_lm.ts';
import { OpenAICompletionsLM } from './openai_lm.ts';
import type { Precision, TextTokenizer } from '@quantbench/engine';

export const LOCAL_COMPLETIONS = 'local-completions';

export interface RemoteArgs {
  baseUrl?: string;
  precisions: Precision[];
  servedModel?: string;
  tokenizer?: string;
  numConcurrent: number;
  maxRetries: number;
  seed: number;
  log: (m: string) => void;
}

export async function connectRemote(a: RemoteArgs): Promise<{ model: string; tokenizer: TextTokenizer; loadModel: (o: LoadOptions) => Promise<EvalModel> }> {
  if (!a.baseUrl) throw new EvalError('BAD_ARGS', `--model ${LOCAL_COMPLETIONS} needs --base-url URL (e.g. http://127.0.0.1:8000/v1/completions)`);
  const urls = a.baseUrl.split(',').map((s) => s.trim()).filter(Boolean);
  if (urls.length !== a.precisions.length) {
    throw new EvalError('BAD_ARGS', `${urls.length} --base-url value(s) for ${a.precisions.length} --precision label(s): give one label per server (e.g. --base-url A,B --precision fp16,fp8-static)`);
  }
  if (!Number.isInteger(a.numConcurrent) || a.numConcurrent < 1) throw new EvalError('BAD_ARGS', '--num-concurrent must be a positive integer');
  if (!Number.isInteger(a.maxRetries) || a.maxRetries < 0) throw new EvalError('BAD_ARGS', '--max-retries must be an integer >= 0');
  const servers = new Map<Precision, OpenAICompletionsLM>();
  for (let i = 0; i < urls.length; i++) {
    const lm = await OpenAICompletionsLM.connect({
      baseUrl: urls[i]!,
      label: a.precisions[i]!,
      model: a.servedModel,
      tokenizer: a.tokenizer,
      numConcurrent: a.numConcurrent,
      maxRetries: a.maxRetries,
      apiKey: process.env.OPENAI_API_KEY,
      seed: a.seed,
      log: a.log,
    });
    a.log(`${a.precisions[i]}: ${urls[i]} serves "${lm.info.model}"`);
    servers.set(a.precisions[i]!, lm);
  }
  return {
    model: servers.get(a.precisions[0]!)!.info.model,
    tokenizer: servers.get(a.precisions[0]!)!.tok,
    loadModel: async (o) => {
      const lm = servers.get(o.precision);
      if (!lm) throw new EvalError('BAD_ARGS', `no --base-url for ${o.precision}`);
      return lm;
    },
  };
}
