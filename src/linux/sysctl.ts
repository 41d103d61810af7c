import { childProcess } from './child-process.ts';
import { files } from './files.ts';
import { inNamespace } from './netlink/socket.ts';

/** Sets a sysctl through /proc/sys, writing only when it differs. */
export function ensureSysctl(key: string, value: string): void {
  ensureFile(`/proc/sys/${key.replaceAll('.', '/')}`, value);
}

function ensureFile(path: string, value: string): void {
  const fs = files();
  if (fs.readText(path).trim() !== value) fs.writeText(path, value);
}

/** Whether the thread can enter a namespace itself: on Bun (the plugin), as ip.ts decides for rtnetlink. */
const IN_PROCESS = process.versions.bun !== undefined;

/**
 * Sets a net.* sysctl inside the network namespace at `netns` (they are per
 * namespace), given as path parts under net/ because an interface name may
 * hold dots: ['ipv6', 'conf', 'eth0', 'accept_ra']. On Bun this thread
 * enters the namespace for the write, as it does to open a pod's netlink
 * socket, and no process runs; elsewhere one `nsenter … sysctl` does it.
 */
export function ensureNetSysctlIn(netns: string, parts: string[], value: string): void {
  const bad = parts.find((p) => p === '' || p === '.' || p === '..' || p.includes('/'));
  if (bad !== undefined) throw new Error(`refusing sysctl path part ${JSON.stringify(bad)} (this is a bug in weft: report it)`);
  const key = `net/${parts.join('/')}`;
  if (IN_PROCESS) {
    inNamespace(netns, () => ensureFile(`/proc/sys/${key}`, value));
    return;
  }
  const child = childProcess().spawnSync('nsenter', [`--net=${netns}`, '--', 'sysctl', '-q', '-w', `${key}=${value}`], { encoding: 'utf8' });
  if (child.error) throw new Error(`cannot run nsenter: ${child.error.message}: install util-linux and procps`, { cause: child.error });
  if (child.status !== 0) throw new Error(`sysctl -w ${key}=${value} in ${netns}: ${child.stderr.trim() || `exit ${child.status}`}`);
}
