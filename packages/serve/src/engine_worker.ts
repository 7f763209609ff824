/**
 * Worker-thread entry of `pnpm serve`: loads the model and runs the continuous-batching loop (AsyncEngine) here, so
 * that the main thread's HTTP work (parsing, detokenizing, SSE writes) overlaps the forward passes instead of adding
 * to every step. Messages in: submit / abort / score / abortAll / close; out: ready, one `events` message per engine
 * step (all requests' new tokens together), scored, log, fatal. See worker_engine.ts for the main-thread side.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LLM, type EngineCoreOptions, type LoadOptions } from '@quantbench/engine';
import { AsyncEngine, type TokenEvent } from './async_engine.ts';
import { ServeMetrics } from './metrics.ts';
import type { FromWorker, ToWorker, WireEvent } from './worker_protocol.ts';

const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);
const { load, engine: engineOpts } = workerData as { load: LoadOptions; engine: EngineCoreOptions };

try {
  const llm = await LLM.load({ ...load, onProgress: (m) => post({ t: 'log', m }) });
  let eng: AsyncEngine;
  const metrics = new ServeMetrics('worker', { running: () => eng.numRunning, waiting: () => eng.numWaiting });
  eng = new AsyncEngine(llm, llm.engineCore(engineOpts), metrics);
  eng.warmUp();
  let buf: WireEvent[] = [];
  let flushQueued = false;
  // Events of one step are posted together, once the step's synchronous part is over.
  const flush = () => {
    flushQueued = false;
    post({ t: 'events', evs: buf, running: eng.numRunning, waiting: eng.core.numWaiting, kv: eng.kvUsage() });
    buf = [];
  };
  const onEvent = (id: string) => (e: TokenEvent) => {
    buf.push([id, e.ids, e.logprobs, e.finished, e.finishReason ?? null, e.error ?? null]);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flush);
    }
  };
  port.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'submit':
        try {
          eng.submit(m.ids, m.params, onEvent(m.id), m.id);
        } catch (e) {
          onEvent(m.id)({ ids: [], logprobs: [], finished: true, finishReason: 'error', error: (e as Error).message });
        }
        break;
      case 'abort':
        eng.abort(m.id);
        // Its blocks are free now: say so even if no step follows.
        if (!flushQueued) {
          flushQueued = true;
          queueMicrotask(flush);
        }
        break;
      case 'score':
        eng.scorePrompt(m.ids, m.topK).then(
          (res) => post({ t: 'scored', job: m.job, res }),
          (e: Error) => post({ t: 'scored', job: m.job, error: e.message }),
        );
        break;
      case 'abortAll':
        eng.abortAll();
        break;
      case 'close':
        void eng.idle().then(() => {
          llm.close();
          post({ t: 'closed' });
          port.close();
        });
        break;
    }
  });
  post({
    t: 'ready',
    facts: { info: llm.info, maxModelLen: llm.maxModelLen, numKvBlocks: llm.numKvBlocks, blockSize: llm.blockSize, eosTokenIds: llm.eosTokenIds, provenance: llm.provenance() },
  });
} catch (e) {
  post({ t: 'fatal', message: (e as Error).message, code: (e as Error & { code?: string }).code });
}
