// Real kernel fixtures for integration tests: network namespaces, bridges and
// subnets with names no other test (or test process) uses, always removed in
// teardown, also when the test fails.
import type { ExecutionContext } from 'ava';
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, closeSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function sh(cmd: string, args: string[], input?: string) {
  return execa(cmd, args, { input, reject: false, env: { PATH: SYSTEM_PATH } });
}

/** Like sh, for set-up steps: a failure stops the test instead of hiding. */
export async function must(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export type Netns = { name: string; path: string };

export async function makeNetns(t: ExecutionContext): Promise<Netns> {
  const name = `wt-${uniqueSuffix()}`;
  const r = await sh('ip', ['netns', 'add', name]);
  if (r.exitCode !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  t.teardown(async () => {
    await sh('ip', ['netns', 'del', name]);
  });
  return { name, path: `/var/run/netns/${name}` };
}

// Test subnets come from 10.230.0.0/16, one /24 each, claimed with O_EXCL
// files so parallel ava workers never route the same subnet to two bridges.
const SUBNET_CLAIMS = join(tmpdir(), 'weft-test-subnets');

export function claimSubnet(t: ExecutionContext): { subnet: string; prefix: string } {
  mkdirSync(SUBNET_CLAIMS, { recursive: true });
  for (let n = 0; n < 256; n++) {
    const claim = join(SUBNET_CLAIMS, String(n));
    try {
      closeSync(openSync(claim, 'wx'));
    } catch {
      continue;
    }
    t.teardown(() => rmSync(claim, { force: true }));
    return { subnet: `10.230.${n}.0/24`, prefix: `10.230.${n}.` };
  }
  throw new Error(`no free test subnet: remove stale claims in ${SUBNET_CLAIMS}`);
}

export function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function deleteLinkOnTeardown(t: ExecutionContext, name: string): Promise<void> {
  t.teardown(async () => {
    await sh('ip', ['link', 'del', name]);
  });
}

export async function ipJson<T = Record<string, unknown>>(args: string[], netns?: string): Promise<T[]> {
  const argv = netns ? ['-n', netns, '-j', ...args] : ['-j', ...args];
  const r = await sh('ip', argv);
  if (r.exitCode !== 0) throw new Error(`ip ${argv.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout || '[]') as T[];
}

export async function ping(fromNetns: string, address: string): Promise<boolean> {
  const r = await sh('ip', ['netns', 'exec', fromNetns, 'ping', '-c1', '-W2', address]);
  return r.exitCode === 0;
}

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  return (await ipJson<{ ifname: string }>(['link', 'show'], netns)).some((l) => l.ifname === name);
}
