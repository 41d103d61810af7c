import { readFileSync, writeFileSync } from 'node:fs';

/** Sets a sysctl through /proc/sys, writing only when it differs. */
export function ensureSysctl(key: string, value: string): void {
  const path = `/proc/sys/${key.replaceAll('.', '/')}`;
  if (readFileSync(path, 'utf8').trim() !== value) writeFileSync(path, value);
}
