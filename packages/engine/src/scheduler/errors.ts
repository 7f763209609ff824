/** Typed scheduler errors. */
export type SchedulerErrorCode = 'BAD_CONFIG' | 'DUPLICATE_REQUEST' | 'BAD_REQUEST' | 'BLOCK_ACCOUNTING' | 'ASYNC_STATE';

export class SchedulerError extends Error {
  readonly code: SchedulerErrorCode;
  constructor(code: SchedulerErrorCode, message: string) {
    super(message);
    this.name = 'SchedulerError';
    this.code = code;
  }
}
