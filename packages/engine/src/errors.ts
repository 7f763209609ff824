/** Typed engine errors: `code` is stable; the message says what is wrong and what to do. */
export type EngineErrorCode =
  | 'BAD_CONFIG'
  | 'UNKNOWN_PRECISION'
  | 'UNKNOWN_MODEL'
  | 'NO_CUDA'
  | 'TOO_BIG_FOR_CPU'
  | 'UNSUPPORTED_ON_CUDA'
  | 'NEEDS_CALIBRATION'
  | 'BAD_CALIBRATION'
  | 'BAD_REQUEST'
  | 'PROMPT_TOO_LONG'
  | 'NATIVE';

export class EngineError extends Error {
  readonly code: EngineErrorCode | string;
  constructor(code: EngineErrorCode | string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** Errors thrown by the native addon carry a `.code`; wrap them so callers see one error type. */
export function wrapNative<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof EngineError) throw e;
    const code = (e as { code?: unknown })?.code;
    const msg = e instanceof Error ? e.message : String(e);
    throw new EngineError(typeof code === 'string' ? code : 'NATIVE', `${what}: ${msg}`, { cause: e });
  }
}
