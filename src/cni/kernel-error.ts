import { IpCommandError } from '../linux/ip.ts';
import { CniError, ErrorCode } from './errors.ts';

/** Wraps a failed kernel operation into the CNI error the runtime sees. */
export function kernelError(what: string, err: unknown): CniError {
  if (err instanceof CniError) return err;
  const reason = err instanceof IpCommandError ? err.message : String((err as Error)?.message ?? err);
  return new CniError(ErrorCode.KernelOperationFailed, `${what}: ${reason}`);
}
