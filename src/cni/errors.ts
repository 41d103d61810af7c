// The CNI spec's error codes (SPEC.md "Error"), plus weft's own from 100 up.
// Every failure is a CniError thrown where it is detected; cmd/weft.ts is the
// one place that turns it into the error JSON on stdout.
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  // weft-specific
  KernelOperationFailed: 100,
  AddressPoolExhausted: 101,
  CheckFailed: 102,
  Internal: 999,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class CniError extends Error {
  readonly code: ErrorCodeValue;
  readonly details: string | undefined;

  constructor(code: ErrorCodeValue, msg: string, details?: string) {
    super(msg);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }
}

export function configError(msg: string): CniError {
  return new CniError(ErrorCode.InvalidConfig, msg);
}

export function envError(msg: string): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, msg);
}
