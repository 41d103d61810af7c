// What can go wrong in address management, in IPAM's own terms; the plugin
// turns each kind into its CNI error code, as host-local's caller does.
export type IpamErrorKind =
  /** A range, subnet or gateway that cannot be used as given. */
  | 'config'
  /** Every address of a range set is reserved. */
  | 'exhausted'
  /** The store on disk cannot be read or written. */
  | 'io';

export class IpamError extends Error {
  readonly kind: IpamErrorKind;
  readonly details: string | undefined;

  constructor(kind: IpamErrorKind, message: string, details?: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'IpamError';
    this.kind = kind;
    this.details = details;
  }
}
