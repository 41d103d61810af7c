// What one test makes, with names no other test (or test process) uses, and
// removed in that test's teardown, also when it fails.

import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { addNetns, removeLink, removeNetns } from './netns.ts';

export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

export type Netns = { name: string; path: string };

export async function makeNetns(t: ExecutionContext): Promise<Netns> {
  const name = `wt-${uniqueSuffix()}`;
  const path = await addNetns(name);
  t.teardown(() => removeNetns(name));
  return { name, path };
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

/** For a link the code under test creates (a bridge): gone after the test. */
export function deleteLinkOnTeardown(t: ExecutionContext, name: string): void {
  t.teardown(() => removeLink(name));
}
