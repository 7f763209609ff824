/** Typed errors of the shim: each has a code and says what to do. */
export type ShimErrorCode =
  | 'UNKNOWN_TASK'
  | 'DATA_MISSING'
  | 'DATA_FORMAT'
  | 'FEWSHOT_UNAVAILABLE'
  | 'BAD_RESPONSE';

export class ShimError extends Error {
  readonly code: ShimErrorCode;
  constructor(code: ShimErrorCode, message: string) {
    super(message);
    this.name = 'ShimError';
    this.code = code;
  }
}
