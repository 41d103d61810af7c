// Named network namespaces and the links around them, through iproute2, so
// they live where a CNI runtime expects them (/var/run/netns/NAME). Removal is
// idempotent: whoever cleans up (a test's teardown, a benchmark's, a cluster's)
// may find the thing already gone.
import { existsSync } from 'node:fs';
import { must, sh } from './shell.ts';

export function netnsPath(name: string): string {
  return `/var/run/netns/${name}`;
}

export async function addNetns(name: string): Promise<string> {
  await must('ip', ['netns', 'add', name]);
  return netnsPath(name);
}

export async function removeNetns(name: string): Promise<void> {
  if (existsSync(netnsPath(name))) await must('ip', ['netns', 'delete', name]);
}

export async function ipJson<T = Record<string, unknown>>(args: string[], netns?: string): Promise<T[]> {
  return JSON.parse((await must('ip', [...(netns ? ['-n', netns] : []), '-j', ...args])) || '[]') as T[];
}

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  return (await ipJson<{ ifname: string }>(['link', 'show'], netns)).some((l) => l.ifname === name);
}

export async function removeLink(name: string): Promise<void> {
  if (await linkExists(name)) await must('ip', ['link', 'delete', name]);
}

export async function ping(fromNetns: string, address: string): Promise<boolean> {
  const r = await sh('ip', ['netns', 'exec', fromNetns, 'ping', '-c1', '-W2', address]);
  return r.exitCode === 0;
}
