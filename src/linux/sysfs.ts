// Link facts from /sys/class/net: plain file reads, so the plugin learns
// whether its bridge exists without spawning `ip` (a process per pod
// operation saved). sysfs shows the network namespace it was mounted in,
// which for the plugin is the node's.
import { files } from './files.ts';

export type SysfsLink = { name: string; isBridge: boolean; up: boolean; mtu: number; mac: string };

const IFF_UP = 0x1;

export function readSysfsLink(name: string): SysfsLink | undefined {
  const dir = `/sys/class/net/${name}`;
  try {
    const fs = files();
    const read = (file: string) => fs.readText(`${dir}/${file}`).trim();
    return {
      name,
      isBridge: fs.exists(`${dir}/bridge`),
      up: (Number.parseInt(read('flags'), 16) & IFF_UP) !== 0,
      mtu: Number(read('mtu')),
      mac: read('address'),
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function linkExists(name: string): boolean {
  return files().exists(`/sys/class/net/${name}`);
}
