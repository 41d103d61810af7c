// The plugin as a pure function of its inputs, like libcni's skel: the CNI_*
// variables and stdin in, stdout, stderr and the exit code out. The verbs
// touch the kernel and the IPAM store; everything else, the error envelope
// above all, is decided here and unit-tested without spawning the plugin.

import { messageOf } from '../text/error-message.ts';
import { cmdAdd } from './add.ts';
import { cmdCheck } from './check.ts';
import { cmdDel } from './del.ts';
import { parseInvocation } from './env.ts';
import { asCniError, CniError, ErrorCode } from './errors.ts';
import { cmdGc } from './gc.ts';
import { configVersion, decodeConfig, parseNetworkConfig } from './network-config.ts';
import { cmdStatus } from './status.ts';
import { LATEST_VERSION, requireSupportedVersion, resultForVersion, SUPPORTED_VERSIONS } from './version.ts';

/** No network config comes near this; a larger stdin is refused unread. */
export const MAX_STDIN_BYTES = 4 << 20;

/** stdin as read: `tooLarge` when it went past MAX_STDIN_BYTES and reading stopped. */
export type Stdin = { text: string; tooLarge: boolean };

export type PluginOutput = { stdout: string; stderr: string; exitCode: number };

type Env = Record<string, string | undefined>;

/** The version to answer in: the request's when it is one weft speaks. */
function replyVersion(raw: string): string {
  try {
    const v = (JSON.parse(raw) as { cniVersion?: unknown } | null)?.cniVersion;
    if (typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v)) return v;
  } catch {
    // Undecodable input is reported by the verb itself.
  }
  return LATEST_VERSION;
}

function dispatch(env: Env, stdin: Stdin): unknown {
  const inv = parseInvocation(env);
  if (inv.command === 'VERSION') {
    return { cniVersion: stdin.tooLarge ? LATEST_VERSION : replyVersion(stdin.text), supportedVersions: SUPPORTED_VERSIONS };
  }
  if (stdin.tooLarge) {
    throw new CniError(
      ErrorCode.DecodeFailure,
      `network config on stdin is larger than ${MAX_STDIN_BYTES >> 20} MiB`,
      'pass the network configuration, not more, on stdin',
    );
  }
  const obj = decodeConfig(stdin.text);
  const version = configVersion(obj);
  requireSupportedVersion(version);
  const conf = parseNetworkConfig(obj);
  switch (inv.command) {
    case 'ADD':
      return resultForVersion(cmdAdd(inv, conf), version);
    case 'DEL':
      return cmdDel(inv, conf);
    case 'CHECK':
      return cmdCheck(inv, conf);
    case 'GC':
      return cmdGc(conf);
    case 'STATUS':
      return cmdStatus(conf);
  }
}

export function runPlugin(env: Env, stdin: Stdin): PluginOutput {
  try {
    const out = dispatch(env, stdin);
    return { stdout: out === undefined ? '' : `${JSON.stringify(out)}\n`, stderr: '', exitCode: 0 };
  } catch (err) {
    const known = asCniError(err);
    const cniErr =
      known ?? new CniError(ErrorCode.Internal, `internal error: ${messageOf(err)}`, "this is a bug in weft: report it with the plugin's stderr", err);
    const reply: Record<string, unknown> = { cniVersion: stdin.tooLarge ? LATEST_VERSION : replyVersion(stdin.text), code: cniErr.code, msg: cniErr.message };
    if (cniErr.details) reply.details = cniErr.details;
    const trace = known ? '' : `\n${err instanceof Error ? err.stack : ''}`;
    const stderr = `weft ${env.CNI_COMMAND ?? '?'} ${env.CNI_CONTAINERID ?? ''} ${env.CNI_IFNAME ?? ''}: ${cniErr.message}${trace}\n`;
    return { stdout: `${JSON.stringify(reply)}\n`, stderr, exitCode: 1 };
  }
}
