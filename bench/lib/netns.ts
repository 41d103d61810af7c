// Named network namespaces for benchmarks, made with iproute2 so they live
// where a CNI runtime expects them (/run/netns/NAME) and outlast no process.
import { existsSync } from 'node:fs';
import { runChecked, childEnv } from './run.ts';

const IP_TIMEOUT_MS = 10_000;

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

function ip(args: string[]): void {
  runChecked('ip', args, { env: childEnv({}), timeoutMs: IP_TIMEOUT_MS });
}

export function addNetns(name: string): string {
  ip(['netns', 'add', name]);
  return netnsPath(name);
}

export function deleteNetns(name: string): void {
  ip(['netns', 'delete', name]);
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function deleteLink(name: string): void {
  ip(['link', 'delete', name]);
}
