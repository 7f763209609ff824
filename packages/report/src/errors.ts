/** Typed errors of the report package. Each message says what to do. */
export type ReportErrorCode =
  | 'NO_RESULTS_DIR' // a RESULT_DIR argument does not exist
  | 'NO_RUNS' // nothing readable was found at all
  | 'ASSET_MISSING' // a vega bundle is not installed
  | 'OUT_NOT_WRITABLE'
  | 'BAD_PEERS' // the peers data file is unreadable or malformed
  | 'BAD_OPTION'; // a CLI option value is malformed

export class ReportError extends Error {
  readonly code: ReportErrorCode;
  constructor(code: ReportErrorCode, message: string) {
    super(message);
    this.name = 'ReportError';
    this.code = code;
  }
}
