// The weft CNI plugin: one process per ADD/DEL/CHECK/GC/STATUS/VERSION.
// This is the only place that writes to stdout and the only place a CniError
// becomes the spec's error JSON. Keep imports light: start-up time is on
// every pod's critical path.
import { readFileSync } from 'node:fs';
import { cmdAdd } from '../src/cni/add.ts';
import { cmdCheck } from '../src/cni/check.ts';
import { configVersion, decodeConfig, parseNetConf } from '../src/cni/config.ts';
import { cmdDel } from '../src/cni/del.ts';
import { parseInvocation } from '../src/cni/env.ts';
import { CniError, ErrorCode } from '../src/cni/errors.ts';
import { cmdGc } from '../src/cni/gc.ts';
import { cmdStatus } from '../src/cni/status.ts';
import { LATEST_VERSION, SUPPORTED_VERSIONS, requireSupportedVersion, resultForVersion } from '../src/cni/version.ts';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

/** The version to answer in: the request's when it is one weft speaks. */
function replyVersion(raw: string): string {
  try {
    const v = (JSON.parse(raw) as { cniVersion?: unknown }).cniVersion;
    if (typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v)) return v;
  } catch {
    // Undecodable input is reported by the verb itself.
  }
  return LATEST_VERSION;
}

function run(raw: string): unknown {
  const inv = parseInvocation(process.env);
  if (inv.command === 'VERSION') {
    return { cniVersion: replyVersion(raw), supportedVersions: SUPPORTED_VERSIONS };
  }
  const obj = decodeConfig(raw);
  const version = configVersion(obj);
  requireSupportedVersion(version);
  const conf = parseNetConf(obj);
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

function main(): number {
  const raw = readStdin();
  try {
    const out = run(raw);
    if (out !== undefined) process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  } catch (err) {
    const cniErr = err instanceof CniError
      ? err
      : new CniError(ErrorCode.Internal, `internal error: ${(err as Error)?.message ?? String(err)}`, 'this is a bug in weft: report it with the plugin\'s stderr');
    const reply: Record<string, unknown> = { cniVersion: replyVersion(raw), code: cniErr.code, msg: cniErr.message };
    if (cniErr.details) reply.details = cniErr.details;
    process.stdout.write(`${JSON.stringify(reply)}\n`);
    const cmd = process.env.CNI_COMMAND ?? '?';
    const trace = err instanceof CniError ? '' : `\n${(err as Error)?.stack ?? ''}`;
    process.stderr.write(`weft ${cmd} ${process.env.CNI_CONTAINERID ?? ''} ${process.env.CNI_IFNAME ?? ''}: ${cniErr.message}${trace}\n`);
    return 1;
  }
}

process.exitCode = main();
