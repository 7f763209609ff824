export { EngineCore } from './engine_core.ts';
export { BlockPool } from './block_pool.ts';
export { KvCacheManager } from './kv_cache_manager.ts';
export { SchedulerError, type SchedulerErrorCode } from './errors.ts';
export { CAPACITY_SCHEDULER_POLICIES } from './types.ts';
export type {
  AddRequestArgs,
  BlockTimings,
  CapacitySchedulerPolicy,
  EngineCoreOptions,
  ModelRunner,
  RequestOutput,
  RequestParams,
  SchedFinishReason,
  StepResult,
  StepStats,
} from './types.ts';
