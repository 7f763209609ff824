/** @quantbench/serve: the OpenAI-compatible server over the engine (`pnpm serve`). */
export { createServer, type QbServer, type ServedModel, type ServerOptions } from './server.ts';
export { AsyncEngine, type EngineHandle, type PromptLogprobs, type TokenEvent } from './async_engine.ts';
export { WorkerEngine } from './worker_engine.ts';
export { ServeMetrics } from './metrics.ts';
export { ApiError, type OpenAIError } from './protocol.ts';
