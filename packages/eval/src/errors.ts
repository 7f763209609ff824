/** Typed errors of `pnpm eval`: each has a code and says what to do. */
export type EvalErrorCode = 'ENGINE_MISSING' | 'BAD_ARGS' | 'NO_DATA' | 'INTERRUPTED' | 'MISMATCH' | 'BAD_RESULT_FILE';

export class EvalError extends Error {
  readonly code: EvalErrorCode;
  constructor(code: EvalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EvalError';
    this.code = code;
  }
}
