import { messageOf } from '../text/error-message.ts';
import { CniError, ErrorCode } from './errors.ts';

/** Wraps a failed kernel operation into the CNI error the runtime sees. */
export function kernelError(what: string, err: unknown): CniError {
  if (err instanceof CniError) return err;
  return new CniError(ErrorCode.KernelOperationFailed, `${what}: ${messageOf(err)}`, undefined, err);
}
