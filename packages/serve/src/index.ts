/** @quantbench/serve: the OpenAI-compatible server over the engine (`pnpm serve`). */
export { createServer, type QbServer, type ServerOptions } from './server.ts';
export { AsyncEngine, type PromptLogprobs, type TokenEvent } from './async_engine.ts';
export { ServeMetrics } from './metrics.ts';
export { ApiError, type OpenAIError } from './protocol.ts';
