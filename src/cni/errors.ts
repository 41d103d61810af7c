import { IpamError, type IpamErrorKind } from '../ipam/errors.ts';

// The CNI spec's error codes (SPEC.md "Error"), plus weft's own from 100 up.
// Every failure is a CniError thrown where it is detected (or an IPAM error
// that asCniError maps); dispatch.ts is the one place that turns it into the
// error JSON on stdout.
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

  constructor(code: ErrorCodeValue, msg: string, details?: string, cause?: unknown) {
    super(msg, { cause });
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

const IPAM_CODES: Record<IpamErrorKind, ErrorCodeValue> = {
  config: ErrorCode.InvalidConfig,
  exhausted: ErrorCode.AddressPoolExhausted,
  io: ErrorCode.IoFailure,
};

/** The CNI error for a failure weft knows; undefined for anything else (a bug). */
export function asCniError(err: unknown): CniError | undefined {
  if (err instanceof CniError) return err;
  if (err instanceof IpamError) return new CniError(IPAM_CODES[err.kind], err.message, err.details, err);
  return undefined;
}
