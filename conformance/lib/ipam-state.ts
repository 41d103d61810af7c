// White-box fallback for proving an address was released, for confs whose
// IPAM keeps host-local's on-disk format: under <ipam.dataDir>/<network>/ one
// file per reserved address, named by the address and starting with the
// holder's container ID.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isObject } from './json.ts';
import type { NetworkConfig } from './network-config.ts';

// Where host-local (and allocators that copy it) keep their state when the conf names no dataDir.
const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
const ALLOCATION_CURSOR = /^last_reserved_ip\.\d+$/;

/** Every plugin's IPAM data dir, the default for an ipam section that names none. */
export function ipamDataDirs(net: NetworkConfig): string[] {
  const dirs = net.plugins.flatMap((plugin) => {
    if (!isObject(plugin.ipam)) return [];
    return [typeof plugin.ipam.dataDir === 'string' ? plugin.ipam.dataDir : DEFAULT_DATA_DIR];
  });
  return [...new Set(dirs)];
}

/** host-local's last_reserved_ip.N: where the next search starts, not a reservation, so ADD and DEL may move it. */
export function isAllocationCursor(fileName: string): boolean {
  return ALLOCATION_CURSOR.test(fileName);
}

/** The reservation directory, when a plugin's ipam names a dataDir. */
export function reservationDir(net: NetworkConfig): string | undefined {
  for (const plugin of net.plugins) {
    if (isObject(plugin.ipam) && typeof plugin.ipam.dataDir === 'string') return join(plugin.ipam.dataDir, net.name);
  }
  return undefined;
}

/** Container ID holding `address` (bare IP), or undefined when it is not reserved. */
export function reservationHolder(dir: string, address: string): string | undefined {
  try {
    return readFileSync(join(dir, address), 'utf8').split(/\r?\n/)[0]?.trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Addresses still reserved for any of `containerIds`. */
export function addressesHeldBy(dir: string, containerIds: ReadonlySet<string>): string[] {
  return (entriesOf(dir) ?? []).filter((name) => {
    const holder = reservationHolder(dir, name);
    return holder !== undefined && containerIds.has(holder);
  });
}

/** The names in `dir`, or undefined when there is no such directory. */
export function entriesOf(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
