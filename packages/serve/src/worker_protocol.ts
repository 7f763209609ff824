/** Messages between the server's main thread (worker_engine.ts) and its engine thread (engine_worker.ts). */
import type { ModelInfo, Provenance, RequestParams, SchedFinishReason } from '@quantbench/engine';
import type { PromptLogprobs } from './async_engine.ts';

export type ToWorker =
  | { t: 'submit'; id: string; ids: number[]; params: RequestParams }
  | { t: 'abort'; id: string }
  | { t: 'score'; job: number; ids: number[]; topK: number }
  | { t: 'abortAll' }
  | { t: 'close' };

/** [request id, new token ids, their log-probs, finished, finish reason, error] */
export type WireEvent = [string, number[], number[], boolean, SchedFinishReason | null, string | null];

export interface ModelFacts {
  info: ModelInfo;
  maxModelLen: number;
  numKvBlocks: number;
  blockSize: number;
  eosTokenIds: number[];
  provenance: Provenance;
}

export type FromWorker =
  | { t: 'ready'; facts: ModelFacts }
  | { t: 'events'; evs: WireEvent[]; running: number; waiting: number; kv: number }
  | { t: 'scored'; job: number; res?: PromptLogprobs; error?: string }
  | { t: 'log'; m: string }
  | { t: 'fatal'; message: string; code?: string }
  | { t: 'closed' };
